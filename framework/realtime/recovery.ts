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
   * log's memory under heavy traffic: each kept event counts as its encoded size in UTF-8 plus
   * 48 bytes for its slots in the index (whose columns are resized by doubling and halving, so
   * up to four times that may be allocated). Text and index are kept outside the JavaScript heap.
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

/** What a returning client gets back. */
export interface RestoredSession {
  readonly sid: SocketId;
  readonly pid: string;
  readonly rooms: readonly Room[];
  readonly data: unknown;
  /** The offset its client had seen: what it missed is what came after, see {@link RecoveryLog.replay}. */
  readonly after: number;
}

/** Bytes counted per logged packet besides its messages: its slots in the index. */
const ENTRY_OVERHEAD = 48;
/** Encoded text is kept in chunks of this many bytes, outside the JavaScript heap. */
const CHUNK_SIZE = 256 * 1024;
/** Longer texts (and events with binary attachments) are kept as they are instead. */
const MAX_CHUNKED_LENGTH = 16 * 1024;
const INITIAL_ENTRIES = 1024;
/** `chunk` of an event kept as its JavaScript value (see `RecoveryLog.values`). */
const NOT_CHUNKED = -1;

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
 *
 * Every event sent is kept for a while, so the log is stored for the garbage collector's sake:
 * the encoded text goes as UTF-8 into large buffers outside the JavaScript heap, and the index is
 * columns of typed arrays. Only an event's target (a socket id or a broadcast's rooms) stays a
 * JavaScript reference; a long text or one with binary attachments is kept as it is.
 */
export class RecoveryLog {
  private readonly sessions = new Map<string, SavedSession>();
  // The index: slot i, for `first` <= i < `end`, is one kept event, oldest first.
  private seqs = new Float64Array(INITIAL_ENTRIES);
  /** About when it was sent: the {@link clock} then. */
  private times = new Float64Array(INITIAL_ENTRIES);
  /** Serial number of the chunk holding its text, or NOT_CHUNKED. */
  private chunkOf = new Int32Array(INITIAL_ENTRIES);
  private startOf = new Int32Array(INITIAL_ENTRIES);
  /** Its bytes: of text in its chunk, or of its messages when not chunked. With ENTRY_OVERHEAD, what it counts against `maxLoggedBytes`. */
  private lengthOf = new Int32Array(INITIAL_ENTRIES);
  /** Who it went to: a broadcast's rooms, or one socket's id. */
  private targets: (BroadcastTarget | SocketId | undefined)[] = new Array(INITIAL_ENTRIES);
  private first = 0;
  private end = 0;
  /** The events not kept in chunks, by seq: as sent (the text alone, or the text and its attachments). */
  private readonly values = new Map<number, WirePacket | readonly WirePacket[]>();
  /** Chunks still holding kept text, oldest first; `chunks[0]` has serial number `chunkBase`. */
  private chunks: Buffer[] = [];
  /** How many kept events have their text in each chunk. */
  private chunkEvents: number[] = [];
  private chunkBase = 0;
  /** Bytes written to the newest chunk. */
  private fill = CHUNK_SIZE;
  /** A chunk emptied and kept for reuse, so steady traffic allocates none. */
  private spare: Buffer | null = null;
  private bytes = 0;
  private seq = 0;
  /** Every packet up to this offset is gone from the log (expired or pushed out by the cap). */
  private lost = 0;
  /**
   * The time (ms) as of the last sweep, or when the sweeper started: events are stamped with it
   * rather than reading the clock per event (which costs about as much as storing the event). A
   * stamp is at most one sweep interval early, which {@link sweep} allows for.
   */
  private clock = 0;
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

  /**
   * How many packets, and how many bytes of them, the log holds now; `buffers`: the bytes of the
   * buffers their text is kept in (whole chunks, a spare one included).
   */
  get size(): { packets: number; bytes: number; buffers: number } {
    return { packets: this.end - this.first, bytes: this.bytes, buffers: (this.chunks.length + (this.spare ? 1 : 0)) * CHUNK_SIZE };
  }

  /** Takes the offset of the next outgoing event, to append to its arguments before encoding. */
  next(): string {
    return this.prefix + (++this.seq).toString(36);
  }

