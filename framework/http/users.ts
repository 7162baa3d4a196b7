import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { createLogger } from '../util/logger.ts';
import type { Database } from './database.ts';

const log = createLogger('http');

/** A user's id: the username, with the letter case it was registered with. */
export type UserId = string;

/** A registered user, without the password hash (which never leaves {@link UserStore}). */
export interface User {
  /** The username as registered; lookups ignore ASCII case. */
  id: UserId;
  /** When the user registered (ms since the epoch). */
  createdAt: number;
  /** When the user last logged in (ms since the epoch), or null if never. */
  lastLogin: number | null;
}

/** Why a username or password was refused. */
export type UserErrorCode = 'ERR_USERNAME_INVALID' | 'ERR_USERNAME_TAKEN' | 'ERR_PASSWORD_TOO_SHORT' | 'ERR_PASSWORD_TOO_LONG' | 'ERR_USER_NOT_FOUND';

/** Usernames: 3 to 32 characters among letters, digits, `_`, `.` and `-`. */
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
/** Passwords: 8 to 1024 characters (Unicode code points, after NFC normalisation). */
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 1024;

/**
 * Every {@link UserError} code with the message a registration or login form can show as is.
 *
 * @example
 * USER_ERRORS.ERR_USERNAME_TAKEN; // 'That username is taken; please choose another'
 */
export const USER_ERRORS: Readonly<Record<UserErrorCode, string>> = Object.freeze({
  ERR_USERNAME_INVALID: 'Usernames are 3 to 32 characters: letters, digits, "_", "." and "-"',
  ERR_USERNAME_TAKEN: 'That username is taken; please choose another',
  ERR_PASSWORD_TOO_SHORT: `Passwords need at least ${PASSWORD_MIN} characters`,
  ERR_PASSWORD_TOO_LONG: `Passwords can have at most ${PASSWORD_MAX} characters`,
  ERR_USER_NOT_FOUND: 'There is no such user',
});

/**
 * A username or password {@link UserStore} refuses; `code` is one of {@link USER_ERRORS} and
 * `message` is fit to show in the form.
 *
 * @example
 * try { await users.create(name, password); } catch (err) { if (err instanceof UserError) form.error = err.message; else throw err; }
 */
