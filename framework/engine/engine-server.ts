import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../util/logger.ts';
import { randomId } from '../util/random-id.ts';
import { EngineSocket, heartbeatQueues, heldPollQueue, type EngineHandshake, type EngineSocketOwner, type Sid } from './engine-socket.ts';
import { ENGINE_HTTP_ERROR_MESSAGES, EngineError, EngineHttpError } from './errors.ts';
import { resolveEngineOptions, type EngineOptions, type ResolvedEngineOptions, type TransportName } from './options.ts';
import { PollingTransport } from './transports/polling.ts';
import { SessionWebSocket, WebSocketTransport, acceptPlainHandshake } from './transports/websocket.ts';

const log = createLogger('engine');

export interface EngineServerEvents {
  connection: [socket: EngineSocket];
  /** A handshake was refused; `code` is an {@link EngineHttpError}. */
  connection_error: [info: { req: IncomingMessage; code: EngineHttpError; message: string }];
}

type Query = Record<string, string>;

const NO_HEADERS = Object.freeze({});

/**
 * An Engine.IO v4 server: long-polling and websocket transports, the upgrade between them,
 * heartbeats, limits, and the origin policy. It attaches to any `http.Server` and shares its port.
 * @example
 * const engine = new EngineServer({ path: '/engine.io/' }).attach(httpServer);
 * engine.on('connection', (socket) => { socket.listener = { onMessage: (m) => socket.send(m), onClose() {} }; });
 */
export class EngineServer extends EventEmitter<EngineServerEvents> implements EngineSocketOwner {
  readonly options: ResolvedEngineOptions;
  readonly clients = new Map<Sid, EngineSocket>();
  /** Running totals for statistics; cheap increments on the hot path. */
  readonly counters = { sessionsOpened: 0, maxSessions: 0, packetsSent: 0, packetsReceived: 0 };
  /** Every session's heartbeat, on two timers (see {@link heartbeatQueues}). */
  readonly heartbeats: EngineSocketOwner['heartbeats'];
  /** Held GETs with nothing to send (see {@link heldPollQueue}). */
  readonly heldPolls: EngineSocketOwner['heldPolls'];
  private readonly wss: WebSocketServer;
  private httpServer: HttpServer | null = null;
  private detach: (() => void) | null = null;
  private closed = false;

