import type { EngineSocket, PreparedPacket } from '../engine/index.ts';
import { PacketType, RESERVED_EVENTS, type Packet } from '../protocol/index.ts';
import { BroadcastOperator } from './broadcast-operator.ts';
import type { Client } from './client.ts';
import { RealtimeError, type DisconnectReason } from './errors.ts';
import type { Namespace } from './namespace.ts';
import type { AckCallback, Handshake, Listener, Room, SocketId } from './types.ts';
import { randomId } from '../util/random-id.ts';

/** Events the server itself raises on a socket; the client cannot send them. */
export type SocketReservedEvent = 'disconnect' | 'disconnecting';

/** An ack the client owes; `fail` is set when the sender wants to hear of a timeout or disconnect. */
type PendingAck = AckCallback & { fail?: (err: Error) => void };

/**
 * One client's membership of one namespace: the object a `connection` listener receives.
 * Events from the client are dispatched to `on` listeners (an ack function last when the client
 * asked for one); `emit` sends to the client (a function last asks the client for an ack).
 * @example
 * io.on('connection', (socket) => {
 *   socket.on('hello', (name, ack) => ack(`hi ${name}`));
 *   socket.emit('welcome', socket.id);
 * });
 */
export class Socket {
  readonly id: SocketId;
  connected = false;
  /** With connection state recovery: the private id the client presents to get this socket back. */
  pid: string | null = null;
  /** True when this socket is one that dropped and came back with its state (recovery). */
  recovered = false;
  /** @internal Recovery offset this socket had seen when it connected. */
  since = 0;
  /** @internal Recovery offset of the last logged event sent to this socket. */
  lastLogged = 0;
  /** `[event, listener, event, listener, …]`: a socket has few listeners, and one array is the leanest home for them. */
  private handlers: Array<string | Listener> | null = null;
  private anyListeners: Listener[] | null = null;
  private acks: Map<number, PendingAck> | null = null;
  private nextAckId = 0;
  private store: Record<string, unknown> | null = null;
  /** @internal Emits made while the socket was still joining. */
  outbox: Array<[string, unknown[]]> | null = null;

  constructor(
    readonly nsp: Namespace,
    readonly client: Client,
    /** The CONNECT payload (the client's `auth` option). */
    readonly auth: Readonly<Record<string, unknown>>,
    id: SocketId = randomId(),
  ) {
    this.id = id;
  }

  /** Free-form data the application keeps with this socket. */
  get data(): Record<string, unknown> {
    return (this.store ??= {});
  }

  set data(value: Record<string, unknown>) {
    this.store = value;
  }

  /** The Engine.IO session underneath (shared by all namespaces of the same client). */
  get conn(): EngineSocket {
    return this.client.conn;
  }

  get handshake(): Handshake {
    const h = this.client.conn.handshake;
    return {
      headers: h.headers,
      query: h.query,
      auth: this.auth,
      address: h.address,
      secure: h.secure,
      url: h.url,
      issued: h.time,
      time: new Date(h.time).toString(),
    };
  }

