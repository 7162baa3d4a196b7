import type { SocketConnection } from '../realtime/index.ts';

/** An HTTP session's id (the `session_id` cookie's value). Never an Engine.IO sid or socket id. */
export type SessionId = string;
/** A user's id (their username). */
export type UserId = string;

/** What a registry holds: a live connection of an app channel. */
export type Member = SocketConnection<any>;

/**
 * A key's connections in a registry: most keys have one (one tab), held as it is; a key with
 * several holds them in a Set. Every connection opening adds one, so the usual case makes no Set.
 */
type Entry = Member | Set<Member>;

/** The connections of an entry, in the order they were added. */
function membersIn(entry: Entry): Iterable<Member> {
  return entry instanceof Set ? entry : [entry];
}

/**
 * How a registry delivers and shares its entries. The local adapter reaches this process's
 * connections; a cluster adapter (Redis) also reaches other processes, behind the same API.
 */
export interface RegistryAdapter {
  /** Delivers `event` to `members` (all local), encoding once per channel. */
  deliver(members: Iterable<Member>, event: string, args: readonly unknown[]): number;
}

/** Delivers to local connections: one broadcast per channel, so each packet is encoded once. */
export const localAdapter: RegistryAdapter = {
  deliver(members, event, args) {
    const byChannel = new Map<Member['nsp'], string[]>();
    let count = 0;
    for (const member of members) {
      if (!member.connected) continue;
      const ids = byChannel.get(member.nsp);
      if (ids) ids.push(member.id);
      else byChannel.set(member.nsp, [member.id]);
      count++;
    }
    for (const [nsp, ids] of byChannel) nsp.to(ids).local.emit(event, ...args);
    return count;
  },
};

/**
 * What a registry asks of a cluster (Redis): which keys other processes hold, and delivery to
 * them. Without one, a registry is this process's connections alone.
 */
export interface RegistryCluster {
  /** How many connections of `key` other processes hold (on `channel` only, when given). */
  remoteCount(registry: string, key: string, channel: string | null): number;
  /** Keys other processes hold (on `channel` only, when given). */
  remoteKeys(registry: string, channel: string | null): Iterable<string>;
  /** Delivers an emit on other processes: to `key`'s connections, or to everyone when null. */
  publishEmit(registry: string, key: string | null, channel: string | null, event: string, args: readonly unknown[]): void;
  /** This process now holds `count` connections of `key` on `channel`. */
  presence(registry: string, key: string, channel: string, count: number): void;
  /** Tells other processes that `userId` logged out of `sessionId`. */
  publishRevoke(userId: string, sessionId: string): void;
  /** Tells other processes that session `before` is now `after` (login). */
  publishRename(before: string, after: string): void;
}

let cluster: RegistryCluster | null = null;

/** The cluster the registries use, if any. */
export function registryCluster(): RegistryCluster | null {
  return cluster;
}

/** Connects the registries to a cluster (or back to this process alone with null). */
export function setRegistryCluster(next: RegistryCluster | null): void {
  cluster = next;
}

/** Every live connection of one key (one visitor's tabs, one user's devices), on every node. */
export class ConnectionGroup {
  constructor(
    private readonly members: readonly Member[],
    private readonly adapter: RegistryAdapter,
    private readonly remote: number = 0,
    private readonly address: { registry: string; key: string; channel: string | null } | null = null,
  ) {}

  /** How many live connections the key has (in the whole cluster). */
  get size(): number {
    return this.members.length + this.remote;
  }

  /** Sends `event` to every connection of the key; returns how many it reached (or was sent to). */
  emit(event: string, ...args: unknown[]): number {
    if (cluster && this.address && this.remote > 0) cluster.publishEmit(this.address.registry, this.address.key, this.address.channel, event, args);
    return this.adapter.deliver(this.members, event, args) + this.remote;
  }

  /** Sends a `message` to every connection of the key. */
  send(message: unknown): number {
    return this.emit('message', message);
  }

  [Symbol.iterator](): Iterator<Member> {
    return this.members[Symbol.iterator]();
  }
}

/**
 * A registry of live connections by key: `CURRENT_SESSIONS` (by session id) and
 * `LOGGED_IN_SESSIONS` (by user id). A key maps to all its connections (several tabs).
 * @example
 * LOGGED_IN_SESSIONS.get('ada')?.emit('whisper', { from: 'bob', text: 'hi' });
 * CURRENT_SESSIONS.in('Chat').emit('joined', { count: CURRENT_SESSIONS.size });
 */
export class SessionRegistry<K extends string = string> {
  private readonly entries: Map<K, Entry>;
  adapter: RegistryAdapter = localAdapter;

  constructor(
    readonly name: string,
    /** Restricts this view to one app's channel (`/<App>Socket`); null for all. */
    readonly channel: string | null = null,
    /** @internal The entries of the registry this is a view of (see {@link onChannel}). */
    shared?: Map<K, Entry>,
  ) {
    this.entries = shared ?? new Map();
  }

  /** Every live connection of `key`, or undefined when it has none. */
  get(key: K): ConnectionGroup | undefined {
    const members = this.membersOf(key);
    const remote = cluster ? cluster.remoteCount(this.name, key, this.channel) : 0;
    if (members.length === 0 && remote === 0) return undefined;
    return new ConnectionGroup(members, this.adapter, remote, { registry: this.name, key, channel: this.channel });
  }

  has(key: K): boolean {
    return this.membersOf(key).length > 0 || (cluster !== null && cluster.remoteCount(this.name, key, this.channel) > 0);
  }

