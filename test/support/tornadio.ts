/**
 * Helpers for the TornadIO2-layer tests: a `SocketServer` (with its `SocketRouter`) on
 * 127.0.0.1, port 0; the stock `socket.io-client` as the oracle, each client on its own
 * connection (`forceNew`); promise helpers that time out so a broken test fails fast; and a
 * cleanup after every test (clients disconnected, servers closed, log sink restored), so a test
 * file always exits by itself.
 */
import type { RequestListener } from 'node:http';
import { afterEach } from 'node:test';
import { io, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { SocketRouter, SocketServer, setLogSink, type ConnectionClass, type LogSink, type RouterSettings } from 'mojo-ts';
import { ClientRegistry } from './clients.ts';
import { TIMEOUT, ask, collect, connected, expectNoEvent, once, withTimeout } from './wait.ts';

export type { ClientSocket };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

export { TIMEOUT, ask, collect, connected, expectNoEvent, once, withTimeout };

export interface Started {
  router: SocketRouter;
  server: SocketServer;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
}

const servers = new Set<SocketServer>();
const clients = new ClientRegistry();
let restoreSink: LogSink | null = null;

/** A router for `Root` with `settings`, served by a `SocketServer` on `host` (127.0.0.1), port 0. */
export async function startTornadio(Root: ConnectionClass, settings?: RouterSettings, app?: RequestListener, host = '127.0.0.1'): Promise<Started> {
  const router = new SocketRouter(Root, settings);
  const server = new SocketServer(app, { router, port: 0, host });
  servers.add(server);
  const { port } = await withTimeout(server.ready, 'SocketServer.ready');
  return { router, server, port, url: `http://127.0.0.1:${port}` };
}

/**
 * A `socket.io-client` socket for `url` (an endpoint is its path) on its own connection, with
 * no reconnection unless asked; disconnected after the test.
 */
export function client(url: string, options: ClientOptions = {}): ClientSocket {
  return track(io(url, { forceNew: true, reconnection: false, timeout: TIMEOUT, ...options }));
}

/** Registers a socket made another way (`manager.socket('/chat')`) for cleanup. */
export function track(socket: ClientSocket): ClientSocket {
  return clients.track(socket);
}

/** Resolves with the `connect_error` of `socket`; fails if it connects instead. */
export async function refused(socket: ClientSocket, ms = TIMEOUT): Promise<Error> {
  try {
    await connected(socket, ms);
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith('timed out')) return err;
    throw err;
  }
  throw new Error("the client connected but should have been refused");
}

/** Connects a new client to `url` and waits for it. */
export function connect(url: string, options: ClientOptions = {}): Promise<ClientSocket> {
  return connected(client(url, options));
}

/**
 * The arguments of an event without the recovery offset socket.io-client receives last while
 * recovery is on (the router's default); asserts that the offset is there.
 */
export function dropOffset(args: readonly unknown[]): unknown[] {
  if (typeof args.at(-1) !== 'string') throw new Error(`expected a trailing recovery offset in ${JSON.stringify(args)}`);
  return args.slice(0, -1);
}

/** A promise settled from outside: for a server-side hook to tell the test it ran. */
export interface Signal<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  /** `promise` with a timeout naming `what`. */
  wait(what: string, ms?: number): Promise<T>;
}

export function signal<T = void>(): Signal<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve, wait: (what, ms = TIMEOUT) => withTimeout(promise, what, ms) };
}

export interface LogLine {
  level: string;
  scope: string;
  message: string;
  extra: unknown[];
}

/** Sends the framework's log lines to an array for this test (restored after it). */
export function captureLogs(): LogLine[] {
  const lines: LogLine[] = [];
  const previous = setLogSink((level, scope, message, extra) => lines.push({ level, scope, message, extra }));
  restoreSink ??= previous;
  return lines;
}

/** Disconnects every client and closes every server of the test. */
export async function cleanup(): Promise<void> {
  clients.disconnectAll();
  const closing = [...servers].map((server) => {
    // A polling session caught between two polls would outlive close() by pingTimeout.
    const sessions = [...server.router.io.engine.clients.values()];
    const closed = server.close();
    for (const session of sessions) session.end('server shutting down');
    return closed;
  });
  servers.clear();
  await Promise.all(closing);
  if (restoreSink) {
    setLogSink(restoreSink);
    restoreSink = null;
  }
}

afterEach(cleanup);
