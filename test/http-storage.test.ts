import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import cookieSignature from 'cookie-signature';
import express from 'express';
import session, { type SessionData } from 'express-session';
import { MAX_VERIFIED_COOKIES, rememberedCookies, rememberSessionCookies, signValue, unsignValue } from '../framework/http/cookies.ts';
import { openDatabase, SCHEMA_VERSION, type Database } from '../framework/http/database.ts';
import { MAX_REMEMBERED_SESSIONS, SqliteSessionStore } from '../framework/http/session-store.ts';
import { USER_ERRORS, UserError, UserStore, type UserErrorCode } from '../framework/http/users.ts';
import { setLogSink } from '../framework/util/logger.ts';

const DAY = 86_400_000;

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'mojo-storage-'));
}

/** A session as express-session hands it to a store, expiring `inMs` from now. */
function sessionExpiringIn(inMs: number, extra: Record<string, unknown> = {}): SessionData {
  return { cookie: { originalMaxAge: inMs, expires: new Date(Date.now() + inMs) }, ...extra } as SessionData;
}

const call = {
  get: (store: SqliteSessionStore, sid: string) =>
    new Promise<SessionData | null>((resolve, reject) => store.get(sid, (err, sess) => (err ? reject(err) : resolve(sess ?? null)))),
  set: (store: SqliteSessionStore, sid: string, sess: SessionData) =>
    new Promise<void>((resolve, reject) => store.set(sid, sess, (err) => (err ? reject(err) : resolve()))),
  destroy: (store: SqliteSessionStore, sid: string) =>
    new Promise<void>((resolve, reject) => store.destroy(sid, (err) => (err ? reject(err) : resolve()))),
  touch: (store: SqliteSessionStore, sid: string, sess: SessionData) =>
    new Promise<void>((resolve, reject) => store.touch(sid, sess, (err) => (err ? reject(err) : resolve()))),
  clear: (store: SqliteSessionStore) => new Promise<void>((resolve, reject) => store.clear((err) => (err ? reject(err) : resolve()))),
  length: (store: SqliteSessionStore) =>
    new Promise<number>((resolve, reject) => store.length((err, n) => (err ? reject(err) : resolve(n ?? -1)))),
};

const rowExpiry = (db: Database, sid: string) => db.prepare('SELECT expires FROM sessions WHERE sid = ?').pluck().get(sid) as number | undefined;
const rowCount = (db: Database) => db.prepare('SELECT COUNT(*) FROM sessions').pluck().get() as number;

/**
 * `db` with its statements whose SQL contains `marker` calling `then` each time `method` has run
 * on them (to count them, or to let another connection commit at that exact point).
 */
function hookStatements(db: Database, marker: string, method: 'run' | 'get', then: () => void): Database {
  return new Proxy(db, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (key !== 'prepare') return typeof value === 'function' ? value.bind(target) : value;
      return (sql: string) => {
        const statement = target.prepare(sql);
        if (!sql.includes(marker)) return statement;
        return new Proxy(statement, {
          get(st, k) {
            if (k === method) {
              return (...args: unknown[]) => {
                const result = (st[method] as (...a: unknown[]) => unknown)(...args);
                then();
                return result;
              };
            }
            const v = Reflect.get(st, k) as unknown;
            return typeof v === 'function' ? v.bind(st) : v;
          },
        });
      };
    },
  });
}

