import { createLogger } from '../util/logger.ts';
import { ConnectionInfo } from './connection-info.ts';
import type { DisconnectReason } from './errors.ts';
import { SignatureMismatch, bindArguments, eventTable, isPlainObject } from './event.ts';
import { Socket } from './socket.ts';
import type { AckCallback } from './types.ts';

const log = createLogger('realtime');

/** Event name → listener signature; gives `emit` typed arguments. An interface works too. */
export interface EventMap {
  [event: string]: any;
}

type DefaultEvents = Record<string, (...args: any[]) => void>;

/** The arguments of event `E` of map `M`. */
export type EventArgs<M extends EventMap, E extends keyof M> = M[E] extends (...args: infer A) => any ? A : unknown[];

/** A `SocketConnection` subclass, as `endpoints` and the router take it. */
export type ConnectionClass = (new (...args: any[]) => SocketConnection<any>) & {
  endpoints?: Readonly<Record<string, ConnectionClass>>;
  prototype: SocketConnection<any>;
};

/** Thrown (or returned as an ack error) when the client sends an event no handler takes. */
export class UnknownEvent extends Error {
  constructor(readonly event: string) {
    super(`no handler for event "${event}"`);
    this.name = 'UnknownEvent';
  }
}

/**
 * A realtime connection in TornadIO2's style: subclass it, override the `on*` hooks, mark event
 * handlers with `@event`, and list sub-endpoints in `static endpoints`. Each endpoint of a client
 * is its own `SocketConnection` (a Socket.IO namespace socket), so rooms, `to(room).emit` and
 * `broadcast` work here too.
 * @example
 * class Echo extends SocketConnection {
 *   onMessage(message: unknown) { this.send(message); }
 *   @event hello(name: string) { this.emit('thanks', { name }); return `hi ${name}`; }
 * }
 */
export class SocketConnection<Emits extends EventMap = DefaultEvents> extends Socket {
  /** Sub-endpoints of the root connection class: path → connection class. */
  static endpoints?: Readonly<Record<string, ConnectionClass>>;

  private infoCache: ConnectionInfo | null = null;
  /** Ordered, async-aware handler queue: handlers of one connection run one after another. */
  private running = false;
  private backlog: Array<[event: string, args: unknown[], ack: AckCallback | undefined]> | null = null;

  /** Handshake details (`ip`, `query`, cookies, headers, `auth`) of this connection. */
  get info(): ConnectionInfo {
    if (!this.infoCache) {
      const h = this.client.conn.handshake;
      this.infoCache = new ConnectionInfo(h.address, h.query, h.headers, this.auth, this.nsp.name);
    }
    return this.infoCache;
  }

  /** The endpoint (namespace path) of this connection: `/` for the root. */
  get endpoint(): string {
    return this.nsp.name;
  }

  /** True once the connection is closed (or before it opened). */
  get isClosed(): boolean {
    return !this.connected;
  }

  // ---- hooks to override ----------------------------------------------------------------------

  /**
   * Called when the client connects, before anything else. Return `false` (or a promise of it),
   * or throw, to refuse: the client gets `connect_error` and no other hook runs.
   */
  onOpen(info: ConnectionInfo): boolean | void | Promise<boolean | void> {
    void info;
  }

  /** Called for `send()` from the client (a `message` event). Its return value is the ack. */
  onMessage(message: unknown): unknown {
    void message;
    return undefined;
  }

  /**
   * Called for every other event. The default finds the `@event` handler; override to route by
   * hand. `kwargs` is set when the client sent exactly one plain object (TornadIO2's rule).
   */
  onEvent(name: string, args: unknown[], kwargs?: Record<string, unknown>): unknown {
    const handler = eventTable(this.constructor).get(name);
    if (!handler) throw new UnknownEvent(name);
    return handler.method.apply(this, bindArguments(handler, args, kwargs));
  }

  /** Called once when the connection closes, for whatever reason. */
  onClose(reason: DisconnectReason): void {
    void reason;
  }