  /**
   * Stores the encoded messages of the event whose offset {@link next} returned when `seq` was
   * the {@link head}. An event that failed to encode is simply never kept: a gap in the offsets is
   * harmless. Sizes count UTF-8 bytes (a binary attachment, its length).
   */
  keep(seq: number, target: BroadcastTarget | SocketId, wire: WirePacket | readonly WirePacket[]): void {
    this.ensureSweeper(); // first: it sets the clock the event is stamped with
    if (this.end === this.seqs.length) this.makeRoom();
    const i = this.end++;
    let length = 0;
    if (typeof wire === 'string' && wire.length <= MAX_CHUNKED_LENGTH) {
      // A UTF-16 unit takes at most 3 UTF-8 bytes: only near a chunk's end is the exact length
      // needed. A full chunk (or none yet: `fill` starts at CHUNK_SIZE) takes nothing more, not even "".
      if (this.fill + wire.length * 3 >= CHUNK_SIZE && this.fill + Buffer.byteLength(wire) >= CHUNK_SIZE) this.newChunk();
      const last = this.chunks.length - 1;
      length = this.chunks[last]!.write(wire, this.fill);
      this.chunkOf[i] = this.chunkBase + last;
      this.startOf[i] = this.fill;
      this.chunkEvents[last]!++;
      this.fill += length;
    } else {
      this.chunkOf[i] = NOT_CHUNKED;
      this.values.set(seq, wire);
      if (isOneMessage(wire)) length = byteLength(wire);
      else for (const part of wire) length += byteLength(part);
    }
    this.lengthOf[i] = length;
    this.seqs[i] = seq;
    this.times[i] = this.clock;
    this.targets[i] = target;
    this.bytes += ENTRY_OVERHEAD + length;
    while (this.bytes > this.maxLoggedBytes && this.first < this.end) this.dropOldest();
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
    const picked: number[] = [];
    let sorted = true;
    for (let i = this.first; i < this.end; i++) {
      const seq = this.seqs[i]!;
      if (seq <= after || !selects(this.targets[i]!, rooms)) continue;
      // An event sent from inside another's send (a handler of the disconnect its write caused)
      // is kept before the outer one: the client gets them in offset order all the same.
      if (picked.length > 0 && seq < this.seqs[picked[picked.length - 1]!]!) sorted = false;
      picked.push(i);
    }
    if (!sorted) picked.sort((a, b) => this.seqs[a]! - this.seqs[b]!);
    const missed: WirePacket[] = [];
    for (const i of picked) {
      const chunk = this.chunkOf[i]!;
      if (chunk !== NOT_CHUNKED) {
        const start = this.startOf[i]!;
        missed.push(this.chunks[chunk - this.chunkBase]!.toString('utf8', start, start + this.lengthOf[i]!));
      } else {
        const wire = this.values.get(this.seqs[i]!)!;
        if (isOneMessage(wire)) missed.push(wire);
        else missed.push(...wire);
      }
    }
    const last = picked.length > 0 ? this.seqs[picked[picked.length - 1]!]! : after;
    return { missed, last, complete: after >= this.lost };
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.sessions.clear();
    this.targets.fill(undefined);
    this.values.clear();
    this.chunks = [];
    this.chunkEvents = [];
    this.spare = null;
    this.fill = CHUNK_SIZE;
    this.first = this.end = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    const i = this.first++;
    this.bytes -= ENTRY_OVERHEAD + this.lengthOf[i]!;
    const seq = this.seqs[i]!;
    // The highest gone (kept out of order, a lower one may outlive it): never understates a loss.
    if (seq > this.lost) this.lost = seq;
    this.targets[i] = undefined;
    const chunk = this.chunkOf[i]!;
    if (chunk === NOT_CHUNKED) {
      this.values.delete(seq);
      return;
    }
    // Events leave in the order they came, so chunks empty oldest first; the newest stays to write on.
    if (--this.chunkEvents[chunk - this.chunkBase]! === 0) {
      while (this.chunks.length > 1 && this.chunkEvents[0] === 0) {
        this.spare = this.chunks.shift()!;
        this.chunkEvents.shift();
        this.chunkBase++;
      }
    }
  }

  private newChunk(): void {
    // The newest chunk holds no kept event (all dropped): write it over rather than keep it forever.
    if (this.chunks.length > 0 && this.chunkEvents[this.chunks.length - 1] === 0) {
      this.fill = 0;
      return;
    }
    const chunk = this.spare ?? Buffer.allocUnsafeSlow(CHUNK_SIZE);
    this.spare = null;
    this.chunks.push(chunk);
    this.chunkEvents.push(0);
    this.fill = 0;
  }

  /**
   * Frees the index slot after the last: moves the kept events to the front of the columns,
   * doubling them when the events fill more than half, halving them when they fill a quarter or
   * less. Either way at least a quarter of the slots are free after it, so it costs O(1) per event
   * overall, and the columns hold at most four slots per kept event (two once they are full).
   */
  private makeRoom(): void {
    const { first, end } = this;
    const count = end - first;
    const capacity = this.seqs.length;
    let size = capacity;
    if (count * 2 > capacity) size = capacity * 2;
    else if (count * 4 <= capacity && capacity > INITIAL_ENTRIES) size = capacity / 2;
    // Into the same columns when their size stays (moving down never overwrites what is still to move).
    const move = <T extends Float64Array | Int32Array>(column: T, make: new (length: number) => T): T => {
      if (size === capacity) {
        column.copyWithin(0, first, end);
        return column;
      }
      const moved = new make(size);
      moved.set(column.subarray(first, end));
      return moved;
    };
    this.seqs = move(this.seqs, Float64Array);
    this.times = move(this.times, Float64Array);
    this.chunkOf = move(this.chunkOf, Int32Array);
    this.startOf = move(this.startOf, Int32Array);
    this.lengthOf = move(this.lengthOf, Int32Array);
    const old = this.targets;
    const targets: (BroadcastTarget | SocketId | undefined)[] = size === capacity ? old : new Array(size);
    for (let i = 0; i < count; i++) targets[i] = old[first + i];
    if (targets === old) old.fill(undefined, count, end);
    this.targets = targets;
    this.first = 0;
    this.end = count;
  }

  /** How often the sweeper runs while there is anything to sweep, in ms. */
  private get sweepEvery(): number {
    return Math.max(1000, Math.min(60_000, Math.floor(this.maxDisconnectionDuration / 2)));
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    this.clock = Date.now();
    this.sweeper = setInterval(() => this.sweep(), this.sweepEvery);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = (this.clock = Date.now());
    const cutoff = now - this.maxDisconnectionDuration;
    for (const [pid, session] of this.sessions) if (session.savedAt < cutoff) this.sessions.delete(pid);
    // A stamp may be up to one interval early: an event goes once it is surely older than the duration.
    const oldestKept = cutoff - this.sweepEvery;
    while (this.first < this.end && this.times[this.first]! < oldestKept) this.dropOldest();
    if (this.sessions.size === 0 && this.first === this.end && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

function byteLength(message: WirePacket): number {
  return typeof message === 'string' ? Buffer.byteLength(message) : message.length;
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
