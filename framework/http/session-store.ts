import session, { type SessionData } from 'express-session';
import { createLogger } from '../util/logger.ts';
import type { LiveSession } from './context.ts';
import type { Database } from './database.ts';

const log = createLogger('http');

/** Options of {@link SqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /**
   * How long (ms) a session lives when its cookie carries no expiry of its own (a browser-session
   * cookie); sessions whose cookie has `expires`/`maxAge` live exactly that long. Required.
   */
  maxAgeMs: number;
  /**
   * How often (ms) expired rows are deleted in the background; 0 turns it off (call
   * {@link SqliteSessionStore.prune} yourself). The timer never keeps the process alive.
   * @default 900000 (15 minutes)
   */
  pruneIntervalMs?: number;
}

const DEFAULT_PRUNE_INTERVAL_MS = 15 * 60_000;

/** At most this many live-session lookups remembered (see {@link SqliteSessionStore.getLiveSession}). */
export const MAX_REMEMBERED_SESSIONS = 32_768;

interface SessionRow {
  data: string;
  expires: number;
}

interface LiveSessionRow extends LiveSession {
  expires: number;
}

/**
 * The express-session store of a Mojo project, in the `sessions` table of the database from
 * `openDatabase`: sessions outlive a restart when the database is a file. Expired sessions are
 * never returned; they are deleted when read and by a periodic prune. The store does not own the
 * database: `close()` stops its timer, closing the database stays with whoever opened it.
 *
 * @example
 * const store = new SqliteSessionStore(openDatabase(config.database, root), { maxAgeMs: 14 * 86_400_000 });
 * app.use(session({ store, secret: [...config.cookieSecret], name: 'session_id', resave: false, saveUninitialized: false }));
 */
export class SqliteSessionStore extends session.Store {
  readonly #maxAgeMs: number;
  #pruneTimer: NodeJS.Timeout | undefined;
  readonly #select;
  readonly #selectLive;
  readonly #upsert;
  readonly #delete;
  readonly #deleteExpiredOne;
  readonly #deleteExpired;
  readonly #deleteAll;
  readonly #countLive;
  readonly #touch;
  readonly #db: Database;
  readonly #dataVersion;
  readonly #totalChanges;
  /** Live-session lookups, valid while nothing but this store wrote to the database. */
  readonly #live = new Map<string, LiveSessionRow>();
  /** `PRAGMA data_version` when {@link #live} was last checked: other connections' commits change it. */
  #liveVersion = -1;
  /** `total_changes()` after this store's last write: writes by others on this connection change it. */
  #liveChanges = -1;
  /** `Date.now()` when {@link #liveVersion} was last read by a lookup. */
  #versionCheckedAt = -1;

