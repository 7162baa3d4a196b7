/**
 * An interleaved comparison of servers (not part of `npm run bench`). Every server named runs at
 * once, each with its own load generator, and the measured phase alternates between them, the
 * order reversed every other repetition (so --reps must be even): what drifts with the machine
 * (other tenants, the host) falls on all of them alike, which runs minutes apart cannot promise.
 * Prints each server's median server CPU per operation, its spread, and its ratio to the first
 * server's. The ratios are the result; the figures themselves carry the set-up below.
 *
 *   npx tsx bench/ab.ts <polling|reconnect> <server>,<server>[,...] [--reps 8] [--n 3000] [--ms 1500]
 *
 * polling    100 long-polling sessions join, do `ack` round trips for 300 ms and then for --ms ms,
 *            and leave: the server's CPU for all of it over the round trips of the --ms ms (the
 *            first 300 ms alone add a fifth to the figure at the default --ms, alike for every server)
 * reconnect  --n websocket clients connect to the warm server (128 handshakes in flight), then
 *            close: the server's CPU for the connects over --n
 *
 * A server is a file of bench/servers/: a copy of one with a single thing changed is a variant to
 * compare. A server whose name starts with `mojo-app` gets session cookies first, as in the benchmark.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SESSION_PATH } from './constants.ts';
import { median, type ServerName } from './figures.ts';
import { REPO, cpuOf, killEverything, startLoad, startServer, type Child } from './processes.ts';

const USAGE = 'usage: npx tsx bench/ab.ts <polling|reconnect> <server>,<server>[,...] [--reps 8] [--n 3000] [--ms 1500]';
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { reps: { type: 'string', default: '8' }, n: { type: 'string', default: '3000' }, ms: { type: 'string', default: '1500' } },
});
const [phase, list] = positionals;
const names = (list ?? '').split(',').filter(Boolean);
const reps = Number(values.reps);
const n = Number(values.n);
const ms = Number(values.ms);
if (positionals.length !== 2 || (phase !== 'polling' && phase !== 'reconnect') || names.length < 2) throw new Error(USAGE);
for (const [option, value] of Object.entries({ reps, n, ms })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${option} must be a whole number of at least 1\n${USAGE}`);
}
if (reps % 2 !== 0) throw new Error(`--reps must be even, so that each server goes first as often as last\n${USAGE}`);
for (const name of names) {
  if (['control', 'profiling'].includes(name) || !existsSync(path.join(REPO, 'bench', 'servers', `${name}.ts`))) {
    throw new Error(`no server bench/servers/${name}.ts\n${USAGE}`);
  }
}

interface Contender {
  name: string;
  server: Child;
  load: Child;
  port: number;
  /** Server CPU per operation (µs), one per repetition. */
  cpu: number[];
}

const POLLING_CLIENTS = 100;
const CONCURRENCY = 128;

/** One measured phase on `c`: the server's CPU per operation, µs. */
async function measure(c: Contender): Promise<number> {
  const before = cpuOf(c.server.pid).total;
  if (phase === 'polling') {
    const result = await c.load.request({ cmd: 'polling', port: c.port, clients: POLLING_CLIENTS, warmupMs: 300, ms });
    return ((cpuOf(c.server.pid).total - before) * 1000) / result.roundTrips!;
  }
  await c.load.request({ cmd: 'connect', port: c.port, count: n, concurrency: CONCURRENCY, rewindCookies: true });
  const cpu = ((cpuOf(c.server.pid).total - before) * 1000) / n;
  await c.load.request({ cmd: 'close' });
  return cpu;
}

try {
  const contenders: Contender[] = [];
  for (const name of names) {
    // startServer only joins the name to bench/servers/: a variant's file works as well.
    const server = startServer(name as ServerName);
    const load = startLoad();
    const [hello] = await Promise.all([server.ready, load.ready]);
    const c: Contender = { name, server, load, port: Number(hello.port), cpu: [] };
    if (name.startsWith('mojo-app')) {
      const count = phase === 'polling' ? POLLING_CLIENTS * (reps + 1) : n;
      await load.request({ cmd: 'cookies', port: c.port, count, path: SESSION_PATH });
    }
    // Warm-up: the same phase once, not counted.
    await measure(c);
    contenders.push(c);
    console.log(`${name} ready`);
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rep % 2 === 0 ? contenders : [...contenders].reverse()) {
      if (phase === 'reconnect') await sleep(500);
      c.cpu.push(await measure(c));
    }
    process.stdout.write(`repetition ${rep + 1} of ${reps}\r`);
  }
  const unit = phase === 'polling' ? 'round trip' : 'connection';
  const first = median(contenders[0]!.cpu);
  console.log(`\nserver CPU per ${unit} (µs), medians of ${reps} interleaved repetitions:`);
  for (const c of contenders) {
    const m = median(c.cpu);
    console.log(`  ${c.name.padEnd(20)} ${m.toFixed(1).padStart(7)}  (${Math.min(...c.cpu).toFixed(0)}–${Math.max(...c.cpu).toFixed(0)})  ${(m / first).toFixed(3)} × ${contenders[0]!.name}`);
  }
} finally {
  killEverything();
}
process.exit(0);