  /** The rooms this socket is in, its own id first. */
  get rooms(): Set<Room> {
    return this.nsp.adapter.socketRooms(this.id);
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  // ---- listeners ------------------------------------------------------------------------------

  on(event: string, listener: Listener): this {
    (this.handlers ??= []).push(event, listener);
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapper: Listener = (...args) => {
      this.off(event, wrapper);
      return listener(...args);
    };
    return this.on(event, wrapper);
  }

  off(event: string, listener?: Listener): this {
    const handlers = this.handlers;
    if (!handlers) return this;
    for (let i = handlers.length - 2; i >= 0; i -= 2) {
      if (handlers[i] !== event || (listener && handlers[i + 1] !== listener)) continue;
      handlers.splice(i, 2);
      if (listener) break;
    }
    return this;
  }

  /** Listens to every event the client sends: `(event, ...args)`. */
  onAny(listener: Listener): this {
    (this.anyListeners ??= []).push(listener);
    return this;
  }

  offAny(listener?: Listener): this {
    if (!listener) this.anyListeners = null;
    else if (this.anyListeners) this.anyListeners = this.anyListeners.filter((l) => l !== listener);
    return this;
  }

  listenerCount(event: string): number {
    return this.listenersOf(event).length;
  }

  /** The listeners of `event`, in the order they were added (a copy). */
  private listenersOf(event: string): Listener[] {
    const found: Listener[] = [];
    const handlers = this.handlers;
    if (handlers) for (let i = 0; i < handlers.length; i += 2) if (handlers[i] === event) found.push(handlers[i + 1] as Listener);
    return found;
  }

  // ---- sending --------------------------------------------------------------------------------

  /**
   * Sends `event` with `args` to this client. A function as the last argument is called with the
   * client's acknowledgement. Returns false when the socket is disconnected (nothing is sent).
   */
  emit(event: string, ...args: unknown[]): boolean {
    assertEmittable(event);
    if (!this.connected) {
      if (!this.outbox) return false;
      // Still joining (middlewares, onOpen): sent right after the CONNECT reply.
      this.outbox.push([event, args]);
      return true;
    }
    // `args` is this call's own array: it becomes the packet's data in place.
    const id = typeof args[args.length - 1] === 'function' ? this.registerAck(args.pop() as AckCallback) : undefined;
    args.unshift(event);
    const recovery = id === undefined ? this.nsp.recovery : null;
    if (recovery === null) {
      this.client.writeData(PacketType.EVENT, this.nsp.name, id, args);
      return true;
    }
    // Logged for this socket alone, so it can be replayed if the client drops.
    args.push(recovery.next());
    const seq = recovery.head;
    recovery.keep(seq, this.id, this.client.writeData(PacketType.EVENT, this.nsp.name, undefined, args));
    this.lastLogged = seq;
    return true;
  }

  /** Emits and resolves with the client's acknowledgement (its first argument). */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown> {
    return new Promise((resolve) => this.emit(event, ...args, (value: unknown) => resolve(value)));
  }

  /**
   * The same socket, but acknowledgements time out after `ms`: the callback then gets an error
   * first (`ERR_ACK_TIMEOUT`, or `ERR_NOT_CONNECTED` if the socket goes away), else `null`.
   * @example socket.timeout(1000).emit('ready?', (err, answer) => { ... });
   */
  timeout(ms: number): { emit(event: string, ...args: unknown[]): boolean; emitWithAck(event: string, ...args: unknown[]): Promise<unknown> } {
    const emit = (event: string, ...args: unknown[]): boolean => {
      const callback = args[args.length - 1];
      if (typeof callback !== 'function') return this.emit(event, ...args);
      args.pop();
      assertEmittable(event);
      if (!this.connected) {
        queueMicrotask(() => (callback as AckCallback)(new RealtimeError('ERR_NOT_CONNECTED')));
        return false;
      }
      const id = this.nextAckId++;
      const answer: PendingAck = (...reply: unknown[]) => {
        clearTimeout(timer);
        (callback as AckCallback)(null, ...reply);
      };
      answer.fail = (err: Error) => {
        clearTimeout(timer);
        (callback as AckCallback)(err);
      };
      const timer = setTimeout(() => {
        this.acks?.delete(id);
        answer.fail!(new RealtimeError('ERR_ACK_TIMEOUT', `no acknowledgement of "${event}" within ${ms} ms`));
      }, ms);
      (this.acks ??= new Map()).set(id, answer);
      args.unshift(event);
      this.client.writeData(PacketType.EVENT, this.nsp.name, id, args);
      return true;
    };
    return {
      emit,
      emitWithAck: (event, ...args) =>
        new Promise((resolve, reject) => emit(event, ...args, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value)))),
    };
  }

  /** Emits a `message` event (what the client's `socket.on('message')` receives). */
  send(...args: unknown[]): this {
    this.emit('message', ...args);
    return this;
  }

  // ---- rooms and broadcast --------------------------------------------------------------------

  join(rooms: Room | readonly Room[]): void {
    this.nsp.adapter.addAll(this.id, typeof rooms === 'string' ? [rooms] : rooms);
  }

  leave(room: Room): void {
    this.nsp.adapter.del(this.id, room);
  }

  /** Everyone in `room` but this socket. */
  to(room: Room | readonly Room[]): BroadcastOperator {
    return this.broadcast.to(room);
  }

  in(room: Room | readonly Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | readonly Room[]): BroadcastOperator {
    return this.broadcast.except(room);
  }

  /** Everyone in this namespace but this socket. */
  get broadcast(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, new Set(), new Set([this.id]));
  }

  /**
   * Leaves this namespace (the client gets `disconnect` with "io server disconnect").
   * With `close`, the whole connection closes, every namespace of it included.
   */
  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) {
      this.client.close('forced server close');
      return this;
    }
    this.client.writePacket({ type: PacketType.DISCONNECT, nsp: this.nsp.name });
    this.handleClose('server namespace disconnect');
    return this;
  }

  // ---- internal -------------------------------------------------------------------------------

  /** @internal Writes parts encoded once for a broadcast (`logged`: its recovery offset, if any). */
  writePrepared(parts: readonly PreparedPacket[], logged = 0): void {
    if (logged !== 0) this.lastLogged = logged;
    const conn = this.client.conn;
    for (let i = 0; i < parts.length; i++) conn.sendPrepared(parts[i]!);
  }

  /** @internal A packet the client sent to this namespace. */
  handlePacket(packet: Packet): void {
    switch (packet.type) {
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT: {
        // The decoder made this array for us: the event name comes off it in place.
        const args = packet.data as unknown[];
        const event = String(args.shift());
        this.dispatchEvent(event, args, packet.id === undefined ? undefined : this.replier(packet.id));
        return;
      }
      case PacketType.ACK:
      case PacketType.BINARY_ACK: {
        const pending = packet.id === undefined ? undefined : this.acks?.get(packet.id);
        if (!pending) return; // unknown or already answered: nothing to do (not an error per spec)
        this.acks!.delete(packet.id!);
        this.client.guard(this, pending, false, packet.data as unknown[]);
        return;
      }
      case PacketType.DISCONNECT:
        this.handleClose('client namespace disconnect');
        return;
      default:
        // CONNECT for a namespace already joined, CONNECT_ERROR from a client: invalid state.
        this.client.conn.end('parse error');
    }
  }

  /** @internal Leaves the namespace and tells the listeners why. */
  handleClose(reason: DisconnectReason): void {
    if (!this.connected) return;
    this.emitReserved('disconnecting', reason);
    const recovery = this.nsp.recovery;
    if (recovery && this.pid !== null && RECOVERABLE.has(reason)) {
      const rooms = [...this.nsp.adapter.socketRooms(this.id)].slice(1);
      recovery.save({ sid: this.id, pid: this.pid, rooms, data: this.store ?? {}, since: this.since, lastSent: this.lastLogged });
    }
    this.connected = false;
    this.nsp.remove(this);
    this.client.remove(this);
    const acks = this.acks;
    this.acks = null;
    if (acks) {
      for (const pending of acks.values()) {
        if (pending.fail) pending.fail(new RealtimeError('ERR_NOT_CONNECTED', `the socket disconnected (${reason}) before acknowledging`));
      }
    }
    this.emitReserved('disconnect', reason);
  }

  /** @internal Calls the `connection`-time listeners of a reserved event. */
  emitReserved(event: SocketReservedEvent, ...args: unknown[]): void {
    for (const listener of this.listenersOf(event)) this.client.guard(this, listener, true, args);
  }

  /**
   * Delivers one event from the client to this socket's listeners, the ack function last when the
   * client asked for one. Subclasses (SocketConnection) route events their own way.
   */
  protected dispatchEvent(event: string, args: unknown[], ack: AckCallback | undefined): void {
    if (ack) args.push(ack);
    const any = this.anyListeners;
    if (any) for (const listener of [...any]) this.client.guard(this, listener, false, [event, ...args]);
    const handlers = this.handlers;
    if (!handlers) return;
    // The common case, one listener for the event, needs no copy of the list.
    let only: Listener | null = null;
    let count = 0;
    for (let i = 0; i < handlers.length; i += 2) {
      if (handlers[i] === event) {
        only = handlers[i + 1] as Listener;
        if (++count > 1) break;
      }
    }
    if (count === 1) this.client.guard(this, only!, false, args);
    else if (count > 1) for (const listener of this.listenersOf(event)) this.client.guard(this, listener, false, args);
  }

  /** The function handed to a listener to acknowledge packet `id`; it works once. */
  private replier(id: number): AckCallback {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.client.writeData(PacketType.ACK, this.nsp.name, id, args);
    };
  }

  private registerAck(callback: AckCallback): number {
    const id = this.nextAckId++;
    (this.acks ??= new Map()).set(id, callback);
    return id;
  }
}

/** Reasons after which the client may come back and recover its state (the rest are deliberate). */
const RECOVERABLE: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close',
]);

function assertEmittable(event: string): void {
  if (RESERVED_EVENTS.has(event)) throw new RealtimeError('ERR_RESERVED_EVENT', `"${event}" is a reserved event name and cannot be emitted`);
}