export class UserError extends Error {
  constructor(readonly code: UserErrorCode) {
    super(USER_ERRORS[code]);
    this.name = 'UserError';
  }
}

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Today's cost; stored hashes name their own, so raising it later leaves old ones verifiable. */
const CURRENT: ScryptParams = { N: 16_384, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 64;

interface UserRow {
  id: string;
  password_hash: string;
  created_at: number;
  last_login: number | null;
}

/**
 * The project's users, in the `users` table of the database from `openDatabase`. Usernames keep
 * their case (`Alice` stays `Alice`) but are unique and looked up ignoring ASCII case, through
 * `COLLATE NOCASE` on the primary key's unique index: `alice` logs in as `Alice`, and nobody can
 * register `ALICE` beside her. Passwords are hashed with scrypt as `scrypt$N$r$p$salt$hash`.
 *
 * @example
 * const users = new UserStore(db);
 * await users.create('alice', 'correct horse battery');
 * const user = await users.verify('Alice', 'correct horse battery'); // { id: 'alice', ... }
 */
export class UserStore {
  readonly #select;
  readonly #insert;
  readonly #updateHash;
  readonly #updateLogin;
  readonly #count;

  constructor(db: Database) {
    this.#select = db.prepare<[string], UserRow>('SELECT id, password_hash, created_at, last_login FROM users WHERE id = ? COLLATE NOCASE');
    this.#insert = db.prepare<[string, string, number]>('INSERT INTO users (id, password_hash, created_at) VALUES (?, ?, ?)');
    this.#updateHash = db.prepare<[string, string]>('UPDATE users SET password_hash = ? WHERE id = ? COLLATE NOCASE');
    this.#updateLogin = db.prepare<[number, string]>('UPDATE users SET last_login = ? WHERE id = ? COLLATE NOCASE');
    this.#count = db.prepare<[], number>('SELECT COUNT(*) FROM users').pluck();
  }

  /**
   * Registers `username` with `password`. Throws {@link UserError} `ERR_USERNAME_INVALID`,
   * `ERR_USERNAME_TAKEN` (in any letter case), `ERR_PASSWORD_TOO_SHORT` or `ERR_PASSWORD_TOO_LONG`.
   *
   * @example
   * const user = await users.create(body.username, body.password);
   */
  async create(username: string, password: string): Promise<User> {
    if (!isUsername(username)) throw new UserError('ERR_USERNAME_INVALID');
    const secret = checkPassword(password);
    if (this.exists(username)) throw new UserError('ERR_USERNAME_TAKEN');
    const hash = await hashPassword(secret);
    const createdAt = Date.now();
    try {
      this.#insert.run(username, hash, createdAt);
    } catch (err) {
      // Another registration of the same name may have finished while this one was hashing.
      if (isUniqueViolation(err)) throw new UserError('ERR_USERNAME_TAKEN');
      throw err;
    }
    return { id: username, createdAt, lastLogin: null };
  }

  /**
   * The user if `password` is theirs, else null; never throws for bad input. Costs one scrypt
   * computation whether or not the user exists, so response times do not reveal which
   * usernames are registered.
   *
   * @example
   * const user = await users.verify(body.username, body.password);
   * if (!user) return this.render('login.html', { error: 'Wrong username or password' });
   */
  async verify(username: string, password: string): Promise<User | null> {
    const row = isUsername(username) ? this.#select.get(username) : undefined;
    const secret = typeof password === 'string' ? password.normalize('NFC') : '';
    if (!row) {
      await derive(secret, randomBytes(SALT_BYTES), CURRENT, KEY_BYTES);
      return null;
    }
    const stored = parseHash(row.password_hash);
    if (!stored) {
      log.error(`user "${row.id}" has a password hash in an unknown format; they cannot log in until it is reset`);
      await derive(secret, randomBytes(SALT_BYTES), CURRENT, KEY_BYTES);
      return null;
    }
    const candidate = await derive(secret, stored.salt, stored.params, stored.hash.length);
    if (!timingSafeEqual(candidate, stored.hash)) return null;
    if (stored.params.N !== CURRENT.N || stored.params.r !== CURRENT.r || stored.params.p !== CURRENT.p) {
      // The password is known right now, so this is the one moment an old hash can be upgraded.
      this.#updateHash.run(await hashPassword(secret), row.id);
    }
    return toUser(row);
  }

  /**
   * The user `id` (in any letter case), or null.
   *
   * @example
   * users.find('ALICE')?.id; // 'alice'
   */
  find(id: UserId): User | null {
    const row = typeof id === 'string' ? this.#select.get(id) : undefined;
    return row ? toUser(row) : null;
  }

  /**
   * Whether `id` is registered, ignoring letter case.
   *
   * @example
   * if (users.exists(body.username)) form.error = 'taken';
   */
  exists(id: UserId): boolean {
    return this.find(id) !== null;
  }

  /**
   * How many users are registered.
   *
   * @example
   * if (users.count() === 0) console.log('register the first user');
   */
  count(): number {
    return this.#count.get() ?? 0;
  }

  /**
   * Replaces the password of `id`. Throws {@link UserError} `ERR_PASSWORD_TOO_SHORT`,
   * `ERR_PASSWORD_TOO_LONG` or `ERR_USER_NOT_FOUND`.
   *
   * @example
   * await users.setPassword(user.id, body.newPassword);
   */
  async setPassword(id: UserId, password: string): Promise<void> {
    const secret = checkPassword(password);
    if (!this.exists(id)) throw new UserError('ERR_USER_NOT_FOUND');
    const { changes } = this.#updateHash.run(await hashPassword(secret), id);
    if (changes === 0) throw new UserError('ERR_USER_NOT_FOUND');
  }

  /**
   * Stamps `id`'s last login with the current time; an unknown id is ignored.
   *
   * @example
   * users.recordLogin(user.id);
   */
  recordLogin(id: UserId): void {
    this.#updateLogin.run(Date.now(), id);
  }
}

function isUsername(value: unknown): value is string {
  return typeof value === 'string' && USERNAME.test(value);
}

/** The password to hash, NFC-normalised so the same text typed on any keyboard matches. */
function checkPassword(password: unknown): string {
  const secret = typeof password === 'string' ? password.normalize('NFC') : '';
  // Code points, not UTF-16 units: an emoji counts as the one character a person sees.
  let length = 0;
  for (const _ of secret) if (++length > PASSWORD_MAX) throw new UserError('ERR_PASSWORD_TOO_LONG');
  if (length < PASSWORD_MIN) throw new UserError('ERR_PASSWORD_TOO_SHORT');
  return secret;
}

async function hashPassword(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, CURRENT, KEY_BYTES);
  return ['scrypt', CURRENT.N, CURRENT.r, CURRENT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

function parseHash(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map((part) => (/^[1-9][0-9]{0,9}$/.test(part) ? Number(part) : NaN)) as [number, number, number];
  // Bounds keep a corrupted row from asking for gigabytes of memory on a login attempt.
  if (!(N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0 && r <= 64 && p <= 64)) return null;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || hash.length === 0) return null;
  return { params: { N, r, p }, salt, hash };
}

function derive(secret: string, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
  // Node refuses scrypt above maxmem (32 MiB by default); size it to the parameters with headroom.
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function toUser(row: UserRow): User {
  return { id: row.id, createdAt: row.created_at, lastLogin: row.last_login };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