  constructor(options?: EngineOptions) {
    super();
    this.options = resolveEngineOptions(options);
    this.heartbeats = heartbeatQueues(this.options);
    this.heldPolls = heldPollQueue(this.options);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: SessionWebSocket,
    });
  }

  get clientsCount(): number {
    return this.clients.size;
  }

  /** True when `url` is under this server's path. */
  matches(url: string | undefined): boolean {
    if (!url) return false;
    const path = this.options.path;
    return url.startsWith(path) || url === path.slice(0, -1) || url.startsWith(path.slice(0, -1) + '?');
  }

  /**
   * Serves this server's path on `server`: requests and upgrades under it are ours, everything
   * else goes to the listeners the server already had (an express app, say). `intercept` sees
   * requests under the path first and returns true for those it answered itself.
   */
  attach(server: HttpServer, intercept?: (req: IncomingMessage, res: ServerResponse) => boolean): this {
    if (this.closed) throw new EngineError('ERR_ENGINE_CLOSED', 'this EngineServer was closed; create a new one');
    if (this.httpServer) throw new EngineError('ERR_ENGINE_ATTACHED', 'this EngineServer is already attached to an HTTP server');
    this.httpServer = server;
    const previous = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (this.matches(req.url)) {
        if (!intercept?.(req, res)) this.handleRequest(req, res);
      } else for (const listener of previous) listener.call(server, req, res);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.matches(req.url)) {
        this.handleUpgrade(req, socket, head);
        return;
      }
      // Another listener may own this path; if nobody answers, do not leave the socket hanging.
      setTimeout(() => {
        if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) socket.destroy();
      }, 1000).unref();
    };
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
    server.once('close', () => this.close());
    this.detach = () => {
      server.off('request', onRequest);
      server.off('upgrade', onUpgrade);
      for (const listener of previous) server.on('request', listener);
    };
    return this;
  }

  /** Handles an HTTP request under this server's path (polling, preflight). */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) {
      // A host routing requests here by hand after close(): no session may start again.
      this.refuse(req, res, EngineHttpError.BAD_REQUEST, NO_HEADERS);
      return;
    }
    const cors = this.corsHeaders(req);
    if (cors === null) {
      this.refuse(req, res, EngineHttpError.FORBIDDEN, NO_HEADERS);
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'content-type',
        'Access-Control-Max-Age': '86400',
      });
      res.end();
      return;
    }
    const query = parseQuery(req.url);
    const problem = this.verify(req, query, false);
    if (problem !== undefined) {
      this.refuse(req, res, problem, cors);
      return;
    }
    if (query.sid !== undefined) {
      this.clients.get(query.sid)!.onPollingRequest(req, res);
      return;
    }
    this.checkAllowRequest(req, (allowed) => {
      if (!allowed) {
        this.refuse(req, res, EngineHttpError.FORBIDDEN, cors);
        return;
      }
      const transport = new PollingTransport(cors);
      const socket = this.open(req, query, transport);
      // The handshake GET carries the open packet and nothing else.
      res.writeHead(200, { ...cors, 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end(socket.openPacket());
      this.announce(socket);
    });
  }

  /** Handles an HTTP upgrade under this server's path: a websocket handshake or an upgrade probe. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      this.abortUpgrade(req, socket, EngineHttpError.BAD_REQUEST);
      return;
    }
    if (this.corsHeaders(req) === null) {
      this.abortUpgrade(req, socket, EngineHttpError.FORBIDDEN);
      return;
    }
    const query = parseQuery(req.url);
    const problem = this.verify(req, query, true);
    if (problem !== undefined) {
      this.abortUpgrade(req, socket, problem);
      return;
    }
    if (query.sid !== undefined) {
      const client = this.clients.get(query.sid)!;
      this.wss.handleUpgrade(req, socket, head, (ws) => client.beginUpgrade(new WebSocketTransport(ws as SessionWebSocket)));
      return;
    }
    if (this.options.allowRequest === null) {
      this.openWebSocket(req, socket, head, query);
      return;
    }
    // The hook may answer later. Node's HTTP server stopped listening for errors on an upgraded
    // socket and ws has not taken it yet: until one of us ends it or ws does, its errors are ours.
    // (A module-level listener: a closure here would keep `req` alive as long as the connection.)
    socket.on('error', onUpgradeSocketError);
    this.checkAllowRequest(req, (allowed) => {
      if (!allowed) {
        this.abortUpgrade(req, socket, EngineHttpError.FORBIDDEN);
        return;
      }
      socket.off('error', onUpgradeSocketError); // ws listens from here on
      this.openWebSocket(req, socket, head, query);
    });
  }

  /**
   * Completes a websocket handshake and opens a session on it. The usual handshake is answered
   * by {@link acceptPlainHandshake}, any other by ws. Both answer synchronously, so corking the
   * socket sends the 101 response and our open packet in one write.
   */
  private openWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, query: Query): void {
    socket.cork();
    try {
      const ws = acceptPlainHandshake(this.wss, req, socket, head);
      if (ws) this.openOn(req, query, ws);
      else this.wss.handleUpgrade(req, socket, head, (upgraded) => this.openOn(req, query, upgraded as SessionWebSocket));
    } finally {
      socket.uncork();
    }
  }

  /** Opens a session on a websocket just accepted, and sends it the open packet. */
  private openOn(req: IncomingMessage, query: Query, ws: SessionWebSocket): void {
    const transport = new WebSocketTransport(ws);
    const session = this.open(req, query, transport);
    transport.send(session.openPacket());
    this.announce(session);
  }

  /** Closes every session and stops serving. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of [...this.clients.values()]) socket.close('server shutting down');
    this.heartbeats.pings.clear();
    this.heartbeats.pongs.clear();
    this.heldPolls?.clear();
    this.detach?.();
    this.detach = null;
    this.wss.close();
  }

  /** @internal Called by a session when it ends. */
  forget(socket: EngineSocket): void {
    if (this.clients.get(socket.id) === socket) this.clients.delete(socket.id);
  }

  // ---- policy ---------------------------------------------------------------------------------

  /**
   * The CORS headers for `req`, `{}` when none are needed, or `null` when its origin is refused.
   * Same-origin requests and requests without `Origin` (non-browser clients) always pass.
   */
  corsHeaders(req: IncomingMessage): Record<string, string> | null {
    const origin = req.headers.origin;
    if (origin === undefined) return NO_HEADERS;
    if (isSameOrigin(origin, req.headers.host)) return NO_HEADERS;
    const allowed = this.options.allowedOrigins;
    const ok =
      allowed === '*' ||
      (typeof allowed === 'function' ? safeCall(() => allowed(origin, req)) : allowed.includes(origin.toLowerCase()));
    if (!ok) return null;
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
  }

  private verify(req: IncomingMessage, query: Query, upgrade: boolean): EngineHttpError | undefined {
    const transport = query.transport as TransportName | undefined;
    if (transport === undefined || !this.options.transports.includes(transport)) return EngineHttpError.UNKNOWN_TRANSPORT;
    if (upgrade !== (transport === 'websocket')) return EngineHttpError.BAD_REQUEST;
    const sid = query.sid;
    if (sid !== undefined) {
      const client = this.clients.get(sid);
      // A closing session still takes its next GET: that is how the client learns it is over.
      if (!client || client.readyState === 'closed' || (client.readyState === 'closing' && (upgrade || req.method !== 'GET'))) {
        return EngineHttpError.UNKNOWN_SID;
      }
      if (this.options.verifyRemoteIp && client.handshake.address !== (req.socket.remoteAddress ?? '')) return EngineHttpError.FORBIDDEN;
      if (upgrade) return this.options.allowUpgrades ? undefined : EngineHttpError.BAD_REQUEST;
      // Polling with the sid of a session that moved to websocket: the transports do not match.
      return client.transport.name === 'polling' ? undefined : EngineHttpError.BAD_REQUEST;
    }
    if (req.method !== 'GET') return EngineHttpError.BAD_HANDSHAKE_METHOD;
    if (query.EIO !== '4') return EngineHttpError.UNSUPPORTED_PROTOCOL_VERSION;
    return undefined;
  }

  private checkAllowRequest(req: IncomingMessage, then: (allowed: boolean) => void): void {
    const hook = this.options.allowRequest;
    if (!hook) {
      then(true);
      return;
    }
    const decide = (verdict: boolean | string) => {
      if (verdict !== true) log.info(`handshake refused by allowRequest${typeof verdict === 'string' ? `: ${verdict}` : ''}`);
      then(verdict === true);
    };
    try {
      const verdict = hook(req);
      if (verdict instanceof Promise) {
        verdict.then(decide, (err: unknown) => {
          log.error('allowRequest threw; refusing the handshake', err);
          then(false);
        });
      } else {
        decide(verdict);
      }
    } catch (err) {
      log.error('allowRequest threw; refusing the handshake', err);
      then(false);
    }
  }

  // ---- sessions -------------------------------------------------------------------------------

  private open(req: IncomingMessage, query: Query, transport: PollingTransport | WebSocketTransport): EngineSocket {
    const handshake: EngineHandshake = {
      headers: this.options.keepHeaders ? req.headers : NO_HEADERS,
      query,
      address: req.socket.remoteAddress ?? '',
      secure: Boolean((req.socket as { encrypted?: boolean }).encrypted),
      url: req.url ?? '',
      time: Date.now(),
    };
    const socket = new EngineSocket(newSid(), this, transport, handshake);
    this.clients.set(socket.id, socket);
    this.counters.sessionsOpened++;
    if (this.clients.size > this.counters.maxSessions) this.counters.maxSessions = this.clients.size;
    if (log.debugEnabled) log.debug(`session ${socket.id} opened over ${transport.name}`);
    return socket;
  }

  private announce(socket: EngineSocket): void {
    this.emit('connection', socket);
  }

  private refuse(req: IncomingMessage, res: ServerResponse, code: EngineHttpError, cors: Record<string, string>): void {
    const message = ENGINE_HTTP_ERROR_MESSAGES[code];
    this.emit('connection_error', { req, code, message });
    const body = JSON.stringify({ code, message });
    res.writeHead(code === EngineHttpError.FORBIDDEN ? 403 : 400, {
      ...cors,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  private abortUpgrade(req: IncomingMessage, socket: Duplex, code: EngineHttpError): void {
    if (socket.listeners('error').indexOf(onUpgradeSocketError) === -1) socket.on('error', onUpgradeSocketError);
    const message = ENGINE_HTTP_ERROR_MESSAGES[code];
    this.emit('connection_error', { req, code, message });
    if (!socket.writable) return;
    const status = code === EngineHttpError.FORBIDDEN ? '403 Forbidden' : '400 Bad Request';
    socket.end(
      `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
    );
  }
}

function onUpgradeSocketError(err: Error): void {
  log.debug(`upgrade socket error: ${err.message}`);
}

function newSid(): Sid {
  return randomId();
}

/**
 * Query objects inherit nothing: a parameter named "__proto__" or "toString" is just a parameter.
 * Their prototype is an empty, frozen object without a prototype, rather than none at all: V8
 * keeps an `Object.create(null)` object in dictionary mode, a heavier shape every session kept.
 */
const QueryObject = function QueryObject() {} as unknown as new () => Query;
QueryObject.prototype = Object.freeze(Object.create(null));

/** First value of each query parameter of `url`. */
export function parseQuery(url: string | undefined): Query {
  const query = new QueryObject();
  if (!url) return query;
  const start = url.indexOf('?');
  if (start === -1) return query;
  // URLSearchParams drops one more leading "?" ("/p??a=1" is {a: "1"}).
  const search = url.charCodeAt(start + 1) === 0x3f ? url.slice(start + 2) : url.slice(start + 1);
  if (search.includes('%') || search.includes('+')) {
    // Something to decode: URLSearchParams' rules (`+` is a space, bad escapes are kept as they are).
    for (const [key, value] of new URLSearchParams(url.slice(start + 1))) if (!(key in query)) query[key] = value;
    return query;
  }
  // The usual handshake (`EIO=4&transport=websocket`): plain pairs, nothing to decode.
  let from = 0;
  while (from <= search.length) {
    let to = search.indexOf('&', from);
    if (to === -1) to = search.length;
    if (to > from) {
      const eq = search.indexOf('=', from);
      const key = eq === -1 || eq > to ? search.slice(from, to) : search.slice(from, eq);
      if (!(key in query)) query[key] = eq === -1 || eq > to ? '' : search.slice(eq + 1, to);
    }
    from = to + 1;
  }
  return query;
}

function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function safeCall(fn: () => boolean): boolean {
  try {
    return fn() === true;
  } catch (err) {
    log.error('allowedOrigins function threw; refusing the origin', err);
    return false;
  }
}
