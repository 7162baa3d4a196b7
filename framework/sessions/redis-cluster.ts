import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { deconstruct, reconstruct } from '../protocol/binary.ts';
import { PacketType, type Packet } from '../protocol/index.ts';
import { InMemoryAdapter, type BroadcastTarget, type Namespace, type RealtimeServer } from '../realtime/index.ts';
import { createLogger } from '../util/logger.ts';
import { registryNamed, type RegistryCluster } from './registry.ts';

const log = createLogger('cluster');

type Client = ReturnType<typeof createClient>;

export interface RedisClusterOptions {
  /** `redis://host:port[/db]` */
  url: string;
  /** Prefix of every Redis key and channel, so several projects can share a server. @default 'mojo' */
  prefix?: string;
  /**
   * Milliseconds a node's presence lives in Redis without a refresh: a crashed node's connections
   * vanish from `has`/`size`/`keys` everywhere within this time. @default 15000
   */
  presenceTtl?: number;
}

/** What nodes tell each other on the bus. */
type Message =
  | { kind: 'emit'; from: string; registry: string; key: string | null; channel: string | null; event: string; args: unknown; bins: string[] }
  | { kind: 'broadcast'; from: string; nsp: string; rooms: string[]; except: string[]; data: unknown; bins: string[] }
  | { kind: 'presence'; from: string; counts: Record<string, number> }
  | { kind: 'revoke'; from: string; userId: string; sessionId: string }
  | { kind: 'rename'; from: string; before: string; after: string }
  | { kind: 'bye'; from: string };

/** A presence entry: registry, channel and key in one string. */
const SEP = '\u0000';
const entryOf = (registry: string, channel: string, key: string) => `${registry}${SEP}${channel}${SEP}${key}`;

/**
 * Shares `CURRENT_SESSIONS`, `LOGGED_IN_SESSIONS` and room broadcasts between processes through
 * Redis: emits go over pub/sub, presence lives in one hash per node that expires unless refreshed
 * (so a crashed node's entries vanish), and every node keeps a replica of the others' presence so
 * `has`, `size` and `keys` answer at once. When Redis is down, each node serves its own clients,
 * logs the outage once, and resyncs when Redis returns.
 * @example
 * const cluster = new RedisCluster({ url: 'redis://127.0.0.1:6379' }, io);
 * await cluster.start();
 */
export class RedisCluster implements RegistryCluster {
  readonly nodeId = randomBytes(9).toString('base64url');
  private readonly prefix: string;
  private readonly presenceTtl: number;
  private readonly pub: Client;
  private readonly sub: Client;
  private up = false;
  private stopped = false;
  /** This node's presence: entry → connection count. */
  private readonly own = new Map<string, number>();
  /** Other nodes' presence: node → entry → count. */
  private readonly remote = new Map<string, Map<string, number>>();
  private readonly changed = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Called for a control message that the sessions layer acts on. */
  onRevoke: (userId: string, sessionId: string) => void = () => {};
  onRename: (before: string, after: string) => void = () => {};

  constructor(
    options: RedisClusterOptions,
    private readonly io: RealtimeServer,
  ) {
    this.prefix = options.prefix ?? 'mojo';
    this.presenceTtl = options.presenceTtl ?? 15_000;
    this.pub = createClient({
      url: options.url,
      // Fail at once instead of queueing while Redis is away: no request may hang on it.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
    });
    this.sub = this.pub.duplicate();
    for (const client of [this.pub, this.sub]) client.on('error', (err: Error) => this.down(err));
    this.pub.on('ready', () => void this.ready());
    io.useAdapter((nsp) => new ClusterAdapter(nsp, this));
  }

  private get channel(): string {
    return `${this.prefix}:bus`;
  }

  private presenceKey(node: string): string {
    return `${this.prefix}:presence:${node}`;
  }

  /** The Redis client for other uses of the same server (the session store). */
  get client(): Client {
    return this.pub;
  }

  get connected(): boolean {
    return this.up;
  }

