import type { IncomingMessage } from 'node:http';
import { resolveOptions, type OptionSchema } from '../util/options.ts';
import { EngineError } from './errors.ts';

export type TransportName = 'polling' | 'websocket';

/**
 * Which cross-origin pages may open a session. Cookies authenticate sockets, so by default only
 * pages of the same origin (the `Origin` header's host equals the `Host` header) are let in;
 * requests without an `Origin` (non-browser clients) are never refused for it.
 * - `'*'`: any origin (and CORS answers echo it, with credentials)
 * - a list of origins such as `'https://app.example.com'`
 * - a function deciding per request
 */
export type AllowedOrigins = '*' | readonly string[] | ((origin: string, req: IncomingMessage) => boolean);

/** `true` lets the request in; `false` or a string (the reason, logged) refuses it with 403. */
export type AllowRequest = (req: IncomingMessage) => boolean | string | Promise<boolean | string>;

export interface EngineOptions {
  /**
   * URL path the server answers under; it always ends with `/`.
   * @default '/engine.io/'
   */
  path?: string;
  /**
   * Milliseconds between two pings from the server.
   * @default 25000
   */
  pingInterval?: number;
  /**
   * Milliseconds a client has to answer a ping before its session is closed (`'ping timeout'`).
   * @default 20000
   */
  pingTimeout?: number;
  /**
   * Largest message or polling body accepted from a client, in bytes; also sent to the client in
   * the handshake so it batches below it. Larger input: 413 on polling, the socket closed on websocket.
   * @default 1000000
   */
  maxPayload?: number;
  /**
   * Most bytes of unsent output one client may have queued before it is disconnected
   * (`'buffer overflow'`): a client that does not read cannot grow the server's memory without bound.
   * @default 4194304
   */
  maxBufferedBytes?: number;
  /**
   * Milliseconds a started transport upgrade may take before it is dropped.
   * @default 10000
   */
  upgradeTimeout?: number;
  /**
   * Transports clients may use.
   * @default ['polling', 'websocket']
   */
  transports?: readonly TransportName[];
  /**
   * Whether a polling session may upgrade to websocket.
   * @default true
   */
  allowUpgrades?: boolean;
  /**
   * Which foreign origins may connect (see {@link AllowedOrigins}).
   * @default [] (same origin only)
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * A last check on every handshake (both transports), after the origin check.
   * @default null (every request is let in)
   */
  allowRequest?: AllowRequest | null;
  /**
   * Refuse (403) polling requests and upgrades of a session that come from another IP address than
   * the one that opened it (TornadIO2's `verify_remote_ip`). Leave off behind proxies that spread a
   * client over several addresses.
   * @default false
   */
  verifyRemoteIp?: boolean;
  /**
   * Longest time, in ms, a long-polling GET is held open with nothing to send before it is answered
   * with a noop (TornadIO2's `xhr_polling_timeout`); 0 holds it until there is data or a ping.
   * @default 0
   */
  maxPollDuration?: number;
  /**
   * Keep the handshake's headers on the session (`socket.handshake.headers`) for the layers above.
   * @default true
   */
  keepHeaders?: boolean;
}

export type ResolvedEngineOptions = Readonly<Required<EngineOptions>>;

export const ENGINE_DEFAULTS: Required<EngineOptions> = {
  path: '/engine.io/',
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxPayload: 1_000_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  upgradeTimeout: 10_000,
  transports: ['polling', 'websocket'],
  allowUpgrades: true,
  allowedOrigins: [],
  allowRequest: null,
  keepHeaders: true,
  verifyRemoteIp: false,
  maxPollDuration: 0,
};

const TIMER_MAX = 2 ** 31 - 1;

export const ENGINE_SCHEMA: OptionSchema<EngineOptions> = {
  path: { kind: 'string', pattern: /^\/[^?#\s]*$/, hint: 'a URL path starting with "/"' },
  pingInterval: { kind: 'number', min: 1, max: TIMER_MAX, integer: true },
  pingTimeout: { kind: 'number', min: 1, max: TIMER_MAX, integer: true },
  maxPayload: { kind: 'number', min: 1, integer: true },
  maxBufferedBytes: { kind: 'number', min: 1, integer: true },
  upgradeTimeout: { kind: 'number', min: 1, max: TIMER_MAX, integer: true },
  transports: {
    kind: 'custom',
    check: (value) =>
      Array.isArray(value) && value.length > 0 && value.every((t) => t === 'polling' || t === 'websocket')
        ? undefined
        : 'must be a non-empty list of "polling" and "websocket"',
  },
  allowUpgrades: { kind: 'boolean' },
  allowedOrigins: {
    kind: 'custom',
    check: (value) =>
      value === '*' || typeof value === 'function' || (Array.isArray(value) && value.every(isOrigin))
        ? undefined
        : 'must be "*", a function, or a list of origins like "https://example.com"',
  },
  allowRequest: {
    kind: 'custom',
    check: (value) => (value === null || typeof value === 'function' ? undefined : 'must be a function'),
  },
  keepHeaders: { kind: 'boolean' },
  verifyRemoteIp: { kind: 'boolean' },
  maxPollDuration: { kind: 'number', min: 0, max: TIMER_MAX, integer: true },
};

function isOrigin(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return new URL(value).origin === value.replace(/\/$/, '').toLowerCase();
  } catch {
    return false;
  }
}

/** Checks and completes Engine.IO options; throws `EngineError` naming a bad key. */
export function resolveEngineOptions(given: EngineOptions | undefined): ResolvedEngineOptions {
  const options = resolveOptions('engine', ENGINE_SCHEMA, ENGINE_DEFAULTS, given, (m) => new EngineError('ERR_ENGINE_OPTION', m));
  const path = options.path.endsWith('/') ? options.path : `${options.path}/`;
  const allowedOrigins = Array.isArray(options.allowedOrigins)
    ? options.allowedOrigins.map((o: string) => o.replace(/\/$/, '').toLowerCase())
    : options.allowedOrigins;
  return Object.freeze({ ...options, path, allowedOrigins });
}
