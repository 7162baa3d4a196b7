/**
 * The benchmark orchestrator (`npm run bench`). For every round, every N and every server (one
 * at a time, in an order that rotates between rounds), it starts the server pinned to one CPU and
 * the load generator pinned to the other, measures every figure, and kills both. Then it writes
 * the medians to BENCHMARKS.md (between its markers), bench/results.json and bench/results.svg.
 *
 *   npm run bench -- [--n 5000,10000] [--rounds 5] [--servers floor,socketio,mojo-bare,mojo-app]
 *                    [--quick] [--out <dir>] [--no-hold]
 *
 * --quick  a smoke run: one small batch per figure, short waits (for the test suite)
 * --out    write results.json, results.svg and BENCHMARKS.md into <dir> instead of the repository
 * --from   rewrite the report and the chart from a results.json of an earlier run (no measuring)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeChart } from './chart.ts';
import { PING_INTERVAL, SESSION_PATH } from './constants.ts';
import { FIGURES, SERVERS, evaluateTargets, median, mediansOf, type FigureKey, type Sample, type ServerName } from './figures.ts';
import { LOAD_CPU, Meter, REPO, SERVER_CPU, frameworkFingerprint, killEverything, machineBusy, startLoad, startServer, type Memory } from './processes.ts';
import { writeReport, type Machine, type RunInfo } from './report.ts';

// ---- options ------------------------------------------------------------------------------------

interface Options {
  ns: number[];
  rounds: number;
  servers: ServerName[];
  quick: boolean;
  outDir: string | null;
  hold: boolean;
  from: string | null;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { ns: [5000, 10_000], rounds: 5, servers: [...SERVERS], quick: false, outDir: null, hold: true, from: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--n':
        options.ns = value()
          .split(',')
          .map((s) => Number(s.replace(/_/g, '')));
        if (options.ns.some((n) => !Number.isInteger(n) || n < 1 || n > 15_000)) throw new Error('--n takes whole numbers from 1 to 15000, comma-separated');
        break;
      case '--rounds':
        options.rounds = Number(value());
        if (!Number.isInteger(options.rounds) || options.rounds < 1 || options.rounds > 20) throw new Error('--rounds takes a whole number from 1 to 20');
        break;
      case '--servers':
        options.servers = value().split(',') as ServerName[];
        for (const s of options.servers) if (!SERVERS.includes(s)) throw new Error(`unknown server ${s} (known: ${SERVERS.join(', ')})`);
        break;
      case '--quick':
        options.quick = true;
        break;
      case '--no-hold':
        options.hold = false;
        break;
      case '--from':
        options.from = path.resolve(value());
        break;
      case '--out':
        options.outDir = path.resolve(value());
        break;
      case '--help':
      case '-h':
        process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 13).join('\n') + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  return options;
}

/** How much work each measurement gets: enough server CPU that 10 ms clock ticks do not matter. */
function parametersFor(quick: boolean) {
  return quick
    ? { quick: true, warmClients: 20, concurrency: 64, batches: 1, batchCpuMs: 0, maxBatch: 300, echoInFlight: 64, pollingClients: 10, pollingWarmupMs: 100, pollingMs: 400, settleMs: 100 }
    : { quick: false, warmClients: 200, concurrency: 128, batches: 5, batchCpuMs: 400, maxBatch: 200_000, echoInFlight: 256, pollingClients: 100, pollingWarmupMs: 500, pollingMs: 3000, settleMs: 1000 };
}
type Parameters = ReturnType<typeof parametersFor>;

// ---- measuring ----------------------------------------------------------------------------------------

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

interface Batches {
  /** Median over the batches used of server CPU (user + system) per operation, ms. */
  perOp: number;
  /** The same, user-space only. */
  userPerOp: number;
  /** Median share of the benchmark CPUs other tenants took during the batches used. */
  foreign: number;
  /** Operations measured in all. */
  ops: number;
  /** Batches run, and how many of them ran on a quiet machine (foreign load under CLEAN). */
  batches: number;
  clean: number;
  /** The load generator's answer to the last batch. */
  last: Record<string, number>;
}

/** A batch during which other tenants took at most this share of our two CPUs counts as clean. */
const CLEAN = 0.1;

/**
 * Runs `warmup` unmeasured operations, then batches of them (the first of `first` operations, the
 * next sized from it to cost the server about p.batchCpuMs each) until p.batches of them ran on
 * a quiet machine, or three more than that ran. The figure is the median of the clean batches (of all
 * of them when too few were clean).
 */
