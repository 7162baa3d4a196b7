import type { AddressInfo } from 'node:net';
import type { RequestListener, Server as HttpServer } from 'node:http';
import { SocketRouter } from './socket-router.ts';
import { RealtimeError } from './errors.ts';

export interface SocketServerOptions {
  /** The router whose connections this server serves. */
  router: SocketRouter;
  /** Port to listen on; 0 picks a free one. @default 8001 (TornadIO2's `socket_io_port`) */
  port?: number;
  /** Address to listen on. @default all interfaces */
  host?: string;
}

/**
 * Starts an HTTP server for `app` with a router attached, in one call (TornadIO2's `SocketServer`).
 * @example
 * const server = new SocketServer(express(), { router: new SocketRouter(Root), port: 8001 });
 * await server.ready;
 */
export class SocketServer {
  readonly http: HttpServer;
  readonly router: SocketRouter;
  /** Resolves with the address once listening; rejects if the port cannot be used. */
  readonly ready: Promise<AddressInfo>;

  constructor(app: RequestListener | undefined, options: SocketServerOptions) {
    if (!options || !(options.router instanceof SocketRouter)) {
      throw new RealtimeError('ERR_REALTIME_OPTION', 'SocketServer needs { router: new SocketRouter(YourConnection) }');
    }
    const port = options.port ?? 8001;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RealtimeError('ERR_REALTIME_OPTION', `SocketServer option "port" must be a port number, got ${String(port)}`);
    this.router = options.router;
    this.http = this.router.attach(app ?? ((_req, res) => res.writeHead(404).end()));
    this.ready = new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.http.once('error', onError);
      this.http.listen(port, options.host, () => {
        this.http.off('error', onError);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Closes every connection, then the HTTP server. */
  close(): Promise<void> {
    this.router.close();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
