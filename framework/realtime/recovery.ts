import type { BroadcastTarget } from './adapter.ts';
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
}

interface SavedSession {
  readonly sid: SocketId;
  readonly pid: string;
  readonly rooms: readonly Room[];
  readonly data: unknown;
  /** Offset of the newest packet when the socket connected: anything after it may be missed. */
  readonly since: number;
  readonly savedAt: number;
}

interface LoggedPacket {
  readonly seq: number;
  readonly time: number;
  /** Who it went to: a broadcast's rooms, or one socket's id. */
  readonly target: BroadcastTarget | SocketId;
  /** The event's arguments; the offset pushed after them (at `length`) is not part of them. */
  readonly data: unknown[];
  readonly length: number;
}

/** What a returning client gets back. */
export interface RestoredSession {
  readonly sid: SocketId;
  readonly pid: string;
  readonly rooms: readonly Room[];
  readonly data: unknown;
  /** The events it missed, each with its offset as the last argument. */
  readonly missed: unknown[][];
}

/**
 * Keeps, per namespace, the packets sent in the last `maxDisconnectionDuration` ms and the state of
 * sockets that dropped, so a client coming back with its `pid` and last `offset` gets the same id,
 * its rooms and every packet it missed. Offsets are `<prefix><seq>` strings: the client takes the
 * last string argument of each event as its offset, so every event carries one while this is on.
 */
export class RecoveryLog {
  private readonly sessions = new Map<string, SavedSession>();
  private readonly packets: LoggedPacket[] = [];
  private seq = 0;
  private readonly prefix = Math.random().toString(36).slice(2, 8) + '-';
  private sweeper: NodeJS.Timeout | null = null;

  constructor(readonly maxDisconnectionDuration: number) {}

  /** The offset of the newest packet (what a socket connecting now has seen). */
  get head(): number {
    return this.seq;
  }

  /**
   * Records an outgoing event and returns its offset, which the caller appends to `data` (the
   * log keeps the array, not a copy, and remembers where the arguments end).
   */
  record(data: unknown[], target: BroadcastTarget | SocketId): string {
    const seq = ++this.seq;
    this.packets.push({ seq, time: Date.now(), target, data, length: data.length });
    this.ensureSweeper();
    return this.prefix + seq.toString(36);
  }

  /** Keeps a dropped socket's state for `maxDisconnectionDuration`. */
  save(session: Omit<SavedSession, 'savedAt'>): void {
    this.sessions.set(session.pid, { ...session, savedAt: Date.now() });
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
      if (Number.isSafeInteger(seq) && seq >= session.since) after = seq;
    }
    // The log must still hold everything after that point, or the client would silently miss some.
    const oldest = this.packets[0];
    if (oldest && oldest.seq > after + 1) return undefined;
    const rooms = new Set<Room>([session.sid, ...session.rooms]);
    const missed: unknown[][] = [];
    for (const packet of this.packets) {
      if (packet.seq <= after || !selects(packet.target, rooms)) continue;
      missed.push([...packet.data.slice(0, packet.length), this.prefix + packet.seq.toString(36)]);
    }
    return { sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data, missed };
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.sessions.clear();
    this.packets.length = 0;
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.maxDisconnectionDuration / 2)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.maxDisconnectionDuration;
    for (const [pid, session] of this.sessions) if (session.savedAt < cutoff) this.sessions.delete(pid);
    let drop = 0;
    while (drop < this.packets.length && this.packets[drop]!.time < cutoff) drop++;
    if (drop > 0) this.packets.splice(0, drop);
    if (this.sessions.size === 0 && this.packets.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

function selects(target: BroadcastTarget | SocketId, rooms: ReadonlySet<Room>): boolean {
  if (typeof target === 'string') return rooms.has(target);
  for (const room of target.except) if (rooms.has(room)) return false;
  if (target.rooms.size === 0) return true;
  for (const room of target.rooms) if (rooms.has(room)) return true;
  return false;
}