async function measureBatches(meter: Meter, p: Parameters, first: number, warmup: number, run: (count: number) => Promise<Record<string, number>>): Promise<Batches> {
  if (!p.quick) await run(warmup);
  const done: Array<{ perOp: number; userPerOp: number; foreign: number }> = [];
  let ops = 0;
  let count = first;
  let last: Record<string, number> = {};
  const most = p.quick ? 1 : p.batches + 3;
  let retries = 0;
  while (done.length < most) {
    const mark = meter.mark();
    last = await run(count);
    const used = meter.since(mark);
    // A smoke run's single small batch can end within one clock tick (10 ms) and read 0 CPU: it
    // is run again, four times larger (at most 20,000 operations), so every figure has a value.
    if (p.quick && used.server.total === 0 && retries < 5 && count < 20_000) {
      retries++;
      count = Math.min(count * 4, 20_000);
      continue;
    }
    ops += count;
    done.push({ perOp: used.server.total / count, userPerOp: used.server.user / count, foreign: used.foreign });
    if (done.length >= p.batches && done.filter((b) => b.foreign <= CLEAN).length >= p.batches) break;
    // Size the next batches from what this one cost (at least 10 ms of CPU measured per batch).
    const cost = Math.max(used.server.total, 10) / count;
    count = Math.max(1, Math.min(p.maxBatch, Math.ceil(p.batchCpuMs / cost)));
  }
  const clean = done.filter((b) => b.foreign <= CLEAN);
  const kept = clean.length >= Math.ceil(p.batches / 2) ? clean : done;
  return {
    perOp: median(kept.map((b) => b.perOp)),
    userPerOp: median(kept.map((b) => b.userPerOp)),
    foreign: median(kept.map((b) => b.foreign)),
    ops,
    batches: done.length,
    clean: clean.length,
    last,
  };
}

/** Seconds the whole run may spend waiting for other tenants to leave our CPUs alone. */
let quietBudgetS = 180;

/**
 * Before a session: if other processes keep the two benchmark CPUs more than 25 % busy, wait
 * (2 s at a time, within the run's budget) for them to calm down. Returns the seconds waited.
 */
async function waitForQuiet(quick: boolean): Promise<number> {
  if (quick) return 0;
  let waited = 0;
  for (;;) {
    const busy = await machineBusy(1000);
    if (busy <= 0.25 || quietBudgetS <= 0) return waited;
    if (waited === 0) log(`  other processes keep our CPUs ${Math.round(busy * 100)} % busy: waiting for a quieter moment (${Math.round(quietBudgetS)} s of patience left)`);
    await sleep(2000);
    waited += 3;
    quietBudgetS -= 3;
  }
}