  constructor(db: Database, options: SqliteSessionStoreOptions) {
    super();
    const { maxAgeMs, pruneIntervalMs = DEFAULT_PRUNE_INTERVAL_MS } = options;
    if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs <= 0) {
      throw new TypeError(`SqliteSessionStore: maxAgeMs must be a positive number of milliseconds, got ${String(maxAgeMs)}`);
    }
    if (typeof pruneIntervalMs !== 'number' || !Number.isFinite(pruneIntervalMs) || pruneIntervalMs < 0) {
      throw new TypeError(`SqliteSessionStore: pruneIntervalMs must be 0 (off) or a positive number of milliseconds, got ${String(pruneIntervalMs)}`);
    }
    this.#maxAgeMs = maxAgeMs;
    this.#select = db.prepare<[string], SessionRow>('SELECT data, expires FROM sessions WHERE sid = ?');
    // Only a string counts as a login, as `data.userId === claimed` (a string) did on the parsed session.
    this.#selectLive = db.prepare<[string], LiveSessionRow>(
      "SELECT CASE json_type(data, '$.userId') WHEN 'text' THEN json_extract(data, '$.userId') END AS userId, expires FROM sessions WHERE sid = ?",
    );
    this.#upsert = db.prepare<[string, string, number]>(
      'INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE SET data = excluded.data, expires = excluded.expires',
    );
    this.#delete = db.prepare<[string]>('DELETE FROM sessions WHERE sid = ?');
    // An expired session is deleted only if still expired: another process may have just extended it.
    this.#deleteExpiredOne = db.prepare<[string, number]>('DELETE FROM sessions WHERE sid = ? AND expires <= ?');
    this.#deleteExpired = db.prepare<[number]>('DELETE FROM sessions WHERE expires <= ?');
    this.#deleteAll = db.prepare<[]>('DELETE FROM sessions');
    this.#countLive = db.prepare<[number], number>('SELECT COUNT(*) FROM sessions WHERE expires > ?').pluck();
    // Only the cookie changes on a touch; patching it in SQL keeps touch a single statement and
    // leaves the rest of the session as the last `set` wrote it. An expired row stays expired.
    this.#touch = db.prepare<[number, string, string, number]>(
      "UPDATE sessions SET expires = ?, data = json_set(data, '$.cookie', json(?)) WHERE sid = ? AND expires > ?",
    );
    this.#db = db;
    this.#dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.#totalChanges = db.prepare<[], number>('SELECT total_changes()').pluck();
    if (pruneIntervalMs > 0) {
      this.#pruneTimer = setInterval(() => {
        try {
          this.prune();
        } catch (err) {
          log.error('pruning expired sessions failed', err);
        }
      }, pruneIntervalMs);
      this.#pruneTimer.unref();
    }
  }

  /** The live session `sid`, or null if it is unknown or expired (an expired one is deleted). */
  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    reply(callback, () => this.getSync(sid));
  }

  /** The same as {@link getSync}, under the name every Mojo session store shares. */
  getSession(sid: string): SessionData | null {
    return this.getSync(sid);
  }

  /**
   * The live session `sid` without a callback, or null: what the realtime layer uses to confirm
   * a login cookie while a connection opens.
   *
   * @example
   * const loggedIn = store.getSync(sessionId)?.userId === claimedUser;
   */
  getSync(sid: string): SessionData | null {
    const row = this.#select.get(sid);
    if (!row) return null;
    const now = Date.now();
    if (row.expires <= now) {
      this.#wrote(this.#deleteExpiredOne.run(sid, now).changes, sid);
      return null;
    }
    try {
      const data = JSON.parse(row.data) as SessionData;
      // JSON turned the cookie's Date into a string; give callers the type SessionData promises.
      if (typeof data.cookie?.expires === 'string') data.cookie.expires = new Date(data.cookie.expires);
      return data;
    } catch (err) {
      log.warn(`session ${sid} held unreadable data and was dropped`, err);
      this.#wrote(this.#delete.run(sid).changes, sid);
      return null;
    }
  }

  /**
   * {@link getSync} reduced to the session's login, read in SQL instead of parsing the session:
   * the same sessions are live (an expired one is deleted, unreadable data is dropped).
   *
   * What it finds, and what `set` and `touch` write, is remembered (up to
   * {@link MAX_REMEMBERED_SESSIONS} sessions): a realtime connection looks its session up every
   * time it opens, usually right after a page load wrote it or when reconnecting. A write of
   * the store replaces what it remembers of that session, and everything remembered is
   * forgotten when the database was written by anyone else: other code on this connection
   * (`total_changes()`, e.g. `DELETE FROM sessions`), checked on every lookup, or another
   * connection (`PRAGMA data_version`, e.g. another process on the same file). A login is never
   * answered from memory without that second check, nor is an expired session deleted. A
   * session without a login, which grants no login, is answered from memory without it for the
   * rest of the millisecond of the last check: a burst of reconnects (after a restart or a
   * network blip) then costs one check per millisecond rather than two system calls each.
   * Expiry is checked on every lookup.
   *
   * @example
   * const loggedIn = store.getLiveSession(sessionId)?.userId === claimedUser;
   */
  getLiveSession(sid: string): LiveSession | null {
    const live = this.#live;
    const now = Date.now();
    const changes = this.#totalChanges.get()!;
    if (changes !== this.#liveChanges) {
      live.clear();
      this.#liveChanges = changes;
    }
    let row = live.get(sid);
    if (row === undefined || row.userId !== null || row.expires <= now || now !== this.#versionCheckedAt) {
      this.#versionCheckedAt = now;
      if (!this.#catchUp()) row = undefined;
    }
    if (row === undefined) {
      try {
        row = this.#selectLive.get(sid);
      } catch {
        // Data SQLite cannot read as JSON: getSync logs and drops it as it always has.
        const data = this.getSync(sid);
        return data && { userId: typeof data.userId === 'string' ? data.userId : null };
      }
      if (!row) return null;
      // Inside a transaction what was read may yet be rolled back, which changes no count.
      if (!this.#db.inTransaction) this.#remember(sid, row);
    }
    if (row.expires <= now) {
      this.#wrote(this.#deleteExpiredOne.run(sid, now).changes, sid);
      return null;
    }
    return row;
  }

  /** Saves `session` under `sid`, expiring with its cookie (or after the default max age). */
  override set(sid: string, sess: SessionData, callback?: (err?: unknown) => void): void {
    reply(callback, () => {
      this.#catchUp();
      const expires = this.#expiryOf(sess);
      const { changes } = this.#upsert.run(sid, JSON.stringify(sess), expires);
      // A page load usually comes before its realtime connection: what was written is what it will look up.
      const userId = loginOf(sess);
      this.#wrote(changes, sid, userId === undefined ? undefined : { userId, expires });
    });
  }

  /** Deletes the session `sid` (logout, regenerate). */
  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    reply(callback, () => {
      this.#wrote(this.#delete.run(sid).changes, sid);
    });
  }

  /** Extends the life of `sid` to its cookie's new expiry; an unknown or expired session stays gone. */
  override touch(sid: string, sess: SessionData, callback?: (err?: unknown) => void): void {
    reply(callback, () => {
      const now = Date.now();
      const expires = this.#expiryOf(sess, now);
      const { changes } = this.#touch.run(expires, JSON.stringify(sess.cookie ?? {}), sid, now);
      // Only the expiry changed: a remembered login stays what it was.
      const known = this.#live.get(sid);
      this.#wrote(changes, sid, changes === 1 && known !== undefined ? { userId: known.userId, expires } : undefined);
    });
  }

  /** Deletes every session: everyone is logged out. */
  override clear(callback?: (err?: unknown) => void): void {
    reply(callback, () => {
      this.#wrote(this.#deleteAll.run().changes, null);
    });
  }

  /** How many sessions are live (expired rows not yet pruned are not counted). */
  override length(callback: (err: unknown, length?: number) => void): void {
    reply(callback, () => this.#countLive.get(Date.now()) ?? 0);
  }

  /**
   * Deletes expired sessions now and returns how many there were. Runs on its own every
   * `pruneIntervalMs`.
   *
   * @example
   * const removed = store.prune();
   */
  prune(): number {
    const { changes } = this.#deleteExpired.run(Date.now());
    this.#wrote(changes, null);
    if (changes > 0) log.debug(`pruned ${changes} expired session(s)`);
    return changes;
  }

  /**
   * Stops the background prune; the store stays usable and the database stays open.
   *
   * @example
   * store.close(); db.close();
   */
  close(): void {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
  }

  /**
   * After a write of this store that changed `changes` rows: forgets session `sid` (every
   * session when null), and notes the connection's change count, unless someone else wrote
   * since the last note: then nothing remembered can be trusted. `row`, when given, is what the
   * write left for `sid`; it is remembered only when nothing but this write changed anything
   * (no other writer, no trigger) and no transaction could still roll it back.
   */
  #wrote(changes: number, sid: string | null, row?: LiveSessionRow): void {
    const total = this.#totalChanges.get()!;
    const alone = total - changes === this.#liveChanges;
    if (sid === null || !alone) this.#live.clear();
    else this.#live.delete(sid);
    this.#liveChanges = total;
    if (row === undefined || sid === null || !alone || this.#db.inTransaction) return;
    // Remembered only if no other connection committed since what was remembered was last
    // checked (`set` checks just before its write): one may have written this very session
    // after us, or, for a `touch`, before it (what `touch` carries over would be stale).
    if (this.#catchUp()) this.#remember(sid, row);
  }

  /**
   * Forgets everything remembered if another connection committed since {@link #liveVersion}
   * was read; true if none had.
   */
  #catchUp(): boolean {
    const version = this.#dataVersion.get()!;
    if (version === this.#liveVersion) return true;
    this.#live.clear();
    this.#liveVersion = version;
    return false;
  }

  #remember(sid: string, row: LiveSessionRow): void {
    const live = this.#live;
    if (live.size >= MAX_REMEMBERED_SESSIONS) live.delete(live.keys().next().value!);
    // A key of its own: `sid` is often a slice of a whole Cookie header.
    live.set(JSON.parse(JSON.stringify(sid)) as string, Object.freeze(row));
  }

  #expiryOf(sess: SessionData, now = Date.now()): number {
    const cookie = sess.cookie as Partial<SessionData['cookie']> | undefined;
    if (cookie?.expires) {
      const at = new Date(cookie.expires).getTime();
      if (Number.isFinite(at)) return at;
    }
    if (typeof cookie?.maxAge === 'number' && Number.isFinite(cookie.maxAge)) return now + cookie.maxAge;
    return now + this.#maxAgeMs;
  }
}

/**
 * The login `getLiveSession` will read back for `sess` once stored as JSON (a string `userId`,
 * else null), or undefined when only SQLite can tell (an object, whose `toJSON` might give text).
 */
function loginOf(sess: SessionData): string | null | undefined {
  const userId = (sess as { userId?: unknown }).userId;
  if (typeof userId === 'string') return userId;
  if (userId === undefined || userId === null || typeof userId === 'number' || typeof userId === 'boolean') return null;
  return undefined;
}

/**
 * Runs `work` now and hands its outcome to `callback` on a later tick, as express-session's own
 * MemoryStore does: a callback that throws must not be mistaken for a failure of the store.
 */
function reply<T>(callback: ((err: unknown, result?: T) => void) | undefined, work: () => T): void {
  let result: T;
  try {
    result = work();
  } catch (err) {
    if (callback) process.nextTick(callback, err);
    else log.error('session store operation failed', err);
    return;
  }
  if (callback) process.nextTick(callback, null, result);
}
