/**
 * The figures the benchmark reports, the servers it compares, and the targets the issue set:
 * one table that the orchestrator, the report, the chart and the smoke test all read.
 */

export const SERVERS = ['floor', 'socketio', 'mojo-bare', 'mojo-app'] as const;
export type ServerName = (typeof SERVERS)[number];

export const SERVER_LABELS: Record<ServerName, string> = {
  floor: 'floor (bare ws)',
  socketio: 'socket.io 4.8',
  'mojo-bare': 'mojo bare',
  'mojo-app': 'mojo app + sessions',
};

/** Our two servers, each compared with socket.io and the floor. */
export const OURS = ['mojo-bare', 'mojo-app'] as const;

export type FigureKey =
  | 'rssPerConnection'
  | 'rawRssPerConnection'
  | 'broadcastUserMs'
  | 'echoUserUs'
  | 'heapPerConnection'
  | 'broadcastCpuMs'
  | 'echoCpuUs'
  | 'connectMs'
  | 'reconnectMs'
  | 'reconnectCpuUs'
  | 'pollingPerSecond'
  | 'connectCpuUs'
  | 'broadcastWallMs'
  | 'echoPerSecond'
  | 'echoP50Ms'
  | 'sessionGetsMs';

export interface Figure {
  readonly key: FigureKey;
  readonly label: string;
  readonly unit: string;
  /** Lower is better (memory, CPU, time) or higher (throughput). */
  readonly better: 'lower' | 'higher';
  /** One of the figures the issue asks for (the others are context). */
  readonly primary: boolean;
  /** Servers that cannot have this figure, and why. */
  readonly notFor?: Partial<Record<ServerName, string>>;
  readonly digits: number;
}

export const FIGURES: readonly Figure[] = [
  { key: 'rssPerConnection', label: 'RSS per idle connection', unit: 'KiB', better: 'lower', primary: true, digits: 2 },
  { key: 'heapPerConnection', label: 'heapUsed per idle connection', unit: 'KiB', better: 'lower', primary: true, digits: 2 },
  { key: 'broadcastCpuMs', label: 'server CPU per broadcast to all N', unit: 'ms', better: 'lower', primary: true, digits: 2 },
  { key: 'echoCpuUs', label: 'server CPU per echo round trip', unit: 'µs', better: 'lower', primary: true, digits: 1 },
  { key: 'connectMs', label: 'time to connect N clients', unit: 'ms', better: 'lower', primary: true, digits: 0 },
  { key: 'reconnectMs', label: 'time to connect N clients again, warm server', unit: 'ms', better: 'lower', primary: true, digits: 0 },
  {
    key: 'pollingPerSecond',
    label: 'long-polling round trips per second',
    unit: '/s',
    better: 'higher',
    primary: true,
    digits: 0,
    notFor: { floor: 'websocket only' },
  },
  { key: 'rawRssPerConnection', label: 'RSS per idle connection, young generation included', unit: 'KiB', better: 'lower', primary: false, digits: 2 },
  { key: 'broadcastUserMs', label: 'user-space CPU per broadcast to all N, kernel excluded', unit: 'ms', better: 'lower', primary: false, digits: 2 },
  { key: 'echoUserUs', label: 'user-space CPU per echo round trip, kernel excluded', unit: 'µs', better: 'lower', primary: false, digits: 1 },
  { key: 'connectCpuUs', label: 'server CPU per connection (connect phase)', unit: 'µs', better: 'lower', primary: false, digits: 0 },
  { key: 'reconnectCpuUs', label: 'server CPU per connection (connect again, warm server)', unit: 'µs', better: 'lower', primary: false, digits: 0 },
  { key: 'broadcastWallMs', label: 'broadcast delivered to all N (wall, median)', unit: 'ms', better: 'lower', primary: false, digits: 1 },
  { key: 'echoPerSecond', label: 'echo round trips per second (256 in flight)', unit: '/s', better: 'higher', primary: false, digits: 0 },
  { key: 'echoP50Ms', label: 'echo round trip latency, median', unit: 'ms', better: 'lower', primary: false, digits: 2 },
  {
    key: 'sessionGetsMs',
    label: 'session GETs before connecting, not in connect time',
    unit: 'ms',
    better: 'lower',
    primary: false,
    digits: 0,
    notFor: { floor: 'no sessions', socketio: 'no sessions', 'mojo-bare': 'no sessions' },
  },
];

export const PRIMARY_FIGURES = FIGURES.filter((f) => f.primary);

/** One session's figures (one server, one N, one round); null where the figure does not apply. */
export type Sample = Record<FigureKey, number | null> & {
  readonly server: ServerName;
  readonly n: number;
  readonly round: number;
  /** Every client still joined at the end, none dropped (and, when checked, past a full heartbeat). */
  readonly held: boolean;
  readonly heldThroughHeartbeat: boolean | null;
  /** The load generator's CPU use during each phase, as a share of one core (is the client the limit?). */
  readonly loaderBusy: Record<string, number>;
  /** Share of the two benchmark CPUs that other processes (or the hypervisor) took, per phase. */
  readonly foreign: Record<string, number>;
  /** Fingerprint of framework/ when the session started (the working tree may change under a run). */
  readonly code: string;
  /** Clean and total measurement batches per batched figure. */
  readonly batches: Record<string, [clean: number, total: number]>;
  /** The server's memory before and after connecting N (bytes), as the control channel reported it. */
  readonly memory: { base: Record<string, number>; loaded: Record<string, number> };
};

