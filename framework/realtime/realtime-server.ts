import type { Server as HttpServer } from 'node:http';
import { ENGINE_DEFAULTS, ENGINE_SCHEMA, EngineServer, type EngineOptions } from '../engine/index.ts';
import { resolveOptions, type OptionSchema } from '../util/options.ts';
import { Deadlines } from '../util/deadlines.ts';
import type { BroadcastOperator } from './broadcast-operator.ts';
import { InMemoryAdapter } from './adapter.ts';
import { Client, closeIfIdle } from './client.ts';
import { serveClientBundle } from './client-bundle.ts';
import { RealtimeError } from './errors.ts';
import { Namespace, type ConnectionListener, type Middleware } from './namespace.ts';
import { DEFAULT_MAX_LOGGED_BYTES, type RecoveryOptions } from './recovery.ts';
import type { Room } from './types.ts';

export interface RealtimeOptions extends EngineOptions {
  /**
   * URL path of the Socket.IO endpoint.
   * @default '/socket.io/'
   */
  path?: string;
  /**
   * Milliseconds a new connection has to join a namespace before it is closed.
   * @default 45000
   */
  connectTimeout?: number;
  /**
   * Serve the stock browser client at `<path>socket.io.js` (and `.min.js`, `.esm.min.js`, maps).
   * @default true
   */
  serveClient?: boolean;
  /**
   * Most binary attachments one packet may carry; more closes the connection.
   * @default 10
   */
  maxAttachments?: number;
  /**
   * Connection state recovery: a client that drops and returns within `maxDisconnectionDuration`
   * gets its socket id, rooms, `data` and the events it missed. While on, every event carries its
   * offset as a last string argument (socket.io-client reads it). `false` turns it off.
   * @default false
   */
  connectionStateRecovery?: RecoveryOptions | false;
}

type RealtimeOnly = Required<Pick<RealtimeOptions, 'connectTimeout' | 'serveClient' | 'maxAttachments'>> & {
  readonly connectionStateRecovery: Required<RecoveryOptions> | false;
};

const REALTIME_DEFAULTS: Required<RealtimeOptions> = {
  ...ENGINE_DEFAULTS,
  path: '/socket.io/',
  connectTimeout: 45_000,
  serveClient: true,
  maxAttachments: 10,
  connectionStateRecovery: false,
};

const REALTIME_SCHEMA: OptionSchema<RealtimeOptions> = {
  ...ENGINE_SCHEMA,
  connectTimeout: { kind: 'number', min: 1, max: 2 ** 31 - 1, integer: true },
  serveClient: { kind: 'boolean' },
  maxAttachments: { kind: 'number', min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  connectionStateRecovery: {
    kind: 'custom',
    check: (value) => {
      if (value === false) return undefined;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'must be false or an object';
      for (const [key, v] of Object.entries(value)) {
        if (key === 'maxDisconnectionDuration') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return 'has a maxDisconnectionDuration that must be a whole number of ms, at least 1';
        } else if (key === 'maxLoggedBytes') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return 'has a maxLoggedBytes that must be a whole number of bytes, at least 0';
        } else if (key === 'skipMiddlewares') {
          if (typeof v !== 'boolean') return 'has a skipMiddlewares that must be true or false';
        } else {
          return `has an unknown key "${key}" (known: maxDisconnectionDuration, skipMiddlewares, maxLoggedBytes)`;
        }
      }
      return undefined;
    },
  },
};

