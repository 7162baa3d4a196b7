import { PacketType } from '../protocol/index.ts';
import { EnginePacketType, type WirePacket } from '../engine/index.ts';
import { createLogger } from '../util/logger.ts';
import { InMemoryAdapter } from './adapter.ts';
import { randomId } from '../util/random-id.ts';
import { RecoveryLog, type RestoredSession } from './recovery.ts';
import { BroadcastOperator } from './broadcast-operator.ts';
import type { Client } from './client.ts';
import type { RealtimeServer } from './realtime-server.ts';
import { Socket } from './socket.ts';
import type { Room, SocketId } from './types.ts';

const log = createLogger('realtime');

/** An error a middleware passes to `next` to refuse a connection; `data` reaches the client too. */
export interface ConnectRefusal extends Error {
  data?: unknown;
}

/**
 * Runs before a socket joins; call `next()` to let it in or `next(err)` to refuse it (the client
 * gets `connect_error` with `err.message`). An async middleware may also resolve or reject.
 */
export type Middleware = (socket: Socket, next: (err?: ConnectRefusal) => void) => void | Promise<void>;

export type ConnectionListener = (socket: Socket) => unknown;

/**
 * @internal What a namespace asks of each socket before its middlewares (how `SocketRouter` runs
 * `onOpen`): nothing to let it go on, a refusal to refuse it, or a promise of either. One function
 * per namespace, called with the socket: no closures made per connection.
 */
export type Opener = (socket: Socket) => ConnectRefusal | undefined | Promise<ConnectRefusal | undefined>;

export type SocketClass = new (nsp: Namespace, client: Client, auth: Record<string, unknown>, id?: string) => Socket;

const EMPTY: ReadonlySet<Room> = new Set();

/**
 * A namespace: its own sockets, rooms, middleware and `connection` listeners. Several namespaces
 * share one connection from the same client.
 * @example io.of('/chat').on('connection', (socket) => socket.join('lobby'));
 */
export class Namespace {
  readonly sockets = new Map<SocketId, Socket>();
  adapter: InMemoryAdapter;
  /** Packets and dropped sockets kept for connection state recovery, when it is on. */
  readonly recovery: RecoveryLog | null;
  /** The class of the sockets this namespace creates (SocketConnection subclasses set it). */
  socketClass: SocketClass = Socket;
  /** @internal Run for every socket before the middlewares (see {@link Opener}). */
  opener: Opener | null = null;
  private readonly middlewares: Middleware[] = [];
  private readonly connectionListeners: ConnectionListener[] = [];
  /** The Engine.IO message carrying this namespace's CONNECT, up to its payload (`40/chat,`). */
  private readonly connectPrefix: string;

  private get skipMiddlewaresOnRecovery(): boolean {
    const recovery = this.server.options.connectionStateRecovery;
    return recovery !== false && recovery.skipMiddlewares;
  }

  constructor(
    readonly server: RealtimeServer,
    readonly name: string,
  ) {
    this.adapter = server.adapterFactory(this);
    this.connectPrefix = `${EnginePacketType.MESSAGE}${PacketType.CONNECT}${name === '/' ? '' : `${name},`}`;
    const recovery = server.options.connectionStateRecovery;
    this.recovery = recovery ? new RecoveryLog(recovery.maxDisconnectionDuration, recovery.maxLoggedBytes) : null;
  }

  /** Listens for sockets joining this namespace. */
  on(event: 'connection' | 'connect', listener: ConnectionListener): this {
    this.connectionListeners.push(listener);
    return this;
  }

  off(event: 'connection' | 'connect', listener: ConnectionListener): this {
    const at = this.connectionListeners.indexOf(listener);
    if (at !== -1) this.connectionListeners.splice(at, 1);
    return this;
  }

  /** Adds a middleware run for every socket before it joins. */
  use(middleware: Middleware): this {
    this.middlewares.push(middleware);
    return this;
  }

  to(room: Room | readonly Room[]): BroadcastOperator {
    return new BroadcastOperator(this, EMPTY, EMPTY).to(room);
  }

  in(room: Room | readonly Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | readonly Room[]): BroadcastOperator {
    return new BroadcastOperator(this, EMPTY, EMPTY).except(room);
  }

  /** Sends `event` to every socket of this namespace (encoded once). */
  emit(event: string, ...args: unknown[]): true {
    return new BroadcastOperator(this, EMPTY, EMPTY).emit(event, ...args);
  }

  send(...args: unknown[]): true {
    return this.emit('message', ...args);
  }

  fetchSockets(): Socket[] {
    return [...this.sockets.values()];
  }

  socketsJoin(room: Room | readonly Room[]): void {
    for (const socket of this.sockets.values()) socket.join(room);
  }

  socketsLeave(room: Room): void {
    for (const socket of this.sockets.values()) socket.leave(room);
  }

  disconnectSockets(close = false): void {
    for (const socket of [...this.sockets.values()]) socket.disconnect(close);
  }