/** Medians over rounds: server → N → figure → value. */
export type Medians = Record<ServerName, Record<number, Record<FigureKey, number | null>>>;

export interface Target {
  readonly id: string;
  readonly text: string;
  readonly server: ServerName;
  readonly figure: FigureKey;
  readonly against: ServerName;
  /** ours ÷ theirs must be at most this (lower-is-better figures) or at least this (higher). */
  readonly limit: number;
  readonly compare: 'atMost' | 'atLeast';
}

function targetsFor(server: ServerName): Target[] {
  return [
    { id: 'mem-sio', text: 'RSS per idle connection ≤ 0.6 × socket.io', server, figure: 'rssPerConnection', against: 'socketio', limit: 0.6, compare: 'atMost' },
    { id: 'bcast-sio', text: 'CPU per broadcast ≤ 0.75 × socket.io', server, figure: 'broadcastCpuMs', against: 'socketio', limit: 0.75, compare: 'atMost' },
    { id: 'bcast-floor', text: 'CPU per broadcast ≤ 1.15 × floor', server, figure: 'broadcastCpuMs', against: 'floor', limit: 1.15, compare: 'atMost' },
    { id: 'echo-sio', text: 'CPU per echo ≤ 0.9 × socket.io', server, figure: 'echoCpuUs', against: 'socketio', limit: 0.9, compare: 'atMost' },
    { id: 'echo-floor', text: 'CPU per echo ≤ 1.1 × floor', server, figure: 'echoCpuUs', against: 'floor', limit: 1.1, compare: 'atMost' },
    // "≥ 1.5 × as fast": socket.io's time ÷ ours ≥ 1.5, i.e. ours ÷ socket.io ≤ 1/1.5.
    { id: 'connect-sio', text: 'connect N ≥ 1.5 × as fast as socket.io (time ≤ 0.667 ×)', server, figure: 'connectMs', against: 'socketio', limit: 1 / 1.5, compare: 'atMost' },
    // The same target on a warm server: a first connect of N into a fresh process also pays the
    // JIT and the heap's growth, a reconnect after it (as after a network blip) does not.
    { id: 'reconnect-sio', text: 'connect N again (warm) ≥ 1.5 × as fast as socket.io (time ≤ 0.667 ×)', server, figure: 'reconnectMs', against: 'socketio', limit: 1 / 1.5, compare: 'atMost' },
  ];
}

/** Every target of the issue, for both of our servers; the app is also held to 1.15 × our bare server. */
export const TARGETS: readonly Target[] = [
  ...targetsFor('mojo-bare'),
  ...targetsFor('mojo-app'),
  ...PRIMARY_FIGURES.map(
    (f): Target => ({
      id: `app-bare-${f.key}`,
      text: `app with sessions within 1.15 × bare: ${f.label}`,
      server: 'mojo-app',
      figure: f.key,
      against: 'mojo-bare',
      limit: f.better === 'lower' ? 1.15 : 1 / 1.15,
      compare: f.better === 'lower' ? 'atMost' : 'atLeast',
    }),
  ),
];

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Share of our CPUs other processes may take during a phase for it to count as quiet. */
export const QUIET = 0.1;

/** Figures that are wall-clock times or rates, and the phase whose quietness they depend on. */
export const WALL_CLOCK: Partial<Record<FigureKey, string>> = {
  connectMs: 'connect',
  reconnectMs: 'reconnect',
  pollingPerSecond: 'polling',
  broadcastWallMs: 'broadcast',
  echoPerSecond: 'echo',
  echoP50Ms: 'echo',
};

/**
 * Medians over rounds of every figure of every server at every N. For wall-clock figures, only
 * the sessions during which other processes took under QUIET of our CPUs count, when they are at
 * least half of the rounds (CPU-time figures are already chosen batch by batch).
 */
export function mediansOf(samples: readonly Sample[], servers: readonly ServerName[], ns: readonly number[]): Medians {
  const result = {} as Medians;
  for (const server of servers) {
    result[server] = {};
    for (const n of ns) {
      const mine = samples.filter((s) => s.server === server && s.n === n);
      const row = {} as Record<FigureKey, number | null>;
      for (const figure of FIGURES) {
        // Wall-clock figures: the sessions other tenants left alone, when they are at least half.
        const phase = WALL_CLOCK[figure.key];
        const quiet = phase ? mine.filter((s) => (s.foreign?.[phase] ?? 0) <= QUIET) : mine;
        const used = quiet.length >= Math.ceil(mine.length / 2) ? quiet : mine;
        const values = used.map((s) => s[figure.key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
        row[figure.key] = values.length > 0 ? median(values) : null;
      }
      result[server][n] = row;
    }
  }
  return result;
}

export interface TargetResult {
  readonly target: Target;
  readonly n: number;
  readonly ratio: number | null;
  readonly met: boolean | null;
}

export function evaluateTargets(medians: Medians, ns: readonly number[]): TargetResult[] {
  const results: TargetResult[] = [];
  for (const target of TARGETS) {
    for (const n of ns) {
      const ours = medians[target.server]?.[n]?.[target.figure];
      const theirs = medians[target.against]?.[n]?.[target.figure];
      const ratio = typeof ours === 'number' && typeof theirs === 'number' && theirs !== 0 ? ours / theirs : null;
      const met = ratio === null ? null : target.compare === 'atMost' ? ratio <= target.limit : ratio >= target.limit;
      results.push({ target, n, ratio, met });
    }
  }
  return results;
}
