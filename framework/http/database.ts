import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createLogger } from '../util/logger.ts';

const log = createLogger('http');

/** An open better-sqlite3 connection. */
export type Database = BetterSqlite3.Database;

const MEMORY_URL = 'sqlite::memory:';
const URL_PREFIX = 'sqlite:';

/**
 * The schema, one step per entry. Step `i` brings the database from `PRAGMA user_version = i`
 * to `i + 1`; steps are append-only, never edited once released, so every database replays
 * exactly the steps it has not seen.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sessions (
     sid TEXT PRIMARY KEY,
     data TEXT NOT NULL,
     expires INTEGER NOT NULL
   );
   CREATE INDEX sessions_expires ON sessions (expires);
   CREATE TABLE users (
     id TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_login INTEGER
   );
   -- Usernames keep the case they were registered with but are unique ignoring ASCII case.
   CREATE UNIQUE INDEX users_id_nocase ON users (id COLLATE NOCASE);`,
];

/**
 * The schema version a database has after {@link openDatabase} (its `PRAGMA user_version`).
 *
 * @example
 * db.pragma('user_version', { simple: true }) === SCHEMA_VERSION; // true
 */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens the project's database and brings its schema up to date (idempotent: opening twice
 * migrates once). `url` is `sqlite::memory:` or `sqlite:<file>`, the file resolved against
 * `root` with its folder created. Files use WAL so readers never wait on the writer; every
 * connection waits up to 5 s for a lock instead of failing at once. Throws an Error naming
 * `url` when it is not one of those forms, and when the file was written by a newer Mojo.
 *
 * @example
 * const db = openDatabase(config.database, projectRoot); // 'sqlite:data/mojo.db' → <root>/data/mojo.db
 */
export function openDatabase(url: string, root: string): Database {
  const file = fileOf(url);
  let db: Database;
  if (file === null) {
    db = new BetterSqlite3(':memory:');
  } else {
    const target = path.resolve(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      db = new BetterSqlite3(target);
    } catch (err) {
      throw new Error(`Cannot open database "${url}" (${target}): ${(err as Error).message}`, { cause: err });
    }
    db.pragma('journal_mode = WAL');
  }
  db.pragma('busy_timeout = 5000');
  try {
    migrate(db, url);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** The file part of a `sqlite:` url, or null for the in-memory database. */
function fileOf(url: string): string | null {
  if (url === MEMORY_URL) return null;
  const file = typeof url === 'string' && url.startsWith(URL_PREFIX) ? url.slice(URL_PREFIX.length) : '';
  if (file === '' || file.includes('\0') || file.startsWith(':')) {
    throw new Error(`Bad database url "${String(url)}": use "sqlite:<file>" (relative to the project) or "sqlite::memory:"`);
  }
  return file;
}

function migrate(db: Database, url: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`Database "${url}" has schema version ${current}, newer than this Mojo knows (${SCHEMA_VERSION}); upgrade Mojo or use another database`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    // IMMEDIATE takes the write lock up front, so two processes opening a fresh file cannot both
    // read version 0 and then both try to create the tables.
    const applied = db
      .transaction((): boolean => {
        if ((db.pragma('user_version', { simple: true }) as number) !== version) return false;
        db.exec(MIGRATIONS[version]!);
        db.pragma(`user_version = ${version + 1}`);
        return true;
      })
      .immediate();
    if (applied) log.debug(`database ${url}: migrated to schema version ${version + 1}`);
  }
}