  /** Connects; resolves once connected or after `timeout` ms (the node then serves alone until Redis answers). */
  async start(timeout = 3000): Promise<void> {
    const connecting = Promise.all([this.pub.connect(), this.sub.connect().then(() => this.sub.subscribe(this.channel, (raw: string) => this.receive(raw)))]);
    connecting.catch((err: Error) => this.down(err));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([connecting.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))]);
    clearTimeout(timer);
    this.heartbeat = setInterval(() => void this.beat(), Math.max(200, Math.floor(this.presenceTtl / 3)));
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.up) {
      // Leave cleanly: others forget this node now rather than at expiry.
      await this.pub.del(this.presenceKey(this.nodeId)).catch(() => undefined);
      this.send({ kind: 'bye', from: this.nodeId });
    }
    await Promise.all([this.sub.close().catch(() => undefined), this.pub.close().catch(() => undefined)]);
    this.up = false;
  }

  // ---- RegistryCluster ------------------------------------------------------------------------

  remoteCount(registry: string, key: string, channel: string | null): number {
    let count = 0;
    for (const entries of this.remote.values()) {
      if (channel !== null) count += entries.get(entryOf(registry, channel, key)) ?? 0;
      else for (const [entry, n] of entries) if (entry.startsWith(registry + SEP) && entry.endsWith(SEP + key)) count += n;
    }
    return count;
  }

  *remoteKeys(registry: string, channel: string | null): Iterable<string> {
    const seen = new Set<string>();
    const head = channel === null ? registry + SEP : entryOf(registry, channel, '');
    for (const entries of this.remote.values()) {
      for (const [entry, n] of entries) {
        if (n <= 0 || !entry.startsWith(head)) continue;
        const key = entry.slice(entry.lastIndexOf(SEP) + 1);
        if (!seen.has(key)) {
          seen.add(key);
          yield key;
        }
      }
    }
  }

  publishEmit(registry: string, key: string | null, channel: string | null, event: string, args: readonly unknown[]): void {
    const { data, buffers } = deconstruct(args);
    this.send({ kind: 'emit', from: this.nodeId, registry, key, channel, event, args: data, bins: buffers.map((b) => b.toString('base64')) });
  }

  presence(registry: string, key: string, channel: string, count: number): void {
    const entry = entryOf(registry, channel, key);
    if (count > 0) this.own.set(entry, count);
    else this.own.delete(entry);
    this.changed.add(entry);
    // Changes of one burst of connects leave together.
    this.flushTimer ??= setTimeout(() => void this.flushPresence(), 20);
  }

  /** Tells every node that `userId` logged out of session `sessionId`. */
  publishRevoke(userId: string, sessionId: string): void {
    this.send({ kind: 'revoke', from: this.nodeId, userId, sessionId });
  }

  publishRename(before: string, after: string): void {
    this.send({ kind: 'rename', from: this.nodeId, before, after });
  }

  /** @internal Forwards a room broadcast to the other nodes. */
  publishBroadcast(nsp: string, data: unknown[], target: BroadcastTarget): void {
    const { data: plain, buffers } = deconstruct(data);
    this.send({ kind: 'broadcast', from: this.nodeId, nsp, rooms: [...target.rooms], except: [...target.except], data: plain, bins: buffers.map((b) => b.toString('base64')) });
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private send(message: Message): void {
    if (!this.up) return; // down: local deliveries go on; the outage was logged once
    this.pub.publish(this.channel, JSON.stringify(message)).catch((err: Error) => this.down(err));
  }

  private receive(raw: string): void {
    let message: Message;
    try {
      message = JSON.parse(raw) as Message;
    } catch {
      log.warn('ignoring a malformed message on the cluster bus');
      return;
    }
    if (message.from === this.nodeId) return;
    try {
      switch (message.kind) {
        case 'emit': {
          const args = reconstruct(message.args, message.bins.map((b) => Buffer.from(b, 'base64'))) as unknown[];
          const registry = registryNamed(message.registry);
          (message.channel === null ? registry : registry?.onChannel(message.channel))?.deliverLocal(message.key, message.event, args);
          return;
        }
        case 'broadcast': {
          const data = reconstruct(message.data, message.bins.map((b) => Buffer.from(b, 'base64'))) as unknown[];
          const packet: Packet = { type: PacketType.EVENT, nsp: message.nsp, data };
          this.io.namespaces.get(message.nsp)?.adapter.broadcast(packet, { rooms: new Set(message.rooms), except: new Set(message.except), local: true });
          return;
        }
        case 'presence': {
          let entries = this.remote.get(message.from);
          if (!entries) this.remote.set(message.from, (entries = new Map()));
          for (const [entry, count] of Object.entries(message.counts)) {
            if (count > 0) entries.set(entry, count);
            else entries.delete(entry);
          }
          return;
        }
        case 'revoke':
          this.onRevoke(message.userId, message.sessionId);
          return;
        case 'rename':
          this.onRename(message.before, message.after);
          return;
        case 'bye':
          this.remote.delete(message.from);
          return;
      }
    } catch (err) {
      log.error(`handling a ${message.kind} message from node ${message.from} failed`, err);
    }
  }

  private async flushPresence(): Promise<void> {
    this.flushTimer = null;
    if (this.changed.size === 0) return;
    const counts: Record<string, number> = {};
    for (const entry of this.changed) counts[entry] = this.own.get(entry) ?? 0;
    this.changed.clear();
    if (!this.up) return; // written whole on reconnect
    const key = this.presenceKey(this.nodeId);
    const multi = this.pub.multi();
    for (const [entry, count] of Object.entries(counts)) {
      if (count > 0) multi.hSet(key, entry, String(count));
      else multi.hDel(key, entry);
    }
    multi.pExpire(key, this.presenceTtl);
    try {
      await multi.exec();
    } catch (err) {
      this.down(err as Error);
      return;
    }
    this.send({ kind: 'presence', from: this.nodeId, counts });
  }

  /** Refreshes this node's presence expiry and rebuilds the replica of the others'. */
  private async beat(): Promise<void> {
    if (!this.up || this.stopped) return;
    try {
      await this.pub.pExpire(this.presenceKey(this.nodeId), this.presenceTtl);
      await this.resync();
    } catch (err) {
      this.down(err as Error);
    }
  }

  private async resync(): Promise<void> {
    const fresh = new Map<string, Map<string, number>>();
    const prefix = this.presenceKey('');
    for await (const keys of this.pub.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) {
      for (const key of keys as unknown as string[]) {
        const node = key.slice(prefix.length);
        if (node === this.nodeId) continue;
        const hash = await this.pub.hGetAll(key);
        const entries = new Map<string, number>();
        for (const [entry, count] of Object.entries(hash)) if (Number(count) > 0) entries.set(entry, Number(count));
        fresh.set(node, entries);
      }
    }
    this.remote.clear();
    for (const [node, entries] of fresh) this.remote.set(node, entries);
  }

  /** Redis answers again: write this node's presence whole, then learn the others'. */
  private async ready(): Promise<void> {
    if (this.stopped) return;
    const wasDown = !this.up;
    this.up = true;
    try {
      const key = this.presenceKey(this.nodeId);
      const multi = this.pub.multi().del(key);
      if (this.own.size > 0) multi.hSet(key, Object.fromEntries([...this.own].map(([entry, count]) => [entry, String(count)])));
      multi.pExpire(key, this.presenceTtl);
      await multi.exec();
      await this.resync();
      const counts: Record<string, number> = Object.fromEntries(this.own);
      if (this.own.size > 0) this.send({ kind: 'presence', from: this.nodeId, counts });
    } catch (err) {
      this.down(err as Error);
      return;
    }
    if (wasDown && this.outageLogged) {
      log.warn('Redis is reachable again: cross-node delivery resumed');
      this.outageLogged = false;
    }
  }

  private outageLogged = false;

  private down(err: Error): void {
    if (this.stopped) return;
    if (this.up) this.up = false;
    // Other nodes' presence may be stale while we cannot hear them.
    this.remote.clear();
    if (!this.outageLogged) {
      this.outageLogged = true;
      log.warn(`Redis is unreachable (${err.message}); serving this node's clients only until it returns`);
    }
  }
}

/** Room broadcasts reach sockets on every node: delivered here, and forwarded on the bus. */
export class ClusterAdapter extends InMemoryAdapter {
  constructor(
    nsp: Namespace,
    private readonly cluster: RedisCluster,
  ) {
    super(nsp);
  }

  override broadcast(packet: Packet, target: BroadcastTarget): void {
    // Forwarded before the local delivery appends its recovery offset to the arguments.
    if (!target.local && packet.type === PacketType.EVENT && packet.id === undefined) {
      this.cluster.publishBroadcast(this.nsp.name, [...(packet.data as unknown[])], target);
    }
    super.broadcast(packet, target);
  }
}
