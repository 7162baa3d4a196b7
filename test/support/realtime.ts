/**
 * Shared helpers for the realtime tests: a `RealtimeServer` on a real `node:http` server on port 0,
 * the stock `socket.io-client` as the oracle, promise helpers that time out so a broken test fails
 * fast instead of hanging, and a cleanup run after every test (every client disconnected, every
 * server closed) so a test file always exits by itself.
 */
import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { afterEach } from 'node:test';
import { io as ioClient, type Manager, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { RealtimeServer, type RealtimeOptions, type Socket } from '../../framework/index.ts';

export type { ClientSocket };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** How long any awaited event may take before the test fails. */
export const TIMEOUT = 3000;

export interface TestServer {
  io: RealtimeServer;
  http: HttpServer;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Closes the realtime server and the HTTP server (idempotent). */
  close(): Promise<void>;
}

const servers = new Set<TestServer>();
const clients = new Set<ClientSocket>();
const managers = new Set<Manager>();

/**
 * A `RealtimeServer` attached to a fresh HTTP server listening on 127.0.0.1, port 0. Requests
 * outside the realtime path go to `onRequest` (404 by default).
 */
export async function startServer(options?: RealtimeOptions, onRequest?: RequestListener): Promise<TestServer> {
  const http = createServer(onRequest ?? ((_req, res) => res.writeHead(404).end()));
  // Every TCP connection, upgraded ones included, so close() can cut whatever is left.
  const connections = new Set<NetSocket>();
  http.on('connection', (socket: NetSocket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  const io = new RealtimeServer(options).attach(http);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  const server: TestServer = {
    io,
    http,
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        servers.delete(server);
        io.close();
        // Safety net: a session still closing (waiting for a poll that will never come) must
        // not keep the test process alive.
        for (const session of [...io.engine.clients.values()]) session.end('server shutting down');
        http.close(() => resolve());
        // Keep-alive polling connections, websockets and upgrade requests a test held back
        // would otherwise keep `close` waiting.
        for (const socket of connections) socket.destroy();
      })),
  };
  servers.add(server);
  return server;
}

/**
 * A `socket.io-client` socket for `url` (a namespace is its path), its own connection
 * (`forceNew`) and no reconnection unless asked; it is disconnected after the test. Its timers
 * are unref'd (`autoUnref`): a client a test left unable to close (its polling paused, say)
 * cannot keep the test process alive.
 */
export function connect(url: string, options: ClientOptions = {}): ClientSocket {
  const socket = ioClient(url, { forceNew: true, reconnection: false, timeout: TIMEOUT, autoUnref: true, ...options });
  return track(socket);
}

/** Registers a client socket created some other way (`manager.socket('/nsp')`) for cleanup. */
export function track(socket: ClientSocket): ClientSocket {
  clients.add(socket);
  managers.add(socket.io);
  return socket;
}

/** Resolves when `socket` connects; rejects with the `connect_error` if it is refused. */
export function connected(socket: ClientSocket, ms = TIMEOUT): Promise<ClientSocket> {
  if (socket.connected) return Promise.resolve(socket);
  return withTimeout(
    new Promise<ClientSocket>((resolve, reject) => {
      const onConnect = () => {
        socket.off('connect_error', onError);
        resolve(socket);
      };
      const onError = (err: Error) => {
        socket.off('connect', onConnect);
        reject(err);
      };
      socket.once('connect', onConnect);
      socket.once('connect_error', onError);
    }),
    'connect',
    ms,
  );
}

export interface Pair {
  client: ClientSocket;
  /** The server's socket for `client` (same id). */
  socket: Socket;
}

/** Connects a client to namespace `nsp` of `server` and returns it with the server's socket for it. */
export async function connectPair(server: TestServer, options: ClientOptions = {}, nsp = '/'): Promise<Pair> {
  const client = await connected(connect(nsp === '/' ? server.url : server.url + nsp, options));
  // The server stores the socket before it sends CONNECT, so it is there once the client knows.
  const socket = server.io.of(nsp).sockets.get(client.id!);
  if (!socket) throw new Error(`no server socket ${client.id} in ${nsp}`);
  return { client, socket };
}

/** Anything with `on`/`off`: node emitters, socket.io-client sockets and managers, our sockets and namespaces. */
export interface Listenable {
  // `any`: the emitters type their event names and listeners each their own way.
  on(event: any, listener: any): unknown;
  off(event: any, listener?: any): unknown;
}

/** The arguments of the next `event` of `emitter`; rejects after `ms`. */
export function once<T extends unknown[] = any[]>(emitter: Listenable, event: string, ms = TIMEOUT): Promise<T> {
  let listener!: (...args: any[]) => void;
  const promise = new Promise<T>((resolve) => {
    listener = (...args: any[]) => {
      emitter.off(event, listener);
      resolve(args as T);
    };
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
  return withTimeout(promise, `${count} "${event}" events (got ${seen.length})`, ms, () => `got ${seen.length}: ${JSON.stringify(seen).slice(0, 300)}`).finally(() =>
    emitter.off(event, listener),
  );
}

/**
 * Resolves after `ms` if `event` did not happen, rejects if it did. The only bounded wait the
 * tests use: it proves something does NOT happen.
 */
export function expectNoEvent(emitter: Listenable, event: string, ms = 100): Promise<void> {
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

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT, detail?: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail ? ` (${detail()})` : ''}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once `condition()` holds, checking every few ms; for server state that has no event
 * (a count dropping to zero). Rejects after `ms`.
 */
export function waitFor(condition: () => boolean, what: string, ms = TIMEOUT): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() - started > ms) reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** An ack-style call on a client socket as a promise of the reply's arguments. */
export function emitWithReply<T extends unknown[] = any[]>(client: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => client.emit(event, ...args, (...reply: unknown[]) => resolve(reply as T))),
    `ack of "${event}"`,
  );
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
  await withTimeout(Promise.all([...servers].map((server) => server.close())), 'the test servers to close');
}

afterEach(cleanup);