/** One server, one N, one round: every figure. */
async function runSession(server: ServerName, n: number, round: number, p: Parameters, checkHeartbeat: boolean): Promise<Sample> {
  const code = frameworkFingerprint();
  const srv = startServer(server);
  const load = startLoad();
  try {
    const [hello] = await Promise.all([srv.ready, load.ready]);
    const port = Number(hello.port);
    const pid = srv.pid;
    if (hello.pid !== pid) throw new Error(`${server}: pid ${String(hello.pid)} is not the spawned ${pid}`);
    const meter = new Meter(pid, [load.pid]);
    const foreign: Record<string, number> = {};
    const busy: Record<string, number> = {};
    const loaderBusy = (phase: string, r: Record<string, number>) => {
      busy[phase] = Math.round((r.loaderCpuMs! / r.ms!) * 100) / 100;
    };

    let sessionGetsMs: number | null = null;
    if (server === 'mojo-app') {
      // The realistic way: one GET per client gets it a signed session_id cookie. Done before the
      // connect phase and timed apart, so "time to connect N" compares like with like.
      const cookies = await load.request({ cmd: 'cookies', port, count: n + p.warmClients + p.pollingClients, path: SESSION_PATH });
      sessionGetsMs = cookies.ms!;
    }

    // Warm-up: JIT and lazy paths of connect, broadcast, echo and close, before the baseline.
    await load.request({ cmd: 'connect', port, count: p.warmClients, concurrency: p.concurrency });
    await load.request({ cmd: 'broadcast', count: 2 });
    await load.request({ cmd: 'echo', count: p.warmClients * 5, concurrency: Math.min(p.echoInFlight, p.warmClients) });
    await load.request({ cmd: 'close' });
    await sleep(p.quick ? 100 : 500);

    const base = (await srv.request<{ mem: Memory }>({ cmd: 'mem', settleMs: p.settleMs })).mem;

    // Connect N.
    const beforeConnect = meter.mark();
    const connect = await load.request({ cmd: 'connect', port, count: n, concurrency: p.concurrency });
    const connected = meter.since(beforeConnect);
    const connectCpu = connected.server.total;
    foreign.connect = connected.foreign;
    const connectedAt = Date.now();
    loaderBusy('connect', connect);

    // Memory per idle connection, after a forced GC and a settle.
    const loaded = (await srv.request<{ mem: Memory }>({ cmd: 'mem', settleMs: p.settleMs })).mem;

    // Broadcasts, then echoes: a few unmeasured to warm up the N new connections' paths, then
    // `batches` batches, each sized to cost the server about batchCpuMs (so 10 ms clock ticks are
    // ~2 % of a batch). A session's figure is the median batch: a burst of noise from another
    // tenant of the machine spoils one batch, not the figure.
    const broadcast = await measureBatches(meter, p, p.quick ? 3 : Math.max(2, Math.ceil(20_000 / n)), 3, (count) =>
      load.request({ cmd: 'broadcast', count }),
    );
    loaderBusy('broadcast', broadcast.last);
    foreign.broadcast = broadcast.foreign;
    const inFlight = Math.min(p.echoInFlight, n);
    const echoes = await measureBatches(meter, p, p.quick ? 300 : 5000, 2000, (count) => load.request({ cmd: 'echo', count, concurrency: inFlight }));
    const echo = echoes.last;
    loaderBusy('echo', echo);
    foreign.echo = echoes.foreign;

    // Long-polling round trips (with the N websocket clients still connected and idle).
    let pollingPerSecond: number | null = null;
    if (server !== 'floor') {
      const beforePolling = meter.mark();
      const polling = await load.request({ cmd: 'polling', port, clients: p.pollingClients, warmupMs: p.pollingWarmupMs, ms: p.pollingMs });
      foreign.polling = meter.since(beforePolling).foreign;
      pollingPerSecond = polling.perSecond!;
      loaderBusy('polling', polling);
    }

    let status = await load.request({ cmd: 'status' });
    let heldThroughHeartbeat: boolean | null = null;
    if (checkHeartbeat) {
      // Keep every client until each has had at least one ping and answered it.
      const wait = connectedAt + PING_INTERVAL + 3000 - Date.now();
      if (wait > 0) {
        log(`  holding ${n} clients ${Math.round(wait / 1000)} s more, through a heartbeat`);
        await sleep(wait);
      }
      status = await load.request({ cmd: 'status' });
      heldThroughHeartbeat = status.joined === n && status.dropped === 0;
    }

    // Connect N again, into the now warm server (its code compiled, its heap grown), as clients
    // do after a network blip; they carry the same cookies.
    await load.request({ cmd: 'close' });
    await sleep(p.quick ? 300 : 2000);
    const beforeReconnect = meter.mark();
    const reconnect = await load.request({ cmd: 'connect', port, count: n, concurrency: p.concurrency, rewindCookies: true });
    const reconnected = meter.since(beforeReconnect);
    foreign.reconnect = reconnected.foreign;
    loaderBusy('reconnect', reconnect);

    const sample: Sample = {
      server,
      n,
      round,
      rssPerConnection: (loaded.rss - loaded.youngGeneration - (base.rss - base.youngGeneration)) / n / 1024,
      rawRssPerConnection: (loaded.rss - base.rss) / n / 1024,
      heapPerConnection: (loaded.heapUsed - base.heapUsed) / n / 1024,
      broadcastCpuMs: broadcast.perOp,
      echoCpuUs: echoes.perOp * 1000,
      broadcastUserMs: broadcast.userPerOp,
      echoUserUs: echoes.userPerOp * 1000,
      connectMs: connect.ms!,
      pollingPerSecond,
      connectCpuUs: (connectCpu / n) * 1000,
      reconnectMs: reconnect.ms!,
      reconnectCpuUs: (reconnected.server.total / n) * 1000,
      broadcastWallMs: broadcast.last.medianWallMs ?? null,
      echoPerSecond: echo.perSecond ?? null,
      echoP50Ms: echo.p50Ms ?? null,
      sessionGetsMs,
      held: status.joined === n && status.dropped === 0,
      heldThroughHeartbeat,
      loaderBusy: busy,
      foreign,
      code,
      batches: { broadcast: [broadcast.clean, broadcast.batches], echo: [echoes.clean, echoes.batches] },
      memory: { base, loaded },
    };
    log(
      `  ${server.padEnd(9)} N=${n} r${round}: rss ${sample.rssPerConnection!.toFixed(2)} KiB/conn, heap ${sample.heapPerConnection!.toFixed(2)} KiB/conn, ` +
        `bcast ${sample.broadcastCpuMs!.toFixed(2)} ms (${broadcast.ops}×), echo ${sample.echoCpuUs!.toFixed(1)} µs (${echoes.ops}×), ` +
        `connect ${Math.round(sample.connectMs!)} ms, polling ${pollingPerSecond === null ? '—' : Math.round(pollingPerSecond)}/s, held ${sample.held}; ` +
        `other tenants took ${Object.entries(foreign).map(([k, v]) => `${k} ${Math.round(v * 100)}%`).join(', ')} of our CPUs; clean batches ${broadcast.clean}/${broadcast.batches}, ${echoes.clean}/${echoes.batches}`,
    );
    return sample;
  } finally {
    // The server goes first, so the connections' TIME_WAIT lands on its (one-off) port.
    await srv.kill();
    await load.kill();
  }
}

