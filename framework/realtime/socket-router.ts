import { createServer, type IncomingMessage, type RequestListener, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createLogger } from '../util/logger.ts';
import { checkRule, describe, type OptionRule } from '../util/options.ts';
import { RealtimeError } from './errors.ts';
import type { ConnectRefusal, Namespace } from './namespace.ts';
import { RealtimeServer, type RealtimeOptions } from './realtime-server.ts';
import type { ConnectionClass, SocketConnection } from './socket-connection.ts';
import { StatsCollector } from './stats.ts';

const log = createLogger('realtime');

/**
 * Settings of a {@link SocketRouter}. TornadIO2's names are accepted where they still mean
 * something (in seconds, as TornadIO2 had them) and are mapped onto the protocol's options; the
 * protocol's own options (in ms) are accepted too, but not both names for one thing.
 */
export interface RouterSettings extends RealtimeOptions {
  /** Seconds between server pings → `pingInterval`. @default 25 */
  heartbeatInterval?: number;
  /** Seconds a client has to answer a ping → `pingTimeout`. @default 20 */
  clientTimeout?: number;
  /** Seconds a dropped client may come back and keep its state (recovery); 0 turns recovery off → `connectionStateRecovery.maxDisconnectionDuration`. @default 30 */
  sessionExpiry?: number;
  /** Seconds between sweeps of expired sessions (kept for compatibility: sweeps follow `sessionExpiry`). @default 15 */
  sessionCheckInterval?: number;
  /** Seconds a long-polling request is held with nothing to send → `maxPollDuration`. @default 20 */
  xhrPollingTimeout?: number;
  /** Transports: `'websocket'` and `'xhr-polling'` → `transports`. @default ['websocket', 'xhr-polling'] */
  enabledProtocols?: readonly ('websocket' | 'xhr-polling')[];
  /** Refuse requests of a session from another IP than the one that opened it → `verifyRemoteIp`. @default true */
  verifyRemoteIp?: boolean;
  /** URL prefix without slashes (TornadIO2's `namespace`) → `path` `/<namespace>/`. @default 'socket.io' */
  namespace?: string;
  /** Serve `stats.dump()` as JSON at this URL path (e.g. `'/stats'`); null for none. @default null */
  statsPath?: string | null;
}

const SECONDS: OptionRule = { kind: 'number', min: 0, max: 2_000_000, integer: false };
const POSITIVE_SECONDS: OptionRule = { kind: 'number', min: 0.001, max: 2_000_000 };

/** TornadIO2 setting → the option it becomes, how to convert it, and how to check it. */
const TORNADIO_SETTINGS: Record<string, { to: keyof RealtimeOptions; rule: OptionRule }> = {
  heartbeatInterval: { to: 'pingInterval', rule: POSITIVE_SECONDS },
  clientTimeout: { to: 'pingTimeout', rule: POSITIVE_SECONDS },
  sessionExpiry: { to: 'connectionStateRecovery', rule: SECONDS },
  xhrPollingTimeout: { to: 'maxPollDuration', rule: SECONDS },
  enabledProtocols: {
    to: 'transports',
    rule: {
      kind: 'custom',
      check: (v) =>
        Array.isArray(v) && v.length > 0 && v.every((p) => p === 'websocket' || p === 'xhr-polling')
          ? undefined
          : 'must be a non-empty list of "websocket" and "xhr-polling" (flashsocket, jsonp-polling and htmlfile no longer exist in the protocol)',
    },
  },
  namespace: { to: 'path', rule: { kind: 'string', pattern: /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, hint: 'a URL prefix without leading or trailing "/", like "socket.io"' } },
};

/** Turns router settings into realtime options; throws `ERR_REALTIME_OPTION` naming a bad key. */
export function mapRouterSettings(settings: RouterSettings = {}): { options: RealtimeOptions; statsPath: string | null } {
  const fail = (message: string) => new RealtimeError('ERR_REALTIME_OPTION', message);
  const options: Record<string, unknown> = {};
  const given = Object.entries(settings).filter(([, v]) => v !== undefined);
  let statsPath: string | null = null;
  let sessionExpiry = 30;
  for (const [key, value] of given) {
    if (key === 'statsPath') {
      if (value !== null && (typeof value !== 'string' || !value.startsWith('/'))) throw fail(`router setting "statsPath" must be a URL path starting with "/" or null, got ${describe(value)}`);
      statsPath = value as string | null;
      continue;
    }
    if (key === 'sessionCheckInterval') {
      const problem = checkRule(POSITIVE_SECONDS, value);
      if (problem) throw fail(`router setting "sessionCheckInterval" ${problem}, got ${describe(value)}`);
      continue;
    }
    const mapping = TORNADIO_SETTINGS[key];
    if (!mapping) {
      options[key] = value; // a protocol option: RealtimeServer checks it
      continue;
    }
    const problem = checkRule(mapping.rule, value);
    if (problem) throw fail(`router setting "${key}" ${problem}, got ${describe(value)}`);
    if (typeof value === 'number' && value > 0 && Math.round(value * 1000) === 0) {
      throw fail(`router setting "${key}" is in seconds and must be 0 or at least 0.001 (one millisecond), got ${value}`);
    }
    if (given.some(([other]) => other === mapping.to)) throw fail(`router settings "${key}" and "${mapping.to}" set the same thing; keep one`);
    switch (key) {
      case 'heartbeatInterval':
      case 'clientTimeout':
      case 'xhrPollingTimeout':
        options[mapping.to] = Math.round((value as number) * 1000);
        break;
      case 'sessionExpiry':
        sessionExpiry = value as number;
        break;
      case 'enabledProtocols':
        options.transports = (value as string[]).map((p) => (p === 'xhr-polling' ? 'polling' : 'websocket'));
        break;
      case 'namespace':
        options.path = `/${value as string}/`;
        break;
    }
  }
  if (!('connectionStateRecovery' in options)) {
    // onOpen must run again for a recovered connection: its instance fields are new.
    options.connectionStateRecovery = sessionExpiry > 0 ? { maxDisconnectionDuration: Math.round(sessionExpiry * 1000), skipMiddlewares: false } : false;
  }
  if (!('verifyRemoteIp' in options)) options.verifyRemoteIp = true;
  if (!('maxPollDuration' in options)) options.maxPollDuration = 20_000;
  return { options: options as RealtimeOptions, statsPath };
}