/** A namespace name: `/`, then no `,` or `?` (they delimit the name on the wire). */
const NAMESPACE_NAME = /^\/[^,?#]*$/;

/**
 * A Socket.IO v5 server of our own on the Engine.IO server: namespaces, rooms, acks, broadcast.
 * Attach it to the HTTP server your app already has; it shares the port.
 * @example
 * const io = new RealtimeServer().attach(httpServer);
 * io.on('connection', (socket) => socket.on('ping', (ack) => ack('pong')));
 */
export class RealtimeServer {
  readonly options: Readonly<RealtimeOnly> & Readonly<Required<EngineOptions>>;
  readonly engine: EngineServer;
  readonly namespaces = new Map<string, Namespace>();
  /** Running totals of namespace connections, for statistics. */
  readonly counters = { connectionsOpened: 0, activeConnections: 0, maxConnections: 0 };
  /**
   * Decides what to do with a CONNECT to a namespace that does not exist: return one to admit the
   * client there (created on demand), or undefined to answer "Invalid namespace".
   */
  namespaceResolver: ((name: string, client: Client) => Namespace | undefined) | null = null;
  /** Makes each namespace's adapter; see {@link useAdapter}. */
  adapterFactory: (nsp: Namespace) => InMemoryAdapter = (nsp) => new InMemoryAdapter(nsp);
  /** @internal Clients that have not joined a namespace yet, closed after `connectTimeout` (one timer for all). */
  readonly joinDeadlines: Deadlines<Client>;

  constructor(options?: RealtimeOptions) {
    const resolved = resolveOptions('realtime', REALTIME_SCHEMA, REALTIME_DEFAULTS, options, (m) => new RealtimeError('ERR_REALTIME_OPTION', m));
    const { connectTimeout, serveClient, maxAttachments, connectionStateRecovery: recovery, ...engineOptions } = resolved;
    this.engine = new EngineServer(engineOptions);
    const connectionStateRecovery = recovery === false ? false : { maxDisconnectionDuration: 120_000, skipMiddlewares: true, maxLoggedBytes: DEFAULT_MAX_LOGGED_BYTES, ...recovery };
    this.options = Object.freeze({ ...this.engine.options, connectTimeout, serveClient, maxAttachments, connectionStateRecovery });
    this.joinDeadlines = new Deadlines<Client>(connectTimeout, closeIfIdle);
    this.engine.on('connection', (conn) => new Client(this, conn));
    this.of('/');
  }

  /** Serves this server's path on `server`; every other request goes to the server's own listeners. */
  attach(server: HttpServer): this {
    const path = this.options.path;
    this.engine.attach(server, this.options.serveClient ? (req, res) => serveClientBundle(path, req, res) : undefined);
    return this;
  }

  /**
   * Replaces how rooms and broadcasts work, for every namespace (a cluster adapter reaches other
   * processes). Call it before clients connect.
   */
  useAdapter(factory: (nsp: Namespace) => InMemoryAdapter): this {
    this.adapterFactory = factory;
    for (const namespace of this.namespaces.values()) namespace.adapter = factory(namespace);
    return this;
  }

  /** The namespace `name`, created on first use. */
  of(name: string): Namespace {
    if (!NAMESPACE_NAME.test(name)) throw new RealtimeError('ERR_NAMESPACE_NAME', `invalid namespace name ${JSON.stringify(name)}: it must start with "/" and contain no ",", "?" or "#"`);
    let namespace = this.namespaces.get(name);
    if (!namespace) this.namespaces.set(name, (namespace = new Namespace(this, name)));
    return namespace;
  }

  /** The main namespace `/`. */
  get sockets(): Namespace {
    return this.namespaces.get('/')!;
  }

  on(event: 'connection' | 'connect', listener: ConnectionListener): this {
    this.sockets.on(event, listener);
    return this;
  }

  use(middleware: Middleware): this {
    this.sockets.use(middleware);
    return this;
  }

  to(room: Room | readonly Room[]): BroadcastOperator {
    return this.sockets.to(room);
  }

  in(room: Room | readonly Room[]): BroadcastOperator {
    return this.sockets.in(room);
  }

  except(room: Room | readonly Room[]): BroadcastOperator {
    return this.sockets.except(room);
  }

  emit(event: string, ...args: unknown[]): true {
    return this.sockets.emit(event, ...args);
  }

  /** Closes every connection (reason `server shutting down`) and detaches from the HTTP server. */
  close(): void {
    this.engine.close();
    this.joinDeadlines.clear();
    for (const namespace of this.namespaces.values()) namespace.recovery?.close();
  }
}
