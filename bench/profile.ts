/**
 * Where a server's memory and CPU go, per connection and per operation (not part of `npm run bench`).
 *
 *   npx tsx bench/profile.ts <server> [--n 2000] [--what heap,connect,broadcast,echo,polling,reconnect] [--out dir]
 *
 * heap       heap snapshots before and after connecting N idle clients (after a forced GC); prints,
 *            per constructor, how many objects and bytes each connection added
 * connect, broadcast, echo, polling, reconnect
 *            a CPU profile (node:inspector, 100 µs sampling) of just that phase; prints the
 *            functions with the most self time and the framework files they are in
 * Servers and the load generator run pinned to their CPUs as in the benchmark. Snapshots and
 * profiles are written to --out (default: <tmpdir>/mojo-bench-profiles), a few hundred MB at most.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SESSION_PATH } from './constants.ts';
import { SERVERS, type ServerName } from './figures.ts';
import { REPO, killEverything, startLoad, startServer } from './processes.ts';

// ---- heap snapshots ----------------------------------------------------------------------------------

interface HeapSummary {
  count: Map<string, number>;
  bytes: Map<string, number>;
}

/** Counts and self sizes of a .heapsnapshot's nodes, by type and constructor (or function) name. */
export function summariseHeap(file: string): HeapSummary {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const count = new Map<string, number>();
  const bytes = new Map<string, number>();
  const nodes = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const name = snapshot.strings[nodes[i + nameAt]!]!;
    let key: string;
    if (type === 'object' || type === 'closure' || type === 'hidden' || type === 'array' || type === 'native') key = `${type} ${name.length > 60 ? name.slice(0, 60) + '…' : name}`;
    else key = `(${type})`;
    count.set(key, (count.get(key) ?? 0) + 1);
    bytes.set(key, (bytes.get(key) ?? 0) + nodes[i + sizeAt]!);
  }
  return { count, bytes };
}