// ---- machine ------------------------------------------------------------------------------------------

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
  const version = (file: string) => (JSON.parse(readFileSync(path.join(REPO, file), 'utf8')) as { version: string }).version;
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: mhz ? `${model} (${Math.round(Number(mhz))} MHz)` : model,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(),
    node: process.version,
    socketio: version('node_modules/socket.io/package.json'),
    wsOurs: version('node_modules/ws/package.json'),
    wsSocketio: existsSync(path.join(REPO, 'node_modules/engine.io/node_modules/ws/package.json'))
      ? version('node_modules/engine.io/node_modules/ws/package.json')
      : version('node_modules/ws/package.json'),
    framework: frameworkVersion(),
    fdLimit: execFileSync('bash', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n'], { encoding: 'utf8' }).trim(),
  };
}

/** The commit measured, and whether framework/ had uncommitted changes then. */
function frameworkVersion(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'framework'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return dirty ? `commit ${commit} with ${dirty} uncommitted file${dirty === 1 ? '' : 's'} in framework/` : `commit ${commit}`;
  } catch {
    return 'unknown (no git)';
  }
}

// ---- main ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  if (options.from) {
    const saved = JSON.parse(readFileSync(options.from, 'utf8')) as { info: RunInfo; samples: Sample[] };
    writeResults(saved.info, saved.samples, options.outDir);
    return;
  }
  const p = parametersFor(options.quick);
  const started = Date.now();
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  log(`${command}: servers ${options.servers.join(', ')}; N ${options.ns.join(', ')}; ${options.rounds} round(s); server on CPU ${SERVER_CPU}, load on CPU ${LOAD_CPU}`);

  const samples: Sample[] = [];
  const largest = Math.max(...options.ns);
  for (let round = 1; round <= options.rounds; round++) {
    for (const n of options.ns) {
      // Rotate the order each round, so no server always runs first (or right after another).
      const order = options.servers.map((_, i) => options.servers[(i + round - 1) % options.servers.length]!);
      log(`round ${round}/${options.rounds}, N=${n}: ${order.join(' → ')}`);
      for (const server of order) {
        const checkHeartbeat = options.hold && !options.quick && round === 1 && n === largest;
        await waitForQuiet(options.quick);
        samples.push(await runSession(server, n, round, p, checkHeartbeat));
      }
    }
  }

  const info: RunInfo = {
    command,
    date: new Date().toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    ns: options.ns,
    rounds: options.rounds,
    servers: options.servers,
    quick: options.quick,
    parameters: p,
  };
  writeResults(info, samples, options.outDir);
}

/** Medians, targets, and the three outputs: results.json, the chart and BENCHMARKS.md. */
function writeResults(info: RunInfo, samples: Sample[], outDir: string | null): void {
  const medians = mediansOf(samples, info.servers, info.ns);
  const targets = evaluateTargets(medians, info.ns);
  if (outDir) mkdirSync(outDir, { recursive: true });
  const jsonFile = outDir ? path.join(outDir, 'results.json') : path.join(REPO, 'bench', 'results.json');
  const svgFile = outDir ? path.join(outDir, 'results.svg') : path.join(REPO, 'bench', 'results.svg');
  const mdFile = outDir ? path.join(outDir, 'BENCHMARKS.md') : path.join(REPO, 'BENCHMARKS.md');
  writeFileSync(jsonFile, JSON.stringify({ info, medians, targets: targets.map((t) => ({ id: t.target.id, server: t.target.server, n: t.n, text: t.target.text, ratio: t.ratio, met: t.met })), samples }, null, 2) + '\n');
  writeChart(svgFile, info, medians);
  writeReport(mdFile, path.relative(path.dirname(mdFile), svgFile), info, medians, targets, samples);
  log(`written: ${path.relative(process.cwd(), mdFile) || mdFile}, ${path.relative(process.cwd(), svgFile)}, ${path.relative(process.cwd(), jsonFile)} (run of ${info.durationS} s)`);
  const largest = Math.max(...info.ns);
  for (const figure of FIGURES.filter((f) => f.primary)) {
    const row = info.servers.map((s) => `${s} ${fmt(medians[s][largest]![figure.key as FigureKey])}`).join(', ');
    log(`  N=${largest} ${figure.label}: ${row}`);
  }
}

function fmt(value: number | null): string {
  return value === null ? '—' : value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

main().then(
  () => {
    killEverything();
    process.exit(0);
  },
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    killEverything();
    process.exit(1);
  },
);