  /**
   * The connection class for a sub-endpoint `path`, or undefined to refuse it. The default reads
   * `static endpoints`; override to route by hand. It may be called on the prototype (before the
   * client opened the root endpoint), so it should depend on `path` only.
   */
  getEndpoint(path: string): ConnectionClass | undefined {
    const endpoints = (this.constructor as ConnectionClass).endpoints;
    return endpoints && Object.prototype.hasOwnProperty.call(endpoints, path) ? endpoints[path] : undefined;
  }

  // ---- sending (TornadIO2 names) -----------------------------------------------------------------

  /**
   * Sends a message (the client's `message` event): strings as they are, anything else as JSON.
   * With `ack`, it is called with the client's acknowledgement.
   */
  override send(message: unknown, ack?: AckCallback): this {
    if (ack) super.emit('message', message, ack);
    else super.emit('message', message);
    return this;
  }

  override emit<E extends keyof Emits & string>(name: E, ...args: EventArgs<Emits, E>): boolean {
    return super.emit(name, ...args);
  }

  /** Emits `name` and calls `callback` with the client's acknowledgement arguments. */
  emitAck<E extends keyof Emits & string>(callback: AckCallback, name: E, ...args: EventArgs<Emits, E>): boolean {
    return super.emit(name, ...args, callback);
  }

  /** Closes this endpoint's connection (the client gets "io server disconnect"). */
  close(): void {
    this.disconnect();
  }

  // ---- plumbing -------------------------------------------------------------------------------

  /** @internal Runs before `onOpen` (subclasses of the framework resolve identity here). */
  prepareOpen(): void | Promise<void> {}

  /** @internal Runs once the connection is admitted, before any `connection` listener. */
  afterOpen(): void {}

  protected override dispatchEvent(event: string, args: unknown[], ack: AckCallback | undefined): void {
    const handler = event === 'message' ? undefined : eventTable(this.constructor).get(event);
    if (handler?.concurrent === true) {
      this.execute(event, args, ack, false);
      return;
    }
    if (this.running) {
      (this.backlog ??= []).push([event, args, ack]);
      return;
    }
    this.running = true;
    if (this.execute(event, args, ack, true)) this.drain();
  }

  /** Runs queued events while their handlers finish at once; an async one resumes the queue when it settles. */
  private drain(): void {
    for (;;) {
      const following = this.backlog?.shift();
      if (!following || !this.connected) {
        this.running = false;
        this.backlog = null;
        return;
      }
      if (!this.execute(following[0], following[1], following[2], true)) return;
    }
  }

  private run(event: string, args: unknown[]): unknown {
    if (event === 'message') return this.onMessage(args[0]);
    return this.onEvent(event, args, args.length === 1 && isPlainObject(args[0]) ? args[0] : undefined);
  }

  /**
   * Runs one handler; its value (or promise) becomes the ack. Returns true when it finished at
   * once; for an ordered handler that returned a promise, the queue resumes when it settles.
   */
  private execute(event: string, args: unknown[], ack: AckCallback | undefined, ordered: boolean): boolean {
    let result: unknown;
    try {
      result = this.run(event, args);
    } catch (err) {
      this.failed(event, err, ack);
      return true;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => {
          this.reply(ack, value);
          if (ordered) this.drain();
        },
        (err: unknown) => {
          this.failed(event, err, ack);
          if (ordered) this.drain();
        },
      );
      return false;
    }
    this.reply(ack, result);
    return true;
  }

  private reply(ack: AckCallback | undefined, value: unknown): void {
    if (!ack) return;
    if (value === undefined) ack();
    else ack(value);
  }

  /** A client mistake (unknown event, wrong arguments) is told to the client; anything else closes. */
  private failed(event: string, err: unknown, ack: AckCallback | undefined): void {
    if (err instanceof UnknownEvent || err instanceof SignatureMismatch) {
      log.warn(`${this.nsp.name} socket ${this.id}: ${err.message}`);
      const error = { error: err.message, event };
      if (ack) ack(error);
      else if (this.connected) super.emit('error', error);
      return;
    }
    this.client.guard(this, () => {
      throw err;
    });
  }

  /** @internal Runs `onClose` after the socket left its namespace. */
  override handleClose(reason: DisconnectReason): void {
    if (!this.connected) return;
    super.handleClose(reason);
    this.client.guard(this, () => this.onClose(reason), true);
  }
}