export function heapDiff(before: HeapSummary, after: HeapSummary, n: number, top = 30): string {
  const rows = [...after.bytes.keys()].map((key) => ({
    key,
    count: ((after.count.get(key) ?? 0) - (before.count.get(key) ?? 0)) / n,
    bytes: ((after.bytes.get(key) ?? 0) - (before.bytes.get(key) ?? 0)) / n,
  }));
  rows.sort((a, b) => b.bytes - a.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  const lines = [`heap added per connection: ${total.toFixed(0)} B (self sizes, all objects)`, '   bytes/conn  objects/conn  what'];
  for (const r of rows.slice(0, top)) lines.push(`${r.bytes.toFixed(0).padStart(12)}  ${r.count.toFixed(2).padStart(12)}  ${r.key}`);
  return lines.join('\n');
}

/**
 * What holds the objects named `name` (e.g. `object IncomingMessage`): counts of
 * "<retainer type and name> --<edge name>-->" over all of them, most common first.
 */
export function retainers(file: string, name: string, top = 12): string {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const meta = snapshot.snapshot.meta;
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snapshot;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const label = (node: number) => {
    const type = types[nodes[node + typeAt]!]!;
    const n = strings[nodes[node + nameAt]!]!;
    return `${type} ${n.length > 50 ? n.slice(0, 50) + '…' : n}`;
  };
  const counts = new Map<string, number>();
  let edge = 0;
  for (let node = 0; node < nodes.length; node += width) {
    const edgeCount = nodes[node + edgeCountAt]!;
    for (let e = 0; e < edgeCount; e++, edge += edgeWidth) {
      const to = edges[edge + 2]!;
      if (label(to) !== name) continue;
      const edgeType = edgeTypes[edges[edge]!]!;
      const edgeName = edgeType === 'element' || edgeType === 'hidden' ? `[${edges[edge + 1]}]` : strings[edges[edge + 1]!]!;
      if (edgeType === 'weak') continue;
      const key = `${label(node)} --${edgeName}-->`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([key, count]) => `${String(count).padStart(8)}  ${key}`).join('\n');
}

// ---- CPU profiles ----------------------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function and by file of a .cpuprofile, as shares of the profiled time. */
export function summariseProfile(file: string, top = 30, ops = 0): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const where = (node: ProfileNode) => {
    const url = node.callFrame.url.replace(/^file:\/\//, '').replace(REPO, '');
    return url ? `${url}:${node.callFrame.lineNumber + 1}` : '';
  };
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const [id, time] of self) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += time;
      continue;
    }
    const key = `${name} ${where(node)}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    const fileKey = node.callFrame.url ? node.callFrame.url.replace(/^file:\/\//, '').replace(REPO, '').replace(/.*node_modules\//, 'node_modules/') : `(${name})`;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + time);
  }
  const busy = total - idle;
  const pct = (t: number) => `${((t / busy) * 100).toFixed(1).padStart(5)} %`;
  const perOp = ops > 0 ? `, ${(busy / ops).toFixed(1)} µs busy per operation (inflated by the profiler)` : '';
  const lines = [`profiled ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s${perOp}; shares of busy time (self):`];
  for (const [key, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(time)}  ${key}`);
  // Inclusive time of our own functions (a function's self time plus everything it called).
  const inclusive = new Map<number, number>();
  const walk = (id: number): number => {
    const node = byId.get(id)!;
    let sum = self.get(id) ?? 0;
    for (const child of node.children ?? []) sum += walk(child);
    inclusive.set(id, sum);
    return sum;
  };
  walk(profile.nodes[0]!.id);
  const ours = new Map<string, number>();
  for (const [id, time] of inclusive) {
    const node = byId.get(id)!;
    if (!/\/(framework|bench)\//.test(node.callFrame.url)) continue;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${where(node)}`;
    // A function that calls itself (or appears twice on a stack) would count twice; fine for a ranking.
    ours.set(key, (ours.get(key) ?? 0) + time);
  }
  lines.push('inclusive, our functions:');
  for (const [key, time] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`  ${pct(time)}  ${key}`);
  lines.push('by file:');
  for (const [key, time] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${pct(time)}  ${key}`);
  return lines.join('\n');
}

// ---- driver ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--retainers') {
    // tsx bench/profile.ts --retainers <file.heapsnapshot> "<type> <name>"
    console.log(retainers(args[1]!, args[2]!));
    return;
  }
  const server = args[0] as ServerName;
  if (!SERVERS.includes(server)) throw new Error(`usage: tsx bench/profile.ts <${SERVERS.join('|')}> [--n 2000] [--what heap,connect,broadcast,echo,polling,reconnect] [--out dir]`);
  const option = (name: string, fallback: string) => {
    const at = args.indexOf(name);
    return at === -1 ? fallback : args[at + 1]!;
  };
  const n = Number(option('--n', '2000'));
  const what = option('--what', 'heap,connect,broadcast,echo,polling').split(',');
  const out = path.resolve(option('--out', path.join(os.tmpdir(), 'mojo-bench-profiles')));
  mkdirSync(out, { recursive: true });

  const srv = startServer(server);
  const load = startLoad();
  const [hello] = await Promise.all([srv.ready, load.ready]);
  const port = Number(hello.port);
  if (server === 'mojo-app') await load.request({ cmd: 'cookies', port, count: n + 400, path: SESSION_PATH });
  await load.request({ cmd: 'connect', port, count: 200, concurrency: 128 });
  await load.request({ cmd: 'broadcast', count: 2 });
  await load.request({ cmd: 'echo', count: 2000, concurrency: 128 });
  await load.request({ cmd: 'close' });
  await sleep(500);

  const file = (name: string) => path.join(out, `${server}-${n}-${name}`);
  let before: HeapSummary | null = null;
  if (what.includes('heap')) {
    await srv.request({ cmd: 'snapshot', file: file('before.heapsnapshot') });
    before = summariseHeap(file('before.heapsnapshot'));
  }
  if (what.includes('connect')) await srv.request({ cmd: 'cpu-start' });
  await load.request({ cmd: 'connect', port, count: n, concurrency: 128 });
  if (what.includes('connect')) {
    await srv.request({ cmd: 'cpu-stop', file: file('connect.cpuprofile') });
    console.log(`\n== ${server}: connecting ${n} clients ==\n${summariseProfile(file('connect.cpuprofile'))}`);
  }
  if (before) {
    await srv.request({ cmd: 'snapshot', file: file('after.heapsnapshot') });
    console.log(`\n== ${server}: heap per idle connection (N=${n}) ==\n${heapDiff(before, summariseHeap(file('after.heapsnapshot')), n)}`);
  }
  const phases: Record<string, () => Promise<unknown>> = {
    broadcast: () => load.request({ cmd: 'broadcast', count: Math.ceil(100_000 / n) }),
    echo: () => load.request({ cmd: 'echo', count: 40_000, concurrency: 256 }),
    polling: () => load.request({ cmd: 'polling', port, clients: 100, warmupMs: 300, ms: 3000 }),
  };
  for (const [phase, run] of Object.entries(phases)) {
    if (!what.includes(phase) || (phase === 'polling' && server === 'floor')) continue;
    await run(); // warm
    await srv.request({ cmd: 'cpu-start' });
    const result = (await run()) as Record<string, number>;
    await srv.request({ cmd: 'cpu-stop', file: file(`${phase}.cpuprofile`) });
    const ops = phase === 'broadcast' ? Math.ceil(100_000 / n) : phase === 'echo' ? 40_000 : Math.round((result.perSecond ?? 0) * ((300 + 3000) / 1000));
    console.log(`\n== ${server}: ${phase} (${ops} operations; ${JSON.stringify(result)}) ==\n${summariseProfile(file(`${phase}.cpuprofile`), 30, ops)}`);
  }
  if (what.includes('reconnect')) {
    // Connecting N again into the now warm server (as the benchmark's "connect N again" does).
    await load.request({ cmd: 'close' });
    await sleep(2000);
    await srv.request({ cmd: 'cpu-start' });
    await load.request({ cmd: 'connect', port, count: n, concurrency: 128, rewindCookies: true });
    await srv.request({ cmd: 'cpu-stop', file: file('reconnect.cpuprofile') });
    console.log(`\n== ${server}: connecting ${n} clients again, warm server ==\n${summariseProfile(file('reconnect.cpuprofile'), 30, n)}`);
  }
  for (const phase of ['echo', 'polling'] as const) {
    // <phase>-heap: what the phase leaves behind on the heap (after a forced GC), in all.
    if (!what.includes(`${phase}-heap`) || (phase === 'polling' && server === 'floor')) continue;
    await srv.request({ cmd: 'snapshot', file: file(`pre-${phase}.heapsnapshot`) });
    const result = await phases[phase]!();
    await srv.request({ cmd: 'snapshot', file: file(`post-${phase}.heapsnapshot`) });
    console.log(`\n== ${server}: heap left by one ${phase} run (${JSON.stringify(result)}), totals ==`);
    console.log(heapDiff(summariseHeap(file(`pre-${phase}.heapsnapshot`)), summariseHeap(file(`post-${phase}.heapsnapshot`)), 1, 15));
  }
  await srv.kill();
  await load.kill();
}

main().then(
  () => {
    killEverything();
    process.exit(0);
  },
  (err: Error) => {
    console.error(err.stack ?? err.message);
    killEverything();
    process.exit(1);
  },
);