  /** @internal A client asked to join (its CONNECT packet). */
  add(client: Client, auth: Record<string, unknown>): void {
    client.pending(this.name, true);
    const recovery = this.recovery;
    if (recovery && typeof auth.pid === 'string') {
      // A returning client: its pid and last offset are ours, not part of its auth.
      const { pid, offset, ...rest } = auth;
      auth = rest;
      const restored = recovery.restore(pid, offset);
      if (restored && !this.sockets.has(restored.sid)) {
        const socket = new this.socketClass(this, client, auth, restored.sid);
        socket.pid = restored.pid;
        // Restored before the middlewares (and onOpen) run, so they see the recovered state.
        socket.recovered = true;
        socket.data = restored.data as Record<string, unknown>;
        socket.join(restored.rooms);
        socket.outbox = [];
        if (this.skipMiddlewaresOnRecovery) this.admit(socket, restored);
        else this.open(socket, restored);
        return;
      }
    }
    const socket = new this.socketClass(this, client, auth);
    if (recovery) socket.pid = randomId();
    socket.outbox = [];
    this.open(socket);
  }

  /** @internal */
  remove(socket: Socket): void {
    if (this.sockets.get(socket.id) === socket) {
      this.sockets.delete(socket.id);
      this.server.counters.activeConnections--;
    }
    this.adapter.delAll(socket.id);
  }

  /** The opener, then the middlewares, then in. */
  private open(socket: Socket, restored?: RestoredSession): void {
    const opener = this.opener;
    if (opener === null) {
      this.runMiddlewares(socket, 0, restored);
      return;
    }
    let verdict: ReturnType<Opener>;
    try {
      verdict = opener(socket);
    } catch (err) {
      verdict = asRefusal(err);
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (refusal) => this.opened(socket, refusal, restored),
        (err: unknown) => this.opened(socket, asRefusal(err), restored),
      );
    } else this.opened(socket, verdict, restored);
  }

  /** What the opener said: refused, or on to the middlewares. */
  private opened(socket: Socket, refusal: ConnectRefusal | undefined, restored?: RestoredSession): void {
    if (refusal) this.refuse(socket, refusal);
    else this.runMiddlewares(socket, 0, restored);
  }

  private runMiddlewares(socket: Socket, index: number, restored?: RestoredSession): void {
    const middleware = this.middlewares[index];
    if (!middleware) {
      this.admit(socket, restored);
      return;
    }
    let called = false;
    const next = (err?: ConnectRefusal) => {
      if (called) return;
      called = true;
      if (err) this.refuse(socket, err);
      else this.runMiddlewares(socket, index + 1, restored);
    };
    try {
      const result = middleware(socket, next);
      if (result instanceof Promise) result.then(() => next(), (err: unknown) => next(asRefusal(err)));
    } catch (err) {
      next(asRefusal(err));
    }
  }

  private refuse(socket: Socket, err: ConnectRefusal): void {
    socket.outbox = null;
    this.adapter.delAll(socket.id);
    const client = socket.client;
    client.pending(this.name, false);
    if (client.conn.readyState !== 'open') return;
    const data: { message: string; data?: unknown } = { message: err.message || 'Connection refused' };
    if (err.data !== undefined) data.data = err.data;
    client.writePacket({ type: PacketType.CONNECT_ERROR, nsp: this.name, data });
  }

  private admit(socket: Socket, restored?: RestoredSession): void {
    const client = socket.client;
    client.pending(this.name, false);
    if (client.conn.readyState !== 'open') return;
    this.sockets.set(socket.id, socket);
    client.attach(socket);
    socket.connected = true;
    const counters = this.server.counters;
    counters.connectionsOpened++;
    if (++counters.activeConnections > counters.maxConnections) counters.maxConnections = counters.activeConnections;
    let missed: WirePacket[] | null = null;
    if (this.recovery && restored) {
      // Replayed from where its client was: what was sent while its middlewares ran is included,
      // and should it drop again before reading the replay, its older offset still counts.
      const replay = this.recovery.replay(restored.after, this.adapter.socketRooms(socket.id));
      if (!replay.complete) log.warn(`socket ${socket.id} recovered while ${this.name}'s log dropped events it may have missed (maxLoggedBytes)`);
      missed = replay.missed;
      socket.since = restored.after;
      socket.lastLogged = replay.last;
    } else if (this.recovery) {
      socket.since = socket.lastLogged = this.recovery.head;
    }
    // With recovery on, the reply carries the private id the client presents when it returns.
    const pid = socket.pid === null ? '' : `,"pid":${JSON.stringify(socket.pid)}`;
    client.conn.write(`${this.connectPrefix}{"sid":${JSON.stringify(socket.id)}${pid}}`);
    if (missed) for (const message of missed) client.conn.write(message);
    const outbox = socket.outbox;
    socket.outbox = null;
    if (outbox) for (const [event, args] of outbox) client.guard(socket, socket.emit.bind(socket), false, [event, ...args]);
    const listeners = this.connectionListeners;
    for (let i = 0; i < listeners.length && socket.connected; i++) client.guard(socket, listeners[i]!, false, [socket]);
    if (log.debugEnabled) log.debug(`socket ${socket.id} joined ${this.name}`);
  }
}

function asRefusal(err: unknown): ConnectRefusal {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : 'Connection refused');
}
