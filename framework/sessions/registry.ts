import type { SocketConnection } from '../realtime/index.ts';

/** An HTTP session's id (the `session_id` cookie's value). Never an Engine.IO sid or socket id. */
export type SessionId = string;
/** A user's id (their username). */
export type UserId = string;

/** What a registry holds: a live connection of an app channel. */
export type Member = SocketConnection<any>;

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
    for (const [nsp, ids] of byChannel) nsp.to(ids).emit(event, ...args);
    return count;
  },
};

/** Every live connection of one key (one visitor's tabs, one user's devices). */
export class ConnectionGroup {
  constructor(
    private readonly members: readonly Member[],
    private readonly adapter: RegistryAdapter,
  ) {}

  /** How many live connections the key has. */
  get size(): number {
    return this.members.length;
  }

  /** Sends `event` to every connection of the key; returns how many it reached. */
  emit(event: string, ...args: unknown[]): number {
    return this.adapter.deliver(this.members, event, args);
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
  private readonly entries: Map<K, Set<Member>>;
  adapter: RegistryAdapter = localAdapter;

  constructor(
    readonly name: string,
    /** Restricts this view to one app's channel (`/<App>Socket`); null for all. */
    readonly channel: string | null = null,
    shared?: Map<K, Set<Member>>,
  ) {
    this.entries = shared ?? new Map();
  }

  /** Every live connection of `key`, or undefined when it has none. */
  get(key: K): ConnectionGroup | undefined {
    const members = this.membersOf(key);
    return members.length > 0 ? new ConnectionGroup(members, this.adapter) : undefined;
  }

  has(key: K): boolean {
    return this.membersOf(key).length > 0;
  }

  /** How many keys have at least one live connection. */
  get size(): number {
    if (this.channel === null) return this.entries.size;
    let count = 0;
    for (const key of this.entries.keys()) if (this.membersOf(key).length > 0) count++;
    return count;
  }

  *keys(): IterableIterator<K> {
    for (const key of this.entries.keys()) if (this.channel === null || this.membersOf(key).length > 0) yield key;
  }

  *[Symbol.iterator](): IterableIterator<[K, ConnectionGroup]> {
    for (const key of this.keys()) yield [key, this.get(key)!];
  }

  /** Sends `event` to every connection in the registry (or in this app's view); returns how many. */
  emit(event: string, ...args: unknown[]): number {
    return this.adapter.deliver(this.allMembers(), event, args);
  }

  send(message: unknown): number {
    return this.emit('message', message);
  }

  /** The same registry, limited to the connections of app `app` (its `/<app>Socket` channel). */
  in(app: string): SessionRegistry<K> {
    const view = new SessionRegistry<K>(this.name, `/${app}Socket`, this.entries);
    view.adapter = this.adapter;
    return view;
  }

  /** @internal Records `member` under `key`. */
  add(key: K, member: Member): void {
    let members = this.entries.get(key);
    if (!members) this.entries.set(key, (members = new Set()));
    members.add(member);
  }

  /** @internal Forgets `member` under `key`. */
  delete(key: K, member: Member): void {
    const members = this.entries.get(key);
    if (members?.delete(member) && members.size === 0) this.entries.delete(key);
  }

  /** @internal Removes the members of `key` that `match` selects; returns them. */
  drop(key: K, match: (member: Member) => boolean = () => true): Member[] {
    const members = this.entries.get(key);
    if (!members) return [];
    const dropped = [...members].filter(match);
    for (const member of dropped) members.delete(member);
    if (members.size === 0) this.entries.delete(key);
    return dropped;
  }

  /** @internal Empties the registry (tests, shutdown). */
  clear(): void {
    this.entries.clear();
  }

  private membersOf(key: K): Member[] {
    const members = this.entries.get(key);
    if (!members) return [];
    const channel = this.channel;
    const live: Member[] = [];
    for (const member of members) if (member.connected && (channel === null || member.nsp.name === channel)) live.push(member);
    return live;
  }

  private *allMembers(): IterableIterator<Member> {
    const channel = this.channel;
    for (const members of this.entries.values()) {
      for (const member of members) if (channel === null || member.nsp.name === channel) yield member;
    }
  }
}

/** Everyone with a session, by session id. */
export const CURRENT_SESSIONS = new SessionRegistry<SessionId>('CURRENT_SESSIONS');
/** Everyone logged in, by user id; the session store confirms each login. */
export const LOGGED_IN_SESSIONS = new SessionRegistry<UserId>('LOGGED_IN_SESSIONS');