describe('signed cookies', () => {
  const secrets = ['current-secret', 'previous-secret'] as const;

  it('round-trips a value in the express-session format', () => {
    const signed = signValue('alice', secrets);
    assert.match(signed, /^s:alice\.[A-Za-z0-9+/]+$/);
    assert.equal(signed, `s:${cookieSignature.sign('alice', 'current-secret')}`);
    assert.equal(unsignValue(signed, secrets), 'alice');
  });

  it('keeps values that contain dots and odd characters', () => {
    for (const value of ['a.b.c', 'Zoë ☃', 'x'.repeat(300), '.']) assert.equal(unsignValue(signValue(value, secrets), secrets), value);
  });

  it('refuses a tampered value or signature', () => {
    const signed = signValue('alice', secrets);
    const signature = signed.slice(signed.lastIndexOf('.') + 1);
    assert.equal(unsignValue(`s:mallory.${signature}`, secrets), null);
    assert.equal(unsignValue(`${signed.slice(0, -1)}${signed.endsWith('A') ? 'B' : 'A'}`, secrets), null);
    assert.equal(unsignValue(`${signed}x`, secrets), null);
    assert.equal(unsignValue(signed.replace(/^s:/, ''), secrets), null, 'the s: prefix is required');
  });

  it('verifies a cookie signed with an older secret listed second, and signs new cookies with the first', () => {
    const old = signValue('alice', ['previous-secret']);
    assert.equal(unsignValue(old, secrets), 'alice');
    assert.equal(unsignValue(old, ['current-secret']), null, 'a secret removed from the list no longer verifies');
    assert.equal(signValue('alice', secrets), signValue('alice', ['current-secret']));
    assert.notEqual(signValue('alice', secrets), old);
  });

  it('turns garbage into null without throwing', () => {
    const garbage: unknown[] = [undefined, '', 's:', 's:.', 's:abc', 's:abc.', 'abc.def', '%%%', 's:a.b.c', null, 42, {}];
    for (const raw of garbage) assert.equal(unsignValue(raw as string | undefined, secrets), null, `for ${String(raw)}`);
    assert.equal(unsignValue(signValue('alice', secrets), []), null, 'no secrets, nothing verifies');
  });

  it('refuses to sign without a secret', () => {
    assert.throws(() => signValue('alice', []), /secret/);
  });

  it('signs and verifies byte for byte as cookie-signature (what express-session uses) for any secret', () => {
    const keys = ['s', 'bench-secret-not-for-production', 'Zoë ☃ 秘密', 'k'.repeat(64), 'longer than one SHA-256 block '.repeat(5)];
    const values = ['alice', '', 'a.b.c', 'Zoë ☃', 'x'.repeat(300), 'AbC-_~+/=%'];
    for (const secret of keys) {
      for (const value of values) {
        const theirs = `s:${cookieSignature.sign(value, secret)}`;
        assert.equal(signValue(value, [secret]), theirs, `sign ${value} with ${secret}`);
        assert.equal(unsignValue(theirs, ['some-other-secret', secret]), value, `unsign ${value} with ${secret}`);
        assert.equal(cookieSignature.unsign(signValue(value, [secret]).slice(2), secret), value);
      }
    }
  });

  it('refuses every single-character change of a signature, and signatures of the wrong length', () => {
    const signed = signValue('alice', secrets);
    const dot = signed.lastIndexOf('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.é';
    for (let at = dot + 1; at < signed.length; at++) {
      for (const c of alphabet) {
        if (c === signed[at]) continue;
        const forged = signed.slice(0, at) + c + signed.slice(at + 1);
        assert.equal(unsignValue(forged, secrets), cookieSignature.unsign(forged.slice(2), secrets[0]) || null, forged);
        assert.equal(unsignValue(forged, secrets), null, forged);
      }
    }
    assert.equal(unsignValue(`${signed}=`, secrets), null, 'the padding cookie-signature strips');
    assert.equal(unsignValue(signed.slice(0, -1), secrets), null);
  });

  it('refuses a signature ending in a multi-byte character right after verifying the genuine one', () => {
    // The genuine signature's bytes must not stand in for a character that does not fit.
    const signed = signValue('alice', secrets);
    assert.equal(unsignValue(signed, secrets), 'alice');
    for (const tail of ['é', '€', '\u{1F600}', '\uD800']) {
      const forged = signed.slice(0, -1) + tail;
      assert.equal(unsignValue(forged, secrets), null, `ending in ${tail}`);
      assert.equal(unsignValue(signed.slice(0, -tail.length) + tail, secrets), null, `${tail} replacing the end`);
    }
  });
});

describe('signed cookies remembered once verified', () => {
  it('remembers a verified cookie and answers it the same; never a forged or malformed one', () => {
    const secrets = ['memo-secret'];
    // Signed by cookie-signature, not signValue (which would remember what it signs).
    const signed = `s:${cookieSignature.sign('alice', secrets[0]!)}`;
    assert.equal(rememberedCookies(secrets), 0);
    assert.equal(unsignValue(signed, secrets), 'alice');
    assert.equal(rememberedCookies(secrets), 1);
    assert.equal(unsignValue(signed, secrets), 'alice', 'from memory');
    // A copy from inside a longer header string, as a cookie parser hands it over.
    const header = `x=1; session_id=${signed}; y=2`;
    const at = header.indexOf('s:');
    assert.equal(unsignValue(header.slice(at, at + signed.length), secrets), 'alice');
    for (const bad of [`${signed.slice(0, -1)}A`, `${signed.slice(0, -1)}B`, 's:mallory.x', 'garbage', `${signed}\uD800`]) assert.equal(unsignValue(bad, secrets), null);
    assert.equal(rememberedCookies(secrets), 1, 'nothing that failed is remembered');
  });

  it('remembers what it signed itself', () => {
    const secrets = ['own-secret'];
    const signed = signValue('carol', secrets);
    assert.equal(rememberedCookies(secrets), 1, 'signed here, so it verifies');
    assert.equal(unsignValue(signed, secrets), 'carol');
    assert.equal(rememberedCookies(secrets), 1);
  });

  it('remembers the session cookie express-session sets, never one the app set in its name', async () => {
    const secrets = ['session-memo-secret'];
    const app = express();
    app.use(rememberSessionCookies(session({ secret: [...secrets], name: 'session_id', resave: false, saveUninitialized: true }), 'session_id', secrets));
    // A route that sets a cookie of the session's name itself, with a signature it made up.
    const forgedFor = (sid: string) => `s:${sid}.${'A'.repeat(43)}`;
    app.get('/forge', (req, res) => {
      res.cookie('session_id', forgedFor(req.sessionID));
      res.send('forged');
    });
    app.get('/forge-in-head', (req, res) => {
      res.writeHead(200, { 'Set-Cookie': `session_id=${encodeURIComponent(forgedFor(req.sessionID))}` });
      res.end('forged');
    });
    // Headers given to writeHead as a function with properties: on-headers copies them too.
    app.get('/forge-in-fn-head', (req, res) => {
      res.writeHead(200, Object.assign(() => {}, { 'Set-Cookie': `session_id=${encodeURIComponent(forgedFor(req.sessionID))}` }) as never);
      res.end('forged');
    });
    app.get('/', (req, res) => res.send(req.sessionID));
    const server = app.listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cookiesOf = (response: Response) => response.headers.getSetCookie().map((line) => decodeURIComponent(line.split(';')[0]!.slice('session_id='.length)));
    try {
      // A new visitor: express-session sets the cookie, and it is remembered.
      const first = await fetch(`${base}/`);
      const sid = await first.text();
      const [cookie] = cookiesOf(first);
      assert.equal(rememberedCookies(secrets), 1);
      assert.equal(unsignValue(cookie, secrets), sid);
      assert.equal(cookieSignature.unsign(cookie!.slice(2), secrets[0]!), sid, 'what was remembered is a genuine signature');

      // The visitor again, unchanged session: express-session sets nothing, the route's forgery is not remembered.
      const again = await fetch(`${base}/forge`, { headers: { cookie: `session_id=${encodeURIComponent(cookie!)}` } });
      assert.deepEqual(cookiesOf(again), [forgedFor(sid)]);
      assert.equal(rememberedCookies(secrets), 1);
      assert.equal(unsignValue(forgedFor(sid), secrets), null);

      // A new visitor on that route: express-session's own cookie comes last and is remembered, the forgery is not.
      const fresh = await fetch(`${base}/forge`);
      const [forged, genuine] = cookiesOf(fresh);
      assert.equal(rememberedCookies(secrets), 2);
      assert.equal(unsignValue(forged, secrets), null);
      assert.equal(unsignValue(genuine, secrets), forged!.slice(2, forged!.lastIndexOf('.')));

      // Headers handed to writeHead itself: what express-session added is not known, nothing is remembered.
      const inHead = await fetch(`${base}/forge-in-head`);
      assert.ok(cookiesOf(inHead).length >= 1);
      assert.equal(rememberedCookies(secrets), 2);
      for (const value of cookiesOf(inHead)) if (value.endsWith('A'.repeat(43))) assert.equal(unsignValue(value, secrets), null);
      const inFnHead = await fetch(`${base}/forge-in-fn-head`, { headers: { cookie: `session_id=${encodeURIComponent(cookie!)}` } });
      assert.deepEqual(cookiesOf(inFnHead), [forgedFor(sid)]);
      assert.equal(rememberedCookies(secrets), 2);
      assert.equal(unsignValue(forgedFor(sid), secrets), null);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not vouch for a cookie under other secrets, nor after a secret left the list', () => {
    const list = ['first', 'second'];
    const old = signValue('bob', ['second']);
    assert.equal(unsignValue(old, list), 'bob');
    assert.equal(unsignValue(old, ['first']), null, 'another list does not share what this one verified');
    list.pop(); // the list itself changed: "second" is rotated out
    assert.equal(unsignValue(old, list), null);
    assert.equal(rememberedCookies(list), 0);
  });

  it('remembers at most MAX_VERIFIED_COOKIES per list, dropping the oldest first', () => {
    const secrets = ['bound-secret'];
    const first = signValue('user-0', secrets);
    for (let i = 0; i <= MAX_VERIFIED_COOKIES; i++) assert.equal(unsignValue(signValue(`user-${i}`, secrets), secrets), `user-${i}`);
    assert.equal(rememberedCookies(secrets), MAX_VERIFIED_COOKIES);
    assert.equal(unsignValue(first, secrets), 'user-0', 'a dropped cookie still verifies, the long way');
  });
});

describe('openDatabase', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file and its folder under the root, in WAL mode, migrated once', () => {
    const db = openDatabase('sqlite:nested/deeper/mojo.db', dir);
    assert.ok(existsSync(path.join(dir, 'nested/deeper/mojo.db')));
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
    const again = openDatabase('sqlite:nested/deeper/mojo.db', dir);
    assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    again.close();
  });

  it('opens an in-memory database with the schema', () => {
    const db = openDatabase('sqlite::memory:', dir);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    assert.deepEqual(tables, ['sessions', 'users']);
    db.close();
  });

  it('throws an error naming a bad url', () => {
    for (const url of ['postgres://localhost/mojo', 'sqlite:', 'data/mojo.db', 'sqlite::nope:']) {
      assert.throws(() => openDatabase(url, dir), (err: Error) => err.message.includes(`"${url}"`));
    }
  });
});

