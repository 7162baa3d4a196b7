/**
 * What every part of the benchmark agrees on: the namespace and events all servers serve, the
 * heartbeat they all use, and the payloads the load generator sends. Imports nothing, so a server
 * that loads it carries no other code of ours.
 */

/** The one namespace every server serves (the Mojo app's channel name, `/<App>Socket`). */
export const NAMESPACE = '/BenchSocket';

/** Engine.IO heartbeat of every server: the protocol's defaults, the same everywhere. */
export const PING_INTERVAL = 25_000;
export const PING_TIMEOUT = 20_000;
export const MAX_PAYLOAD = 1_000_000;

/** What a client sends with `echo`, `fanout` and `ack`: a small JSON object, as a chat message. */
export const PAYLOAD = { user: 'bench', text: 'the quick brown fox jumps over the lazy dog', n: 42 };

/** The Mojo app's page that starts a session (one GET per client gets its `session_id` cookie). */
export const SESSION_PATH = '/bench/session';
