/**
 * The one leveled logger of the framework. Quiet by default (errors and warnings only);
 * `setLogLevel('debug')` or `MOJO_LOG=debug` turns it up. Every layer logs through a
 * child with its own scope, so a line says where it came from.
 */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** Where log lines go; tests and embedders can swap it. */
export type LogSink = (level: Exclude<LogLevel, 'silent'>, scope: string, message: string, extra: unknown[]) => void;

const defaultSink: LogSink = (level, scope, message, extra) => {
  const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}`;
  // stderr keeps stdout free for what a CLI or a user's program prints.
  process.stderr.write(extra.length ? `${line} ${extra.map(formatExtra).join(' ')}\n` : `${line}\n`);
};

function formatExtra(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function levelFromEnv(): LogLevel {
  const wanted = process.env.MOJO_LOG;
  return wanted && wanted in RANK ? (wanted as LogLevel) : 'warn';
}

let threshold = RANK[levelFromEnv()];
let sink: LogSink = defaultSink;

/** Sets how much the framework says. @example setLogLevel('debug') */
export function setLogLevel(level: LogLevel): void {
  if (!(level in RANK)) throw new TypeError(`Unknown log level "${String(level)}"; use one of ${Object.keys(RANK).join(', ')}`);
  threshold = RANK[level];
}

export function getLogLevel(): LogLevel {
  return (Object.keys(RANK) as LogLevel[]).find((name) => RANK[name] === threshold) ?? 'warn';
}

/** Replaces where log lines go; returns the previous sink so it can be restored. */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink;
  sink = next;
  return previous;
}

export class Logger {
  constructor(readonly scope: string) {}

  get debugEnabled(): boolean {
    return threshold >= RANK.debug;
  }

  error(message: string, ...extra: unknown[]): void {
    if (threshold >= RANK.error) sink('error', this.scope, message, extra);
  }

  warn(message: string, ...extra: unknown[]): void {
    if (threshold >= RANK.warn) sink('warn', this.scope, message, extra);
  }

  info(message: string, ...extra: unknown[]): void {
    if (threshold >= RANK.info) sink('info', this.scope, message, extra);
  }

  debug(message: string, ...extra: unknown[]): void {
    if (threshold >= RANK.debug) sink('debug', this.scope, message, extra);
  }
}

/** A logger whose lines carry `scope`. @example const log = createLogger('engine'); */
export function createLogger(scope: string): Logger {
  return new Logger(scope);
}
