import { EnginePacketType, type EngineCloseReason, type EngineSocket, type EngineSocketListener, type WirePacket } from '../engine/index.ts';
import { Decoder, PacketType, announcesAttachments, decodeText, encodePacket, encodeTextPacket, type Packet } from '../protocol/index.ts';
import type { Deadlines, Scheduled } from '../util/deadlines.ts';
import { createLogger } from '../util/logger.ts';
import type { DisconnectReason } from './errors.ts';
import type { RealtimeServer } from './realtime-server.ts';
import type { Socket } from './socket.ts';

const log = createLogger('realtime');

/** The auth of a CONNECT without a payload: one shared, frozen object rather than one per socket. */
const NO_AUTH: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * One Engine.IO session seen from the Socket.IO layer: it decodes packets, routes them to the
 * namespace sockets multiplexed over the session, and owns their shared fate (a decode error or
 * a throwing handler closes all of them, never the process).
 */
export class Client implements EngineSocketListener, Scheduled {
  // Most clients join one namespace: it lives in a field; a Map only exists for several.
  private single: Socket | null = null;
  private several: Map<string, Socket> | null = null;
  /** Made on the first binary packet: text packets decode without state. */
  private decoder: Decoder | null = null;
  /** Namespaces whose join is under way (middlewares running): one in a field, more in a Set. */
  private connectingOne: string | null = null;
  private connecting: Set<string> | null = null;
  private closing: DisconnectReason | null = null;
  /** @internal Links of the server's queue of clients that must join a namespace in time (see {@link Deadlines}). */
  deadlineAt = 0;
  /** @internal */
  deadlinePrev: Scheduled | null = null;
  /** @internal */
  deadlineNext: Scheduled | null = null;
  /** @internal */
  deadlines: Deadlines<Client> | null = null;

  constructor(
    readonly server: RealtimeServer,
    readonly conn: EngineSocket,
  ) {
    // A client that joins no namespace in time is closed (the protocol requires a CONNECT first).
    server.joinDeadlines.add(this);
    conn.listener = this;
  }

  onMessage(data: string | Buffer): void {
    let packet: Packet | undefined;
    try {
      const decoder = this.decoder;
      // A text packet that announces no attachments needs no decoder (nor its memory per client).
      if (decoder === null && typeof data === 'string' && !announcesAttachments(data)) packet = decodeText(data, this.server.options.maxAttachments);
      else packet = (decoder ?? (this.decoder = new Decoder({ maxAttachments: this.server.options.maxAttachments }))).add(data);
    } catch (err) {
      log.debug(`closing session ${this.conn.id}: ${(err as Error).message}`);
      this.conn.end('parse error');
      return;
    }
    if (packet) this.route(packet);
  }

  onClose(reason: EngineCloseReason): void {
    this.deadlines?.remove(this);
    this.decoder?.reset();
    const why: DisconnectReason = this.closing ?? reason;
    for (const socket of this.joined()) socket.handleClose(why);
    this.single = null;
    this.several = null;
  }

  /**
   * Sends an EVENT (`id`: the ack it asks for) or an ACK with `data`; returns the Engine.IO messages
   * written. The common case, no binary, is one string built without a packet object.
   */
  writeData(type: typeof PacketType.EVENT | typeof PacketType.ACK, nsp: string, id: number | undefined, data: unknown[]): WirePacket | WirePacket[] {
    const text = type === PacketType.EVENT && typeof data[0] !== 'string' ? undefined : encodeTextPacket(EnginePacketType.MESSAGE, type, nsp, id, data);
    if (text === undefined) return this.writePacket(id === undefined ? { type, nsp, data } : { type, nsp, id, data });
    this.conn.write(text);
    return text;
  }

  /** Sends one packet to this client; returns the Engine.IO messages written (one, or several with attachments). */
  writePacket(packet: Packet): WirePacket | WirePacket[] {
    const parts: WirePacket[] = encodePacket(packet);
    const conn = this.conn;
    const text = EnginePacketType.MESSAGE + (parts[0] as string);
    conn.write(text);
    if (parts.length === 1) return text;
    parts[0] = text;
    for (let i = 1; i < parts.length; i++) conn.write(parts[i]!);
    return parts;
  }

  /** Closes the whole connection: every namespace socket gets `reason`. */
  close(reason: DisconnectReason = 'forced server close'): void {
    if (this.conn.readyState === 'closed') return;
    this.closing ??= reason;
    if (reason === 'forced server close') {
      // A deliberate kick: tell each namespace first, so the client does not reconnect on its own.
      for (const socket of this.joined()) this.writePacket({ type: PacketType.DISCONNECT, nsp: socket.nsp.name });
    }
    for (const socket of this.joined()) socket.handleClose(reason);
    this.conn.close();
  }