/**
 * Routes realtime connections to a `SocketConnection` class (TornadIO2's `TornadioRouter`): the
 * root class serves `/`, the classes in its `static endpoints` (or returned by `getEndpoint`)
 * serve their paths. Attach it to an HTTP server, or let {@link SocketServer} start one.
 * @example
 * const router = new SocketRouter(Root, { sessionExpiry: 30 });
 * router.attach(httpServer);
 */
export class SocketRouter {
  readonly io: RealtimeServer;
  readonly stats: StatsCollector;
  private readonly statsPath: string | null;
  private readonly mounted = new Set<Namespace>();

  constructor(
    readonly connection: ConnectionClass,
    settings?: RouterSettings,
  ) {
    if (typeof connection !== 'function' || !isConnectionClass(connection)) {
      throw new RealtimeError('ERR_REALTIME_OPTION', 'SocketRouter needs a SocketConnection subclass as its first argument');
    }
    const { options, statsPath } = mapRouterSettings(settings);
    this.statsPath = statsPath;
    this.io = new RealtimeServer(options);
    this.stats = new StatsCollector(this.io);
    this.mount('/', connection);
    for (const [path, cls] of Object.entries(connection.endpoints ?? {})) this.mount(path, cls);
    const prototype = connection.prototype as SocketConnection<any>;
    this.io.namespaceResolver = (name, client) => {
      const root = client.socketOf('/') as SocketConnection<any> | undefined;
      const cls = (root ?? prototype).getEndpoint(name);
      return cls ? this.mount(name, cls) : undefined;
    };
  }

  /**
   * Serves the router on `target`: an `http.Server`, or a request listener such as an express
   * app (an HTTP server is created around it and returned; call its `listen`).
   */
  attach(target: HttpServer | RequestListener): HttpServer {
    const server = typeof target === 'function' ? createServer(target) : target;
    if (this.statsPath) this.serveStats(server, this.statsPath);
    this.io.attach(server);
    return server;
  }

  /** Closes every connection and stops the statistics. */
  close(): void {
    this.stats.stop();
    this.io.close();
  }

  private mount(path: string, cls: ConnectionClass): Namespace {
    if (!isConnectionClass(cls)) throw new RealtimeError('ERR_REALTIME_OPTION', `endpoint ${JSON.stringify(path)} must map to a SocketConnection subclass`);
    const namespace = this.io.of(path);
    if (this.mounted.has(namespace)) return namespace;
    this.mounted.add(namespace);
    namespace.socketClass = cls as unknown as typeof namespace.socketClass;
    namespace.opener = (socket) => openConnection(socket as SocketConnection<any>, cls, path);
    namespace.on('connection', (socket) => (socket as SocketConnection<any>).afterOpen());
    return namespace;
  }

  private serveStats(server: HttpServer, path: string): void {
    const previous = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.method === 'GET' && (req.url === path || req.url?.startsWith(`${path}?`))) {
        const body = JSON.stringify(this.stats.dump());
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(body);
        return;
      }
      for (const listener of previous) listener.call(server, req, res);
    });
  }
}

/**
 * `prepareOpen`, then `onOpen`: undefined lets the connection go on, a refusal refuses it (the
 * client gets `connect_error`). Without a promise on the way, nothing is allocated.
 */
function openConnection(connection: SocketConnection<any>, cls: ConnectionClass, path: string): ConnectRefusal | undefined | Promise<ConnectRefusal | undefined> {
  let prepared: void | Promise<void>;
  try {
    prepared = connection.prepareOpen();
  } catch (err) {
    return refusal(cls, path, err);
  }
  if (prepared instanceof Promise) return prepared.then(() => callOnOpen(connection, cls, path), (err: unknown) => refusal(cls, path, err));
  return callOnOpen(connection, cls, path);
}

function callOnOpen(connection: SocketConnection<any>, cls: ConnectionClass, path: string): ConnectRefusal | undefined | Promise<ConnectRefusal | undefined> {
  let verdict: ReturnType<SocketConnection['onOpen']>;
  try {
    verdict = connection.onOpen(connection.info);
  } catch (err) {
    return refusal(cls, path, err);
  }
  if (verdict instanceof Promise) return verdict.then((v) => (v === false ? refusal(cls, path) : undefined), (err: unknown) => refusal(cls, path, err));
  return verdict === false ? refusal(cls, path) : undefined;
}

/** The refusal the client sees; what `onOpen` threw (if it did) goes to the log only. */
function refusal(cls: ConnectionClass, path: string, err?: unknown): ConnectRefusal {
  if (err !== undefined) log.error(`onOpen of ${cls.name} for ${path} threw; refusing the connection`, err);
  return new Error('Connection refused by the server');
}

function isConnectionClass(value: unknown): value is ConnectionClass {
  // Imported lazily by shape, not by class, to keep this module free of a circular import.
  return typeof value === 'function' && typeof (value as { prototype?: { onOpen?: unknown } }).prototype?.onOpen === 'function';
}