  /** How many keys have at least one live connection (in the whole cluster). */
  get size(): number {
    if (this.channel === null && !cluster) return this.entries.size;
    let count = 0;
    for (const _ of this.keys()) count++;
    return count;
  }

  *keys(): IterableIterator<K> {
    const seen = new Set<K>();
    for (const key of this.entries.keys()) {
      if (this.channel === null || this.membersOf(key).length > 0) {
        seen.add(key);
        yield key;
      }
    }
    if (cluster) for (const key of cluster.remoteKeys(this.name, this.channel) as Iterable<K>) if (!seen.has(key)) yield key;
  }

  *[Symbol.iterator](): IterableIterator<[K, ConnectionGroup]> {
    for (const key of this.keys()) yield [key, this.get(key)!];
  }

  /** Sends `event` to every connection in the registry (or in this app's view); returns how many. */
  emit(event: string, ...args: unknown[]): number {
    cluster?.publishEmit(this.name, null, this.channel, event, args);
    return this.adapter.deliver(this.allMembers(), event, args);
  }

  /** @internal Delivers an emit published by another node to this process's connections. */
  deliverLocal(key: K | null, event: string, args: readonly unknown[]): number {
    return this.adapter.deliver(key === null ? this.allMembers() : this.membersOf(key), event, args);
  }

  send(message: unknown): number {
    return this.emit('message', message);
  }

  /** The same registry, limited to the connections of app `app` (its `/<app>Socket` channel). */
  in(app: string): SessionRegistry<K> {
    return this.onChannel(`/${app}Socket`);
  }

  /** The same registry, limited to the connections of one namespace (`/ChatSocket`, `/`). */
  onChannel(channel: string): SessionRegistry<K> {
    const view = new SessionRegistry<K>(this.name, channel, this.entries);
    view.adapter = this.adapter;
    return view;
  }

  /** @internal Records `member` under `key`. */
  add(key: K, member: Member): void {
    const entry = this.entries.get(key);
    if (entry === undefined) this.entries.set(key, member);
    else if (entry instanceof Set) entry.add(member);
    else if (entry !== member) this.entries.set(key, new Set([entry, member]));
    this.announce(key, member.nsp.name);
  }

  /** @internal Forgets `member` under `key`. */
  delete(key: K, member: Member): void {
    const entry = this.entries.get(key);
    if (entry === member) this.entries.delete(key);
    else if (entry instanceof Set && entry.delete(member)) this.collapse(key, entry);
    else return;
    this.announce(key, member.nsp.name);
  }

  /** @internal Removes the members of `key` that `match` selects; returns them. */
  drop(key: K, match: (member: Member) => boolean = () => true): Member[] {
    const entry = this.entries.get(key);
    if (entry === undefined) return [];
    const dropped = [...membersIn(entry)].filter(match);
    if (entry instanceof Set) {
      // Out of the Set itself: an emit still walking it (a lazy adapter) must not reach them.
      for (const member of dropped) entry.delete(member);
      this.collapse(key, entry);
    } else if (dropped.length > 0) this.entries.delete(key);
    for (const channel of new Set(dropped.map((member) => member.nsp.name))) this.announce(key, channel);
    return dropped;
  }

  /** @internal Every (key, channel, count) this process holds, for a cluster's full resync. */
  *presenceEntries(): IterableIterator<[key: K, channel: string, count: number]> {
    for (const [key, entry] of this.entries) {
      const counts = new Map<string, number>();
      for (const member of membersIn(entry)) counts.set(member.nsp.name, (counts.get(member.nsp.name) ?? 0) + 1);
      for (const [channel, count] of counts) yield [key, channel, count];
    }
  }

  /** A Set left with one connection becomes that connection; left with none, the key goes. */
  private collapse(key: K, members: Set<Member>): void {
    if (members.size === 1) this.entries.set(key, members.values().next().value!);
    else if (members.size === 0) this.entries.delete(key);
  }

  /** Tells the cluster how many connections of `key` this process now holds on `channel`. */
  private announce(key: K, channel: string): void {
    if (!cluster) return;
    let count = 0;
    const entry = this.entries.get(key);
    if (entry !== undefined) for (const member of membersIn(entry)) if (member.nsp.name === channel) count++;
    cluster.presence(this.name, key, channel, count);
  }

  /** @internal Empties the registry (tests, shutdown). */
  clear(): void {
    this.entries.clear();
  }

  private membersOf(key: K): Member[] {
    const entry = this.entries.get(key);
    if (entry === undefined) return [];
    const channel = this.channel;
    const live: Member[] = [];
    for (const member of membersIn(entry)) if (member.connected && (channel === null || member.nsp.name === channel)) live.push(member);
    return live;
  }

  /** Connections removed while this runs are not reached; ones added may or may not be. */
  private *allMembers(): IterableIterator<Member> {
    const channel = this.channel;
    for (const entry of this.entries.values()) {
      for (const member of membersIn(entry)) if (channel === null || member.nsp.name === channel) yield member;
    }
  }
}

/** The registries by name, for deliveries published by other nodes. */
export function registryNamed(name: string): SessionRegistry | undefined {
  return name === CURRENT_SESSIONS.name ? CURRENT_SESSIONS : name === LOGGED_IN_SESSIONS.name ? LOGGED_IN_SESSIONS : undefined;
}

/** Everyone with a session, by session id. */
export const CURRENT_SESSIONS = new SessionRegistry<SessionId>('CURRENT_SESSIONS');
/** Everyone logged in, by user id; the session store confirms each login. */
export const LOGGED_IN_SESSIONS = new SessionRegistry<UserId>('LOGGED_IN_SESSIONS');