  /**
   * Runs user code for `socket`. A throw or a rejected promise is logged with its stack and closes
   * this whole connection (TornadIO2's rule); it never reaches the process.
   */
  guard(socket: Socket, run: (...args: any[]) => unknown, quiet = false, args?: readonly unknown[]): void {
    try {
      const result = args === undefined ? run() : run(...args);
      if (result instanceof Promise) result.catch((err: unknown) => this.fail(socket, err, quiet));
    } catch (err) {
      this.fail(socket, err, quiet);
    }
  }

  /** @internal */
  attach(socket: Socket): void {
    if (this.several) this.several.set(socket.nsp.name, socket);
    else if (!this.single) this.single = socket;
    else {
      this.several = new Map([[this.single.nsp.name, this.single], [socket.nsp.name, socket]]);
      this.single = null;
    }
    this.deadlines?.remove(this);
  }

  /** @internal */
  remove(socket: Socket): void {
    if (this.single === socket) this.single = null;
    else if (this.several?.get(socket.nsp.name) === socket) this.several.delete(socket.nsp.name);
  }

  /** The socket this client has joined namespace `nsp` with, if any. */
  socketOf(nsp: string): Socket | undefined {
    if (this.several) return this.several.get(nsp);
    return this.single !== null && this.single.nsp.name === nsp ? this.single : undefined;
  }

  /** How many namespaces this client has joined. */
  get socketCount(): number {
    return this.several ? this.several.size : this.single ? 1 : 0;
  }

  /** The joined namespaces' sockets (a copy: safe to close them while iterating). */
  joined(): Socket[] {
    return this.several ? [...this.several.values()] : this.single ? [this.single] : [];
  }

  /** @internal Marks a namespace join as under way (middlewares running) or done. */
  pending(nsp: string, on: boolean): void {
    if (on) {
      if (this.connectingOne === null) this.connectingOne = nsp;
      else (this.connecting ??= new Set()).add(nsp);
    } else if (this.connectingOne === nsp) this.connectingOne = null;
    else this.connecting?.delete(nsp);
  }

  private isPending(nsp: string): boolean {
    return this.connectingOne === nsp || this.connecting?.has(nsp) === true;
  }

  private route(packet: Packet): void {
    if (packet.type === PacketType.CONNECT) {
      if (this.socketOf(packet.nsp) || this.isPending(packet.nsp)) {
        log.debug(`closing session ${this.conn.id}: second CONNECT to ${packet.nsp}`);
        this.conn.end('parse error');
        return;
      }
      const namespace = this.server.namespaces.get(packet.nsp) ?? this.resolve(packet.nsp);
      if (!namespace) {
        this.writePacket({ type: PacketType.CONNECT_ERROR, nsp: packet.nsp, data: { message: 'Invalid namespace' } });
        return;
      }
      namespace.add(this, (packet.data as Record<string, unknown> | undefined) ?? NO_AUTH);
      return;
    }
    const socket = this.socketOf(packet.nsp);
    if (!socket) {
      // Anything but CONNECT for a namespace not joined is a protocol violation.
      log.debug(`closing session ${this.conn.id}: packet for unjoined namespace ${packet.nsp}`);
      this.conn.end('parse error');
      return;
    }
    socket.handlePacket(packet);
  }

  /** Asks the server's resolver for a namespace created on demand; its errors stay here. */
  private resolve(name: string): ReturnType<NonNullable<RealtimeServer['namespaceResolver']>> {
    const resolver = this.server.namespaceResolver;
    if (!resolver) return undefined;
    try {
      return resolver(name, this);
    } catch (err) {
      log.error(`resolving namespace ${JSON.stringify(name)} threw; answering "Invalid namespace"`, err);
      return undefined;
    }
  }

  private fail(socket: Socket, err: unknown, quiet: boolean): void {
    log.error(`a handler of ${socket.nsp.name} (socket ${socket.id}) threw${quiet ? '' : '; closing its connection'}`, err);
    if (!quiet) this.close('handler error');
  }
}

/** @internal `connectTimeout` passed since `client` opened: closed unless it joined a namespace. */
export function closeIfIdle(client: Client): void {
  if (client.socketCount === 0) {
    log.debug(`closing session ${client.conn.id}: no namespace joined in time`);
    client.conn.close();
  }
}