describe('SqliteSessionStore', () => {
  let db: Database;
  let store: SqliteSessionStore;
  beforeEach(() => {
    db = openDatabase('sqlite::memory:', os.tmpdir());
    store = new SqliteSessionStore(db, { maxAgeMs: DAY, pruneIntervalMs: 0 });
  });
  afterEach(() => {
    store.close();
    db.close();
  });

  it('stores, reads back and destroys a session', async () => {
    await call.set(store, 'sid-1', sessionExpiringIn(60_000, { userId: 'alice', views: 3 }));
    const read = await call.get(store, 'sid-1');
    assert.equal(read?.userId, 'alice');
    assert.equal((read as SessionData & { views: number }).views, 3);
    assert.ok(read.cookie.expires instanceof Date, 'the cookie expiry comes back as a Date');
    assert.equal(store.getSync('sid-1')?.userId, 'alice');
    await call.destroy(store, 'sid-1');
    assert.equal(await call.get(store, 'sid-1'), null);
    assert.equal(store.getSync('sid-1'), null);
  });

  it('returns null for an unknown session', async () => {
    assert.equal(await call.get(store, 'nobody'), null);
    assert.equal(store.getSync('nobody'), null);
  });

  it('overwrites a session on a second set', async () => {
    await call.set(store, 'sid', sessionExpiringIn(60_000, { userId: 'alice' }));
    await call.set(store, 'sid', sessionExpiringIn(60_000, { userId: 'bob' }));
    assert.equal(store.getSync('sid')?.userId, 'bob');
    assert.equal(await call.length(store), 1);
  });

  it('expires with the cookie, or after the default max age for a browser-session cookie', async () => {
    const before = Date.now();
    const expires = new Date(before + 3_600_000);
    await call.set(store, 'dated', { cookie: { originalMaxAge: 3_600_000, expires } } as SessionData);
    assert.equal(rowExpiry(db, 'dated'), expires.getTime());
    await call.set(store, 'max-age-only', { cookie: { originalMaxAge: 120_000, maxAge: 120_000 } } as SessionData);
    const byMaxAge = rowExpiry(db, 'max-age-only')!;
    assert.ok(byMaxAge >= before + 120_000 && byMaxAge <= Date.now() + 120_000);
    await call.set(store, 'browser', { cookie: { originalMaxAge: null, expires: null } } as SessionData);
    const byDefault = rowExpiry(db, 'browser')!;
    assert.ok(byDefault >= before + DAY && byDefault <= Date.now() + DAY);
  });

  it('hides and deletes an expired session when it is read', async () => {
    await call.set(store, 'old', sessionExpiringIn(-1_000, { userId: 'alice' }));
    assert.equal(rowCount(db), 1);
    assert.equal(await call.get(store, 'old'), null);
    assert.equal(rowCount(db), 0);
    await call.set(store, 'old-too', sessionExpiringIn(-1_000));
    assert.equal(store.getSync('old-too'), null);
    assert.equal(rowCount(db), 0);
  });

  it('touch extends a live session and leaves its data alone', async () => {
    await call.set(store, 'sid', sessionExpiringIn(60_000, { userId: 'alice' }));
    const later = sessionExpiringIn(DAY, { userId: 'someone-else' });
    await call.touch(store, 'sid', later);
    assert.equal(rowExpiry(db, 'sid'), (later.cookie.expires as Date).getTime());
    const read = store.getSync('sid');
    assert.equal(read?.userId, 'alice', 'touch only refreshes the cookie');
    assert.equal(read.cookie.expires?.getTime(), (later.cookie.expires as Date).getTime());
  });

  it('reads a live session down to its login, as getSync would', async () => {
    await call.set(store, 'in', sessionExpiringIn(60_000, { userId: 'alice', csrfToken: 't' }));
    await call.set(store, 'anon', sessionExpiringIn(60_000, { csrfToken: 't' }));
    await call.set(store, 'odd', sessionExpiringIn(60_000, { userId: { id: 'alice' } }));
    await call.set(store, 'number', sessionExpiringIn(60_000, { userId: 7 }));
    assert.equal(store.getLiveSession('in')?.userId, 'alice');
    assert.equal(store.getLiveSession('anon')?.userId, null);
    assert.equal(store.getLiveSession('odd')?.userId, null, 'only a string is a login');
    assert.equal(store.getLiveSession('number')?.userId, null, 'only a string is a login');
    assert.equal(store.getLiveSession('nobody'), null);
  });

  it('hides and deletes an expired session when its login is read', async () => {
    await call.set(store, 'old', sessionExpiringIn(-1_000, { userId: 'alice' }));
    assert.equal(store.getLiveSession('old'), null);
    assert.equal(rowCount(db), 0);
  });

  it('drops a session whose stored data is unreadable when its login is read', () => {
    const warnings: string[] = [];
    const previous = setLogSink((_level, _scope, message) => warnings.push(message));
    try {
      db.prepare('INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?)').run('broken', '{"userId": "alice"', Date.now() + 60_000);
      assert.equal(store.getLiveSession('broken'), null);
      assert.equal(rowCount(db), 0);
      assert.ok(warnings.some((m) => m.includes('unreadable')), 'logged, as getSync does');
    } finally {
      setLogSink(previous);
    }
  });

  it('remembers a live session it looked up, until anything could have changed it', async () => {
    await call.set(store, 'a', sessionExpiringIn(60_000, { userId: 'alice' }));
    await call.set(store, 'b', sessionExpiringIn(60_000, { userId: 'bob' }));
    const remembered = store.getLiveSession('a');
    assert.equal(store.getLiveSession('a'), remembered, 'the second lookup is answered from memory (the same object)');
    assert.ok(Object.isFrozen(remembered));
    const fresh = (check: () => void, change: string) => {
      const before = store.getLiveSession('a');
      check();
      assert.notEqual(store.getLiveSession('a'), before, `${change}: looked up again`);
    };
    // The store's own writes to that session, and to every session.
    fresh(() => store.touch('a', sessionExpiringIn(120_000), () => {}), 'touch');
    fresh(() => store.set('a', sessionExpiringIn(60_000, { userId: 'carol' }), () => {}), 'set');
    assert.equal(store.getLiveSession('a')?.userId, 'carol');
    fresh(() => store.prune(), 'prune');
    // A write to another session leaves this one remembered.
    const kept = store.getLiveSession('a');
    store.destroy('b', () => {});
    assert.equal(store.getLiveSession('a'), kept);
    // Other code writing on the same connection, to sessions or anything else.
    fresh(() => db.prepare("UPDATE sessions SET data = json_set(data, '$.userId', 'dave') WHERE sid = 'a'").run(), 'an UPDATE by other code');
    assert.equal(store.getLiveSession('a')?.userId, 'dave');
    fresh(() => db.prepare("INSERT INTO users (id, password_hash, created_at) VALUES ('x', 'h', 0)").run(), 'a write to another table');
    // Other code's write followed by one of the store's own (to another session) before the next lookup.
    await call.set(store, 'c', sessionExpiringIn(60_000));
    store.getLiveSession('a');
    db.prepare("UPDATE sessions SET data = json_set(data, '$.userId', 'erin') WHERE sid = 'a'").run();
    store.destroy('c', () => {});
    assert.equal(store.getLiveSession('a')?.userId, 'erin');
    db.prepare("DELETE FROM sessions WHERE sid = 'a'").run();
    assert.equal(store.getLiveSession('a'), null, 'deleted by other code: gone at once');
    store.destroy('a', () => {});
  });

  it('remembers what it writes: the lookup after a page load asks SQLite nothing', () => {
    // The store's statements, wrapped to count how often the login query runs.
    let lookups = 0;
    const counted = hookStatements(db, 'json_type', 'get', () => lookups++);
    const watched = new SqliteSessionStore(counted, { maxAgeMs: DAY, pruneIntervalMs: 0 });
    try {
      watched.set('first', sessionExpiringIn(60_000)); // the first write has no count to compare with
      watched.set('page', sessionExpiringIn(60_000, { userId: 'alice' }));
      watched.set('anon', sessionExpiringIn(60_000, { userId: null }));
      assert.equal(watched.getLiveSession('page')?.userId, 'alice');
      assert.equal(watched.getLiveSession('anon')?.userId, null);
      assert.equal(lookups, 0, 'both answered from what was written');
      watched.touch('page', sessionExpiringIn(120_000));
      const touched = watched.getLiveSession('page');
      assert.equal(lookups, 0, 'a touch updates the remembered expiry');
      assert.equal(touched?.userId, 'alice');
      assert.equal(touched && 'expires' in touched ? touched.expires : 0, rowExpiry(db, 'page'));
      // A login only SQLite can read (an object with toJSON) is looked up, and read as SQLite reads it.
      watched.set('odd', sessionExpiringIn(60_000, { userId: { toJSON: () => 'mallory' } }));
      assert.equal(watched.getLiveSession('odd')?.userId, 'mallory');
      assert.equal(lookups, 1);
      // Written inside a transaction that rolls back: not remembered.
      assert.throws(() =>
        db.transaction(() => {
          watched.set('rolled', sessionExpiringIn(60_000, { userId: 'eve' }));
          throw new Error('roll back');
        })(),
      );
      assert.equal(watched.getLiveSession('rolled'), null);
      // Another writer between two of the store's writes: what the second wrote is not trusted either.
      db.prepare("INSERT INTO users (id, password_hash, created_at) VALUES ('w', 'h', 0)").run();
      watched.set('after', sessionExpiringIn(60_000, { userId: 'frank' }));
      const before = lookups;
      assert.equal(watched.getLiveSession('after')?.userId, 'frank');
      assert.equal(lookups, before + 1);
    } finally {
      watched.close();
    }
  });

  it('checks expiry on a remembered session', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    store.set('soon', sessionExpiringIn(1_000, { userId: 'alice' }), () => {});
    assert.equal(store.getLiveSession('soon')?.userId, 'alice');
    assert.equal(store.getLiveSession('soon')?.userId, 'alice');
    t.mock.timers.tick(1_000);
    assert.equal(store.getLiveSession('soon'), null);
    assert.equal(rowCount(db), 0, 'and deleted');
  });

  it('remembers nothing read inside a transaction (a rollback changes no count)', () => {
    const insert = db.prepare('INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?)');
    assert.throws(() =>
      db.transaction(() => {
        insert.run('ghost', '{"userId":"eve"}', Date.now() + 60_000);
        assert.equal(store.getLiveSession('ghost')?.userId, 'eve');
        throw new Error('roll back');
      })(),
    );
    assert.equal(store.getLiveSession('ghost'), null);
  });

  it('remembers at most MAX_REMEMBERED_SESSIONS sessions, dropping the oldest first', () => {
    const insert = db.prepare('INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?)');
    const until = Date.now() + 60_000;
    db.transaction(() => {
      for (let i = 0; i <= MAX_REMEMBERED_SESSIONS; i++) insert.run(`s${i}`, '{}', until);
    })();
    const first = store.getLiveSession('s0');
    const second = store.getLiveSession('s1');
    for (let i = 2; i <= MAX_REMEMBERED_SESSIONS; i++) store.getLiveSession(`s${i}`);
    assert.equal(store.getLiveSession('s1'), second);
    assert.notEqual(store.getLiveSession('s0'), first, 'the oldest was dropped');
  });

  it('touch does not bring back an expired or unknown session', async () => {
    await call.set(store, 'gone', sessionExpiringIn(-1_000));
    await call.touch(store, 'gone', sessionExpiringIn(DAY));
    await call.touch(store, 'never', sessionExpiringIn(DAY));
    assert.equal(store.getSync('gone'), null);
    assert.equal(store.getSync('never'), null);
  });

  it('counts live sessions, prunes expired ones and clears everything', async () => {
    await call.set(store, 'a', sessionExpiringIn(60_000));
    await call.set(store, 'b', sessionExpiringIn(60_000));
    await call.set(store, 'x', sessionExpiringIn(-1_000));
    await call.set(store, 'y', sessionExpiringIn(-1_000));
    assert.equal(await call.length(store), 2);
    assert.equal(store.prune(), 2);
    assert.equal(rowCount(db), 2);
    assert.equal(store.prune(), 0);
    await call.clear(store);
    assert.equal(await call.length(store), 0);
  });

  it('prunes on its interval until closed', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const timed = new SqliteSessionStore(db, { maxAgeMs: DAY, pruneIntervalMs: 1_000 });
    await call.set(timed, 'x', sessionExpiringIn(-1_000));
    t.mock.timers.tick(999);
    assert.equal(rowCount(db), 1);
    t.mock.timers.tick(1);
    assert.equal(rowCount(db), 0);
    timed.close();
    await call.set(timed, 'y', sessionExpiringIn(-1_000));
    t.mock.timers.tick(5_000);
    assert.equal(rowCount(db), 1, 'a closed store no longer prunes');
  });

  it('rejects a bad maxAgeMs or pruneIntervalMs', () => {
    assert.throws(() => new SqliteSessionStore(db, { maxAgeMs: 0 }), /maxAgeMs/);
    assert.throws(() => new SqliteSessionStore(db, { maxAgeMs: DAY, pruneIntervalMs: -1 }), /pruneIntervalMs/);
  });

  it('keeps sessions across a restart of the process (file database)', async () => {
    const dir = tempDir();
    try {
      const first = openDatabase('sqlite:data/mojo.db', dir);
      const firstStore = new SqliteSessionStore(first, { maxAgeMs: DAY });
      await call.set(firstStore, 'survivor', sessionExpiringIn(DAY, { userId: 'alice' }));
      firstStore.close();
      first.close();

      const second = openDatabase('sqlite:data/mojo.db', dir);
      const secondStore = new SqliteSessionStore(second, { maxAgeMs: DAY });
      assert.equal((await call.get(secondStore, 'survivor'))?.userId, 'alice');
      secondStore.close();
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sees other code on its own connection at once, for a session without a login too', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    store.set('anon', sessionExpiringIn(DAY, { userId: null }), () => {});
    assert.equal(store.getLiveSession('anon')?.userId, null);
    db.prepare("DELETE FROM sessions WHERE sid = 'anon'").run();
    assert.equal(store.getLiveSession('anon'), null, 'within the same millisecond');
  });

  describe('with another connection on the same file', () => {
    let dir: string;
    let theirs: Database;
    let theirStore: SqliteSessionStore;
    const opened: { db: Database; store: SqliteSessionStore }[] = [];
    /** Our store, on a connection whose statements containing `marker` call `then` after `method` ran. */
    const ours = (marker?: string, method: 'run' | 'get' = 'run', then: () => void = () => {}) => {
      const db = openDatabase('sqlite:data/mojo.db', dir);
      const store = new SqliteSessionStore(marker === undefined ? db : hookStatements(db, marker, method, then), { maxAgeMs: DAY, pruneIntervalMs: 0 });
      opened.push({ db, store });
      return store;
    };
    const theirLogin = () => theirs.prepare("SELECT json_extract(data, '$.userId') FROM sessions WHERE sid = 'S'").pluck().get();

    beforeEach(() => {
      dir = tempDir();
      theirs = openDatabase('sqlite:data/mojo.db', dir);
      theirStore = new SqliteSessionStore(theirs, { maxAgeMs: DAY, pruneIntervalMs: 0 });
    });
    afterEach(() => {
      for (const { db, store } of opened.splice(0)) {
        store.close();
        db.close();
      }
      theirStore.close();
      theirs.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('forgets what it remembered when another connection (another process) writes the file', () => {
      const myStore = ours();
      myStore.set('shared', sessionExpiringIn(DAY, { userId: 'alice' }));
      const remembered = myStore.getLiveSession('shared');
      assert.equal(myStore.getLiveSession('shared'), remembered);
      theirStore.destroy('shared'); // a logout served by another worker
      assert.equal(myStore.getLiveSession('shared'), null);
      theirStore.set('shared', sessionExpiringIn(DAY, { userId: 'bob' }));
      assert.equal(myStore.getLiveSession('shared')?.userId, 'bob');
      theirs.prepare("UPDATE sessions SET data = '{\"userId\":\"carol\"}' WHERE sid = 'shared'").run();
      assert.equal(myStore.getLiveSession('shared')?.userId, 'carol');
      // Their logout, then a write of ours (to another session) before our next lookup.
      assert.equal(myStore.getLiveSession('shared')?.userId, 'carol');
      theirStore.destroy('shared');
      myStore.set('mine', sessionExpiringIn(DAY, { userId: 'dave' }));
      assert.equal(myStore.getLiveSession('shared'), null, 'not answered from before their write');
      assert.equal(myStore.getLiveSession('mine')?.userId, 'dave');
    });

    it("asks about another connection's writes once a millisecond for a session without a login, on every lookup of a login", (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
      const myStore = ours();
      theirStore.set('anon', sessionExpiringIn(DAY, { userId: null }));
      theirStore.set('login', sessionExpiringIn(DAY, { userId: 'alice' }));
      const anon = myStore.getLiveSession('anon');
      assert.equal(anon?.userId, null);
      assert.equal(myStore.getLiveSession('login')?.userId, 'alice');
      // Their writes, within the millisecond of our last check.
      theirStore.destroy('anon');
      theirStore.destroy('login');
      assert.equal(myStore.getLiveSession('login'), null, 'a login is checked at once');
      theirStore.set('anon', sessionExpiringIn(DAY, { userId: null }));
      assert.equal(myStore.getLiveSession('anon')?.userId, null);
      const remembered = myStore.getLiveSession('anon');
      theirStore.destroy('anon');
      assert.equal(myStore.getLiveSession('anon'), remembered, 'no login: answered from memory within the millisecond');
      t.mock.timers.tick(1);
      assert.equal(myStore.getLiveSession('anon'), null, 'the next millisecond asks again');

      // A login they write on a session we remember without one (custom code keeping the id).
      theirStore.set('quiet', sessionExpiringIn(DAY, { userId: null }));
      t.mock.timers.tick(1);
      assert.equal(myStore.getLiveSession('quiet')?.userId, null);
      theirStore.set('quiet', sessionExpiringIn(DAY, { userId: 'bob' }));
      t.mock.timers.tick(1);
      assert.equal(myStore.getLiveSession('quiet')?.userId, 'bob');

      // A remembered session that looks expired is never deleted on memory alone: they extended it
      // within the millisecond of our last check.
      theirStore.set('short', sessionExpiringIn(1_000, { userId: null }));
      t.mock.timers.tick(1);
      assert.equal(myStore.getLiveSession('short')?.userId, null);
      t.mock.timers.tick(1_000);
      assert.equal(myStore.getLiveSession('quiet')?.userId, 'bob'); // the check of this millisecond
      theirStore.set('short', sessionExpiringIn(DAY, { userId: null }));
      assert.equal(myStore.getLiveSession('short')?.userId, null, 'still live: their write is seen');
      assert.equal(theirStore.getLiveSession('short')?.userId, null, 'and not deleted');
    });

    it('carries no login over a touch once they logged the session out', () => {
      const myStore = ours();
      theirStore.set('S', sessionExpiringIn(DAY, { userId: 'alice' }));
      assert.equal(myStore.getLiveSession('S')?.userId, 'alice');
      theirStore.set('S', sessionExpiringIn(DAY)); // their logout keeps the session id
      // Our next page load of that session: express-session reads it, then touches it unchanged.
      assert.equal(myStore.getSync('S')?.userId, undefined);
      myStore.touch('S', sessionExpiringIn(DAY));
      assert.equal(theirLogin(), null);
      assert.equal(myStore.getLiveSession('S')?.userId, null);
    });

    it('remembers nothing of a write they overtook', () => {
      let overtake = false;
      const myStore = ours('INSERT INTO sessions', 'run', () => {
        if (overtake) theirStore.set('S', sessionExpiringIn(DAY)); // committed right after ours
      });
      myStore.set('first', sessionExpiringIn(DAY));
      overtake = true;
      myStore.set('S', sessionExpiringIn(DAY, { userId: 'alice' }));
      overtake = false;
      assert.equal(theirLogin(), null);
      assert.equal(myStore.getLiveSession('S')?.userId, null);
      // Without them, what we write is remembered and right.
      myStore.set('S', sessionExpiringIn(DAY, { userId: 'bob' }));
      assert.equal(myStore.getLiveSession('S')?.userId, 'bob');
    });

    for (const [lookup, marker] of [['getLiveSession', 'json_type'], ['getSync', 'SELECT data, expires']] as const) {
      it(`${lookup} leaves an expired session they extended between its read and its delete`, () => {
        theirs.prepare('INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?)').run('S', '{"userId":null}', Date.now() - 1_000);
        const myStore = ours(marker, 'get', () => theirStore.set('S', sessionExpiringIn(DAY, { userId: null })));
        assert.equal(myStore[lookup]('S'), null, 'it read the session expired');
        assert.ok(theirStore.getSync('S'), 'and left it as they extended it');
      });
    }
  });

  it('serves express-session, whose cookie unsignValue reads', async () => {
    const secrets = ['first', 'second'];
    const app = express();
    app.use(session({ store, secret: secrets, name: 'session_id', resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }));
    app.get('/', (req, res) => {
      const views = ((req.session as unknown as { views?: number }).views ?? 0) + 1;
      (req.session as unknown as { views: number }).views = views;
      res.json({ views, sid: req.sessionID });
    });
    const server = app.listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const first = await fetch(base);
      const { sid } = (await first.json()) as { sid: string };
      const setCookie = first.headers.get('set-cookie') ?? '';
      const raw = decodeURIComponent(/session_id=([^;]+)/.exec(setCookie)?.[1] ?? '');
      assert.equal(unsignValue(raw, secrets), sid);
      // express-session derives originalMaxAge from `expires - Date.now()`: a millisecond may pass in between.
      const originalMaxAge = store.getSync(sid)?.cookie.originalMaxAge ?? 0;
      assert.ok(originalMaxAge > 59_000 && originalMaxAge <= 60_000, `originalMaxAge ${originalMaxAge}`);
      const second = await fetch(base, { headers: { cookie: setCookie.split(';')[0]! } });
      assert.deepEqual(await second.json(), { views: 2, sid });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('UserStore', () => {
  let db: Database;
  let users: UserStore;
  beforeEach(() => {
    db = openDatabase('sqlite::memory:', os.tmpdir());
    users = new UserStore(db);
  });
  afterEach(() => db.close());

  const storedHash = (id: string) => db.prepare('SELECT password_hash FROM users WHERE id = ?').pluck().get(id) as string;

  async function rejectsWith(promise: Promise<unknown>, code: UserErrorCode): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.message, USER_ERRORS[code]);
      return true;
    });
  }

  it('creates a user who can then log in', async () => {
    const created = await users.create('alice', 'correct horse battery');
    assert.equal(created.id, 'alice');
    assert.equal(created.lastLogin, null);
    assert.ok(Math.abs(created.createdAt - Date.now()) < 60_000);
    assert.deepEqual(await users.verify('alice', 'correct horse battery'), created);
    assert.deepEqual(users.find('alice'), created);
    assert.equal(users.exists('alice'), true);
    assert.equal(users.count(), 1);
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    await users.create('alice', 'correct horse battery');
    assert.equal(await users.verify('alice', 'wrong horse battery'), null);
    assert.equal(await users.verify('nobody', 'correct horse battery'), null);
    assert.equal(await users.verify('x', 'correct horse battery'), null, 'an impossible username is just unknown');
    assert.equal(await users.verify('alice', undefined as unknown as string), null);
    assert.equal(users.find('nobody'), null);
    assert.equal(users.exists('nobody'), false);
  });

  it('spends the same scrypt work on an unknown user as on a wrong password', async () => {
    await users.create('alice', 'correct horse battery');
    const time = async (name: string) => {
      const start = process.hrtime.bigint();
      await users.verify(name, 'wrong horse battery');
      return Number(process.hrtime.bigint() - start);
    };
    await time('alice');
    const known = Math.min(await time('alice'), await time('alice'));
    const unknown = Math.min(await time('nobody'), await time('nobody'));
    assert.ok(unknown > known * 0.25, `unknown user took ${unknown} ns, known user ${known} ns`);
  });

  it('keeps the case of a username but treats names differing only in case as one', async () => {
    await users.create('Alice', 'correct horse battery');
    await rejectsWith(users.create('alice', 'another password'), 'ERR_USERNAME_TAKEN');
    await rejectsWith(users.create('ALICE', 'another password'), 'ERR_USERNAME_TAKEN');
    assert.equal((await users.verify('aLiCe', 'correct horse battery'))?.id, 'Alice');
    assert.equal(users.find('ALICE')?.id, 'Alice');
    assert.equal(users.count(), 1);
  });

  it('lets only one of two simultaneous registrations of a name win', async () => {
    const results = await Promise.allSettled([users.create('bob', 'password one'), users.create('BOB', 'password two')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const failure = results.find((r) => r.status === 'rejected');
    assert.equal((failure?.reason as UserError).code, 'ERR_USERNAME_TAKEN');
  });

  it('refuses invalid usernames', async () => {
    for (const name of ['ab', 'x'.repeat(33), 'has space', 'semi;colon', 'ünïcode', '', 'a/b', undefined as unknown as string]) {
      await rejectsWith(users.create(name, 'correct horse battery'), 'ERR_USERNAME_INVALID');
    }
    for (const name of ['abc', 'x'.repeat(32), 'first.last', 'under_score', 'dash-ed', '123']) {
      assert.equal((await users.create(name, 'correct horse battery')).id, name);
    }
  });

  it('refuses passwords that are too short or too long', async () => {
    await rejectsWith(users.create('alice', 'seven77'), 'ERR_PASSWORD_TOO_SHORT');
    await rejectsWith(users.create('alice', ''), 'ERR_PASSWORD_TOO_SHORT');
    await rejectsWith(users.create('alice', 'x'.repeat(1025)), 'ERR_PASSWORD_TOO_LONG');
    assert.equal(users.count(), 0);
    await users.create('alice', 'eight888');
    await users.create('bob', 'x'.repeat(1024));
    assert.equal(users.count(), 2);
  });

  it('stores a self-describing scrypt hash with its own salt', async () => {
    await users.create('alice', 'same password');
    await users.create('bob', 'same password');
    const alice = storedHash('alice');
    const bob = storedHash('bob');
    assert.match(alice, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    const [, , , , salt, hash] = alice.split('$');
    assert.equal(Buffer.from(salt!, 'base64').length, 16);
    assert.equal(Buffer.from(hash!, 'base64').length, 64);
    assert.notEqual(alice, bob, 'the same password hashes differently for each user');
    assert.ok(!alice.includes('same password'));
  });

  it('verifies a hash made with older parameters and upgrades it', async () => {
    const salt = randomBytes(16);
    const hash = scryptSync('old password', salt, 32, { N: 1024, r: 8, p: 1 });
    db.prepare('INSERT INTO users (id, password_hash, created_at) VALUES (?, ?, ?)').run('carol', `scrypt$1024$8$1$${salt.toString('base64')}$${hash.toString('base64')}`, 1);
    assert.equal(await users.verify('carol', 'wrong password'), null);
    assert.equal(storedHash('carol').split('$')[1], '1024');
    assert.equal((await users.verify('carol', 'old password'))?.id, 'carol');
    assert.match(storedHash('carol'), /^scrypt\$16384\$8\$1\$/);
    assert.equal((await users.verify('carol', 'old password'))?.id, 'carol');
  });

  it('refuses to log in with an unreadable stored hash', async () => {
    db.prepare('INSERT INTO users (id, password_hash, created_at) VALUES (?, ?, ?)').run('dave', 'md5$abc', 1);
    const logged: string[] = [];
    const previous = setLogSink((level, scope, message) => logged.push(`${level} [${scope}] ${message}`));
    try {
      assert.equal(await users.verify('dave', 'anything at all'), null);
    } finally {
      setLogSink(previous);
    }
    assert.deepEqual(logged, ['error [http] user "dave" has a password hash in an unknown format; they cannot log in until it is reset']);
  });

  it('changes a password and records logins', async () => {
    await users.create('alice', 'first password');
    await users.setPassword('ALICE', 'second password');
    assert.equal(await users.verify('alice', 'first password'), null);
    assert.equal((await users.verify('alice', 'second password'))?.id, 'alice');
    await rejectsWith(users.setPassword('alice', 'short'), 'ERR_PASSWORD_TOO_SHORT');
    await rejectsWith(users.setPassword('nobody', 'long enough password'), 'ERR_USER_NOT_FOUND');
    const before = Date.now();
    users.recordLogin('alice');
    const lastLogin = users.find('alice')?.lastLogin;
    assert.ok(lastLogin !== null && lastLogin !== undefined && lastLogin >= before && lastLogin <= Date.now());
  });

  it('keeps users across a restart (file database)', async () => {
    const dir = tempDir();
    try {
      const first = openDatabase('sqlite:mojo.db', dir);
      await new UserStore(first).create('alice', 'correct horse battery');
      first.close();
      const second = openDatabase('sqlite:mojo.db', dir);
      assert.equal((await new UserStore(second).verify('alice', 'correct horse battery'))?.id, 'alice');
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has one message per error code', () => {
    const messages = Object.values(USER_ERRORS);
    assert.equal(new Set(messages).size, messages.length);
    for (const code of Object.keys(USER_ERRORS) as UserErrorCode[]) assert.equal(new UserError(code).code, code);
  });
});
