/**
 * Helpers for the TornadIO2-layer tests: a `SocketServer` (with its `SocketRouter`) on
 * 127.0.0.1, port 0; the stock `socket.io-client` as the oracle, each client on its own
 * connection (`forceNew`); promise helpers that time out so a broken test fails fast; and a
 * cleanup after every test (clients disconnected, servers closed, log sink restored), so a test
 * file always exits by itself.
 */
import type { RequestListener } from 'node:http';
import { afterEach } from 'node:test';
import { io, type Manager, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { SocketRouter, SocketServer, setLogSink, type ConnectionClass, type LogSink, type RouterSettings } from 'mojo-ts';

export type { ClientSocket };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** How long any awaited event may take before the test fails. */
export const TIMEOUT = 3000;

export interface Started {
  router: SocketRouter;
  server: SocketServer;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
}

const servers = new Set<SocketServer>();
const clients = new Set<ClientSocket>();
const managers = new Set<Manager>();
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
  clients.add(socket);
  managers.add(socket.io);
  return socket;
}

/** Resolves with `socket` once it connects; rejects with its `connect_error`. */
export function connected(socket: ClientSocket, ms = TIMEOUT): Promise<ClientSocket> {
  if (socket.connected) return Promise.resolve(socket);
  let onConnect!: () => void;
  let onError!: (err: Error) => void;
  const promise = new Promise<ClientSocket>((resolve, reject) => {
    onConnect = () => resolve(socket);
    onError = (err) => reject(err);
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
  return withTimeout(promise, "connect", ms).finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
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

/** Anything with `on`/`off`: client sockets, managers, node emitters (loosely typed on purpose). */
interface Listenable {
  on(event: any, listener: any): unknown;
  off(event: any, listener?: any): unknown;
}

/** The arguments of the next `event` of `emitter`; rejects after `ms`. */
export function once<T extends unknown[] = any[]>(emitter: Listenable, event: string, ms = TIMEOUT): Promise<T> {
  let listener!: (...args: any[]) => void;
  const promise = new Promise<T>((resolve) => {
    listener = (...args: any[]) => resolve(args as T);
    emitter.on(event, listener);
  });
  return withTimeout(promise, `event "${event}"`, ms).finally(() => emitter.off(event, listener));
}

/** The first `count` emissions of `event`, each as its argument list. */
export function collect<T extends unknown[] = any[]>(emitter: Listenable, event: string, count: number, ms = TIMEOUT): Promise<T[]> {
  const seen: T[] = [];
  let listener!: (...args: any[]) => void;
  const promise = new Promise<T[]>((resolve) => {
    listener = (...args: any[]) => {
      seen.push(args as T);
      if (seen.length === count) resolve(seen);
    };
    emitter.on(event, listener);
  });
  return withTimeout(promise, `${count} "${event}" events`, ms, () => `got ${JSON.stringify(seen).slice(0, 300)}`).finally(() => emitter.off(event, listener));
}

/** Resolves after `ms` if `event` did not happen, rejects if it did: proves something does NOT happen. */
export function expectNoEvent(emitter: Listenable, event: string, ms = 150): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      emitter.off(event, listener);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args).slice(0, 200)}`));
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      resolve();
    }, ms);
    emitter.on(event, listener);
  });
}

/**
 * The arguments of an event without the recovery offset socket.io-client receives last while
 * recovery is on (the router's default); asserts that the offset is there.
 */
export function dropOffset(args: readonly unknown[]): unknown[] {
  if (typeof args.at(-1) !== 'string') throw new Error(`expected a trailing recovery offset in ${JSON.stringify(args)}`);
  return args.slice(0, -1);
}

/** An emit that asks for an ack, as a promise of the ack's arguments. */
export function ask<T extends unknown[] = any[]>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => socket.emit(event, ...args, (...reply: unknown[]) => resolve(reply as T))),
    `ack of "${event}"`,
  );
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT, detail?: () => string): Promise<T> {
  let timer!: NodeJS.Timeout;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail ? ` (${detail()})` : ''}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
  for (const socket of clients) socket.disconnect();
  for (const manager of managers) {
    manager.reconnection(false);
    manager.engine?.close();
  }
  clients.clear();
  managers.clear();
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
