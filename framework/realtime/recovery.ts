import type { BroadcastTarget } from './adapter.ts';
import type { WirePacket } from '../engine/index.ts';
import type { Room, SocketId } from './types.ts';

/** Connection state recovery settings (socket.io-client 4.6+ asks for it by sending `pid`). */
export interface RecoveryOptions {
  /**
   * How long, in ms, a dropped socket's id, rooms, data and missed packets are kept for it.
   * @default 120000
   */
  maxDisconnectionDuration?: number;
  /**
   * Let a recovered socket in without running the namespace's middlewares again.
   * @default true
   */
  skipMiddlewares?: boolean;
  /**
   * The most bytes of sent events each namespace keeps for replay. Past it the oldest go first; a
   * client that missed one of those gets a fresh session rather than a partial replay. Bounds the
   * log's memory under heavy traffic (each kept event costs its encoded size plus about 64 bytes).
   * @default 33554432 (32 MiB)
   */
  maxLoggedBytes?: number;
}

/** The default of {@link RecoveryOptions.maxLoggedBytes}. */
export const DEFAULT_MAX_LOGGED_BYTES = 32 * 1024 * 1024;

interface SavedSession {
  readonly sid: SocketId;
  readonly pid: string;
  readonly rooms: readonly Room[];
  readonly data: unknown;
  /** Offset of the newest packet when the socket connected: anything after it may be missed. */
  readonly since: number;
  /** Offset of the last logged packet sent to the socket before it dropped. */
  readonly lastSent: number;
  /** Offset of the newest packet when it dropped. */
  readonly droppedAt: number;
  readonly savedAt: number;
}

interface LoggedPacket {
  readonly seq: number;
  /** When it was sent, in ms after the log was made (a small integer, not a boxed number). */
  readonly time: number;
  /** Who it went to: a broadcast's rooms, or one socket's id. */
  readonly target: BroadcastTarget | SocketId;
  /**
   * The Engine.IO messages exactly as sent, offset included: the text packet alone, or the text
   * packet and its binary attachments. Nothing to re-encode on replay, and no decoded arguments
   * kept alive.
   */
  readonly wire: WirePacket | readonly WirePacket[];
  /** What it is counted as against `maxLoggedBytes`. */
  readonly size: number;
}

/** What a returning client gets back. */
export interface RestoredSession {
  readonly sid: SocketId;
  readonly pid: string;
  readonly rooms: readonly Room[];
  readonly data: unknown;
  /** The offset its client had seen: what it missed is what came after, see {@link RecoveryLog.replay}. */
  readonly after: number;
}

/** Bytes counted per logged packet besides its messages: the record and its slot. */
const ENTRY_OVERHEAD = 64;

/**
 * Keeps, per namespace, the packets sent in the last `maxDisconnectionDuration` ms (at most
 * `maxLoggedBytes` of them) and the state of sockets that dropped, so a client coming back with its
 * `pid` and last `offset` gets the same id, its rooms and every packet it missed. Offsets are
 * `<prefix><seq>` strings: the client takes the last string argument of each event as its offset,
 * so every event carries one while this is on.
 *
 * Sending an event takes two calls: {@link next} gives the offset to append to its arguments, and
 * {@link keep} stores the encoded messages under it. A client whose offset is older than the oldest
 * packet still kept is not recovered (it gets a fresh session): a replay never silently skips.
 */
