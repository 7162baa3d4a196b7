import type { RealtimeOptions } from './realtime/index.ts';
import { checkRule, describe, type OptionRule } from './util/options.ts';

/** Socket options of a Mojo project: the realtime server's, in ms, plus `sessionExpiry` in seconds. */
export interface MojoSocketOptions extends Pick<RealtimeOptions, 'pingInterval' | 'pingTimeout' | 'maxPayload' | 'maxBufferedBytes' | 'connectTimeout' | 'maxAttachments' | 'transports' | 'upgradeTimeout' | 'verifyRemoteIp'> {
  /** Seconds a dropped client may come back and recover its state; 0 turns recovery off. @default 30 */
  sessionExpiry?: number;
}

export interface MojoConfig {
  /** Port the server listens on (`mojo serve --port` and `PORT` override it). @default 8000 */
  port?: number;
  /** Address to listen on. @default '0.0.0.0' */
  host?: string;
  /**
   * Secret that signs the `session_id` and `logged_in` cookies. A list rotates secrets: the first
   * signs, all verify. Required outside debug. @default undefined
   */
  cookieSecret?: string | readonly string[];
  /** Apps to load, by folder name under `apps/`. @default [] */
  installedApps?: readonly string[];
  /** Debug mode: error pages with stacks, more logging, a development secret allowed. @default false */
  debug?: boolean;
  /** Where users and sessions live: `sqlite:<file>` (relative to the project) or `sqlite::memory:`. @default 'sqlite:data/mojo.db' */
  database?: string;
  /**
   * Redis URL: sessions, `CURRENT_SESSIONS`, `LOGGED_IN_SESSIONS` and room broadcasts shared by
   * every process that uses it. @default undefined (one process, SQLite sessions)
   */
  redis?: string;
  /** Cluster tuning (with `redis`). */
  cluster?: {
    /** Seconds a crashed process's connections stay listed before they vanish. @default 15 */
    presenceTtl?: number;
  };
  /** Realtime channel options. */
  socket?: MojoSocketOptions;
  /** Authentication. */
  auth?: {
    /** Where `authenticated` handlers send visitors who are not logged in. @default '/auth/login/' */
    loginUrl?: string;
  };
  /** Session cookie. */
  session?: {
    /** Days a session lasts without a visit. @default 14 */
    maxAgeDays?: number;
    /** Send cookies over HTTPS only. @default false */
    secure?: boolean;
  };
  /** Foreign origins allowed to open realtime connections: `'*'` or a list. @default [] */
  allowedOrigins?: '*' | readonly string[];
  /** Folders of the project, relative to its root. */
  paths?: {
    /** @default 'apps' */
    apps?: string;
    /** @default 'templates' */
    templates?: string;
    /** @default 'static' */
    static?: string;
  };
}

export interface ResolvedConfig {
  readonly port: number;
  readonly host: string;
  readonly cookieSecret: readonly string[];
  readonly installedApps: readonly string[];
  readonly debug: boolean;
  readonly database: string;
  readonly redis: string | null;
  readonly cluster: { readonly presenceTtl: number };
  readonly socket: Readonly<MojoSocketOptions>;
  readonly auth: { readonly loginUrl: string };
  readonly session: { readonly maxAgeDays: number; readonly secure: boolean };
  readonly allowedOrigins: '*' | readonly string[];
  readonly paths: { readonly apps: string; readonly templates: string; readonly static: string };
}

/** A configuration mistake: `key` names the setting (dotted for nested ones). */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`mojo.config: ${key === '' ? '' : `"${key}" `}${problem}`);
    this.name = 'ConfigError';
  }
}

/** The secret debug mode may use when none is set; never accepted outside debug. */
export const DEV_SECRET = 'dev-only-secret';

const APP_NAME = /^[A-Z][A-Za-z0-9]*$/;
const PATH_RULE: OptionRule = { kind: 'string', pattern: /^[^\0]+$/, hint: 'a folder path' };

type Rules = Record<string, OptionRule | Record<string, OptionRule>>;

