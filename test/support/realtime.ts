/**
 * Shared helpers for the realtime tests: a `RealtimeServer` on a real `node:http` server on port 0,
 * the stock `socket.io-client` as the oracle, promise helpers that time out so a broken test fails
 * fast instead of hanging, and a cleanup run after every test (every client disconnected, every
 * server closed) so a test file always exits by itself.
 */
import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { afterEach } from 'node:test';
import { io as ioClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { RealtimeServer, type RealtimeOptions, type Socket } from '../../framework/index.ts';
import { ClientRegistry } from './clients.ts';
import { TIMEOUT, ask, collect, connected, expectNoEvent as expectNoEventFor, once, waitFor, withTimeout, type Listenable } from './wait.ts';

export type { ClientSocket };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

export { TIMEOUT, ask as emitWithReply, collect, connected, once, waitFor, withTimeout, type Listenable };

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
const clients = new ClientRegistry();

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
  return clients.track(socket);
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

/** {@link expectNoEventFor} with this module's shorter default: resolves after 100 ms if `event` did not happen. */
export function expectNoEvent(emitter: Listenable, event: string, ms = 100): Promise<void> {
  return expectNoEventFor(emitter, event, ms);
}

/** Disconnects every client and closes every server of the test. */
export async function cleanup(): Promise<void> {
  clients.disconnectAll();
  await withTimeout(Promise.all([...servers].map((server) => server.close())), 'the test servers to close');
}

afterEach(cleanup);