export class RecoveryLog {
  private readonly sessions = new Map<string, SavedSession>();
  /** Oldest first, from index `first`; the slots before it are spent. */
  private packets: (LoggedPacket | undefined)[] = [];
  private first = 0;
  private bytes = 0;
  private seq = 0;
  /** Every packet up to this offset is gone from the log (expired or pushed out by the cap). */
  private lost = 0;
  private readonly epoch = Date.now();
  private readonly prefix = Math.random().toString(36).slice(2, 8) + '-';
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly maxDisconnectionDuration: number,
    readonly maxLoggedBytes: number = DEFAULT_MAX_LOGGED_BYTES,
  ) {}

  /** The offset of the newest packet (what a socket connecting now has seen). */
  get head(): number {
    return this.seq;
  }

  /** How many packets, and how many bytes of them, the log holds now. */
  get size(): { packets: number; bytes: number } {
    return { packets: this.packets.length - this.first, bytes: this.bytes };
  }

  /** Takes the offset of the next outgoing event, to append to its arguments before encoding. */
  next(): string {
    return this.prefix + (++this.seq).toString(36);
  }

  /**
   * Stores the encoded messages of the event whose offset {@link next} returned when `seq` was
   * the {@link head}. An event that failed to encode is simply never kept: a gap in the offsets is
   * harmless. Sizes count characters (a non-ASCII character is one, however many bytes it takes).
   */
  keep(seq: number, target: BroadcastTarget | SocketId, wire: WirePacket | readonly WirePacket[]): void {
    let size = ENTRY_OVERHEAD;
    if (isOneMessage(wire)) size += wire.length;
    else for (const part of wire) size += part.length;
    this.packets.push({ seq, time: Date.now() - this.epoch, target, wire, size });
    this.bytes += size;
    while (this.bytes > this.maxLoggedBytes && this.first < this.packets.length) this.dropOldest();
    this.ensureSweeper();
  }

  /** Keeps a dropped socket's state for `maxDisconnectionDuration`. */
  save(session: Omit<SavedSession, 'savedAt' | 'droppedAt'>): void {
    this.sessions.set(session.pid, { ...session, droppedAt: this.seq, savedAt: Date.now() });
    this.ensureSweeper();
  }

  /** Takes back a saved session (once), with what it missed after `offset`; undefined when too late. */
  restore(pid: string, offset: unknown): RestoredSession | undefined {
    const session = this.sessions.get(pid);
    if (!session) return undefined;
    this.sessions.delete(pid);
    if (Date.now() - session.savedAt > this.maxDisconnectionDuration) return undefined;
    let after = session.since;
    if (typeof offset === 'string' && offset.startsWith(this.prefix)) {
      const seq = parseInt(offset.slice(this.prefix.length), 36);
      if (Number.isSafeInteger(seq) && seq >= session.since && seq <= this.seq) after = seq;
    }
    // The log must still hold every packet after that point that may be for this socket, or the
    // client would silently miss some. Nothing between the last one sent to it and the drop was.
    const neededAfter = after < session.lastSent ? after : Math.max(after, session.droppedAt);
    if (neededAfter < this.lost) return undefined;
    return { sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data, after };
  }

  /**
   * The Engine.IO messages of the events after offset `after` that reach `rooms` (a socket's id
   * and rooms), in order, and the offset of the last of them (`after` when none). Called when the
   * restored socket is admitted, after its middlewares: what was sent meanwhile is included.
   * `complete` is false when some packet after `after` was dropped from the log since.
   */
  replay(after: number, rooms: ReadonlySet<Room>): { missed: WirePacket[]; last: number; complete: boolean } {
    const missed: WirePacket[] = [];
    let last = after;
    const packets = this.packets;
    for (let i = this.first; i < packets.length; i++) {
      const packet = packets[i]!;
      if (packet.seq <= after || !selects(packet.target, rooms)) continue;
      if (isOneMessage(packet.wire)) missed.push(packet.wire);
      else missed.push(...packet.wire);
      last = packet.seq;
    }
    return { missed, last, complete: after >= this.lost };
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.sessions.clear();
    this.packets = [];
    this.first = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    const packets = this.packets;
    const oldest = packets[this.first]!;
    packets[this.first++] = undefined;
    this.bytes -= oldest.size;
    this.lost = oldest.seq;
    if (this.first === packets.length) {
      this.packets = [];
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= packets.length) {
      // Compact now and then, so spent slots cost O(1) per packet overall.
      this.packets = packets.slice(this.first);
      this.first = 0;
    }
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.maxDisconnectionDuration / 2)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    const cutoff = now - this.maxDisconnectionDuration;
    for (const [pid, session] of this.sessions) if (session.savedAt < cutoff) this.sessions.delete(pid);
    const oldestKept = cutoff - this.epoch;
    while (this.first < this.packets.length && this.packets[this.first]!.time < oldestKept) this.dropOldest();
    if (this.sessions.size === 0 && this.first === this.packets.length && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

/** A logged event without attachments is kept as its one message rather than a list of one. */
function isOneMessage(wire: WirePacket | readonly WirePacket[]): wire is WirePacket {
  return typeof wire === 'string' || Buffer.isBuffer(wire);
}

function selects(target: BroadcastTarget | SocketId, rooms: ReadonlySet<Room>): boolean {
  if (typeof target === 'string') return rooms.has(target);
  for (const room of target.except) if (rooms.has(room)) return false;
  if (target.rooms.size === 0) return true;
  for (const room of target.rooms) if (rooms.has(room)) return true;
  return false;
}