const RULES: Rules = {
  port: { kind: 'number', min: 0, max: 65_535, integer: true },
  host: { kind: 'string', nonEmpty: true },
  cookieSecret: {
    kind: 'custom',
    check: (v) =>
      (typeof v === 'string' && v.length > 0) || (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.length > 0))
        ? undefined
        : 'must be a non-empty string or a non-empty list of them',
  },
  installedApps: {
    kind: 'custom',
    check: (v) => {
      if (!Array.isArray(v)) return 'must be a list of app names';
      const bad = v.find((name) => typeof name !== 'string' || !APP_NAME.test(name));
      if (bad !== undefined) return `has ${describe(bad)}, which is not an app name (a capitalised identifier such as "Chat")`;
      const twice = v.find((name, i) => v.indexOf(name) !== i);
      return twice === undefined ? undefined : `lists "${twice}" twice`;
    },
  },
  debug: { kind: 'boolean' },
  database: { kind: 'string', pattern: /^sqlite:.+$/, hint: '"sqlite:<file>" or "sqlite::memory:"' },
  redis: { kind: 'string', pattern: /^rediss?:\/\/.+/, hint: 'a URL like "redis://127.0.0.1:6379"' },
  socket: {
    pingInterval: { kind: 'number', min: 1, integer: true },
    pingTimeout: { kind: 'number', min: 1, integer: true },
    maxPayload: { kind: 'number', min: 1, integer: true },
    maxBufferedBytes: { kind: 'number', min: 1, integer: true },
    connectTimeout: { kind: 'number', min: 1, integer: true },
    maxAttachments: { kind: 'number', min: 0, integer: true },
    upgradeTimeout: { kind: 'number', min: 1, integer: true },
    verifyRemoteIp: { kind: 'boolean' },
    sessionExpiry: { kind: 'number', min: 0 },
    transports: {
      kind: 'custom',
      check: (v) => (Array.isArray(v) && v.length > 0 && v.every((t) => t === 'polling' || t === 'websocket') ? undefined : 'must list "polling" and/or "websocket"'),
    },
  },
  auth: { loginUrl: { kind: 'string', pattern: /^\//, hint: 'a path starting with "/"' } },
  session: { maxAgeDays: { kind: 'number', min: 0.001 }, secure: { kind: 'boolean' } },
  allowedOrigins: {
    kind: 'custom',
    check: (v) => (v === '*' || (Array.isArray(v) && v.every((o) => typeof o === 'string' && /^https?:\/\/[^/]+$/.test(o))) ? undefined : 'must be "*" or a list of origins like "https://example.com"'),
  },
  paths: { apps: PATH_RULE, templates: PATH_RULE, static: PATH_RULE },
  cluster: { presenceTtl: { kind: 'number', min: 0.3, max: 3600 } },
};

function isRule(value: OptionRule | Record<string, OptionRule>): value is OptionRule {
  return typeof (value as OptionRule).kind === 'string';
}

function checkObject(prefix: string, rules: Rules | Record<string, OptionRule>, given: unknown): void {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError(prefix, `must be an object, got ${describe(given)}`);
  }
  for (const [key, value] of Object.entries(given)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const rule = (rules as Rules)[key];
    if (!rule) {
      const known = Object.keys(rules).join(', ');
      throw new ConfigError(path, `is not a setting (known: ${known})`);
    }
    if (value === undefined) continue;
    if (isRule(rule)) {
      const problem = checkRule(rule, value);
      if (problem) throw new ConfigError(path, `${problem}, got ${describe(value)}`);
    } else {
      checkObject(path, rule, value);
    }
  }
}

/**
 * Declares a project's settings with their types; checked here and again at start.
 * @example export default defineConfig({ installedApps: ['Chat'], cookieSecret: process.env.MOJO_SECRET });
 */
export function defineConfig(config: MojoConfig): MojoConfig {
  checkObject('', RULES, config);
  return config;
}

/**
 * Checks `config` and fills in every default. Throws {@link ConfigError} naming the first bad key,
 * and refuses to run outside debug without a real cookie secret.
 */
export function resolveConfig(config: MojoConfig = {}): ResolvedConfig {
  checkObject('', RULES, config);
  const debug = config.debug ?? false;
  const given = config.cookieSecret;
  const secrets = given === undefined ? [] : typeof given === 'string' ? [given] : [...given];
  if (!debug && (secrets.length === 0 || secrets.includes(DEV_SECRET))) {
    throw new ConfigError('cookieSecret', `must be set to a secret of your own outside debug mode (it signs session and login cookies); set MOJO_SECRET or debug: true`);
  }
  return Object.freeze({
    port: config.port ?? 8000,
    host: config.host ?? '0.0.0.0',
    cookieSecret: Object.freeze(secrets.length > 0 ? secrets : [DEV_SECRET]),
    installedApps: Object.freeze([...(config.installedApps ?? [])]),
    debug,
    database: config.database ?? 'sqlite:data/mojo.db',
    redis: config.redis ?? null,
    cluster: Object.freeze({ presenceTtl: config.cluster?.presenceTtl ?? 15 }),
    socket: Object.freeze({ ...config.socket }),
    auth: Object.freeze({ loginUrl: config.auth?.loginUrl ?? '/auth/login/' }),
    session: Object.freeze({ maxAgeDays: config.session?.maxAgeDays ?? 14, secure: config.session?.secure ?? false }),
    allowedOrigins: config.allowedOrigins === '*' ? '*' : Object.freeze([...(config.allowedOrigins ?? [])]),
    paths: Object.freeze({ apps: 'apps', templates: 'templates', static: 'static', ...config.paths }),
  });
}
