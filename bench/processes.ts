/**
 * The processes of a benchmark run: servers and the load generator, each pinned to its CPU with
 * `taskset`, in its own process group, speaking JSON lines; all of them are killed when the run
 * ends, fails or is interrupted. Also how their CPU time is read from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ServerName } from './figures.ts';

export const REPO = fileURLToPath(new URL('..', import.meta.url));

const children = new Set<Child>();
const CPUS = os.availableParallelism();
/** The CPU every server runs on, and the one the load generator runs on. */
export const SERVER_CPU = '0';
export const LOAD_CPU = CPUS > 1 ? '1' : '0';
// The Mojo app's SQLite file goes on tmpfs when there is one: fsync then costs no disk time.
export const RUN_TMP = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'mojo-bench-'));

/** A child process speaking JSON lines, pinned to `cpu`, in its own process group (killed as a whole). */
export class Child {
  readonly proc: ChildProcess;
  private readonly waiting: Array<{ resolve: (line: Record<string, unknown>) => void; reject: (err: Error) => void }> = [];
  private readonly stderrTail: string[] = [];
  private exited = false;
  readonly ready: Promise<Record<string, unknown>>;

  constructor(
    readonly name: string,
    cpu: string,
    nodeArgs: readonly string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    // ulimit: as many descriptors as we may have (10k sockets each side); exec keeps the pid.
    const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c "$0" "$@"';
    this.proc = spawn('bash', ['-c', script, cpu, process.execPath, ...nodeArgs], {
      cwd: REPO,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    children.add(this);
    const lines = createInterface({ input: this.proc.stdout! });
    lines.on('line', (line) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(`[${this.name}] ${line}\n`);
        return;
      }
      const next = this.waiting.shift();
      if (!next) return;
      if (typeof message.error === 'string') next.reject(new Error(`${this.name}: ${message.error}`));
      else next.resolve(message);
    });
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${this.name}] ${line}\n`);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      children.delete(this);
      const err = new Error(`${this.name} exited (${signal ?? code}) ${this.stderrTail.slice(-8).join('\n')}`);
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
    this.ready = this.next(60_000, 'to start');
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private next(ms: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no answer within ${ms} ms ${what}`)), ms);
      this.waiting.push({
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** Sends one command; resolves with the child's answer (its `ok` field for the generator). */
  async request<T = Record<string, number>>(command: Record<string, unknown>, ms = 180_000): Promise<T> {
    if (this.exited) throw new Error(`${this.name} is not running`);
    const answer = this.next(ms, `to ${JSON.stringify(command)}`);
    this.proc.stdin!.write(JSON.stringify(command) + '\n');
    const message = await answer;
    return (message.ok ?? message) as T;
  }

  /** SIGKILL to the whole process group; resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.race([gone, sleep(5000)]);
  }
}

export function killEverything(): void {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping every child process\n`);
    killEverything();
    process.exit(130);
  });
}

// ---- measuring ----------------------------------------------------------------------------------------

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface CpuTime {
  /** user + system, ms */
  total: number;
  user: number;
}

/** CPU time of process `pid` (all its threads) in ms, from utime and stime of /proc/<pid>/stat. */
export function cpuOf(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5); field 3 is the first after the command name.
  const user = (Number(fields[11]) * 1000) / CLOCK_TICKS;
  const system = (Number(fields[12]) * 1000) / CLOCK_TICKS;
  return { total: user + system, user };
}

export function cpuSince(pid: number, before: CpuTime): CpuTime {
  const now = cpuOf(pid);
  return { total: now.total - before.total, user: now.user - before.user };
}

export type Memory = Record<string, number> & {
  rss: number;
  heapUsed: number;
  youngGeneration: number;
};

// A server killed before it could remove its database folder leaves it here.
process.on('exit', () => rmSync(RUN_TMP, { recursive: true, force: true }));

/** Starts benchmark server `server` on the server CPU, with `--expose-gc` and any extra node flags. */
export function startServer(server: ServerName, nodeFlags: readonly string[] = []): Child {
  return new Child(server, SERVER_CPU, ['--expose-gc', ...nodeFlags, '--import', 'tsx', `bench/servers/${server}.ts`], { BENCH_TMP: RUN_TMP, MOJO_LOG: 'warn' });
}

/** Starts the load generator on the other CPU. */
export function startLoad(): Child {
  return new Child('load', LOAD_CPU, ['--import', 'tsx', 'bench/load.ts']);
}

/** Busy and stolen time of one CPU so far, ms, from /proc/stat (user + nice + system; steal apart). */
function cpuStat(cpu: string): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return { busy: 0, steal: 0 };
  const f = line.trim().split(/\s+/).map(Number);
  // cpuN user nice system idle iowait irq softirq steal ...
  return { busy: ((f[1]! + f[2]! + f[3]!) * 1000) / CLOCK_TICKS, steal: ((f[8] ?? 0) * 1000) / CLOCK_TICKS };
}

interface MeterMark {
  wall: number;
  server: CpuTime;
  others: number;
  cpus: Array<{ busy: number; steal: number }>;
}

export interface Measured {
  wallMs: number;
  /** The server's CPU time in the interval. */
  server: CpuTime;
  /**
   * Share of the two benchmark CPUs' time that went to anything but the server and the load
   * generator (other tenants of the machine, the hypervisor's steal): 0 on a quiet machine.
   */
  foreign: number;
}

/** Measures the server's CPU time over an interval, and how busy the rest of the machine kept its CPUs. */
export class Meter {
  private readonly cpus = [...new Set([SERVER_CPU, LOAD_CPU])];

  constructor(
    private readonly serverPid: number,
    private readonly otherPids: readonly number[],
  ) {}

  mark(): MeterMark {
    return {
      wall: performance.now(),
      server: cpuOf(this.serverPid),
      others: this.otherPids.reduce((sum, pid) => sum + cpuOf(pid).total, 0),
      cpus: this.cpus.map(cpuStat),
    };
  }

  since(mark: MeterMark): Measured {
    const now = this.mark();
    const wallMs = now.wall - mark.wall;
    const ours = now.server.total - mark.server.total + (now.others - mark.others);
    let busy = 0;
    for (let i = 0; i < this.cpus.length; i++) busy += now.cpus[i]!.busy - mark.cpus[i]!.busy + (now.cpus[i]!.steal - mark.cpus[i]!.steal);
    const foreign = wallMs > 0 ? Math.max(0, busy - ours) / (wallMs * this.cpus.length) : 0;
    return { wallMs, server: { total: now.server.total - mark.server.total, user: now.server.user - mark.server.user }, foreign };
  }
}

/** Share of the benchmark CPUs' time that was busy over the next `ms` (run while none of ours is). */
export async function machineBusy(ms: number): Promise<number> {
  const cpus = [...new Set([SERVER_CPU, LOAD_CPU])];
  const before = cpus.map(cpuStat);
  const started = performance.now();
  await sleep(ms);
  const elapsed = performance.now() - started;
  const after = cpus.map(cpuStat);
  let busy = 0;
  for (let i = 0; i < cpus.length; i++) busy += after[i]!.busy - before[i]!.busy + (after[i]!.steal - before[i]!.steal);
  return busy / (elapsed * cpus.length);
}

/**
 * A short hash of every file under framework/: the code a session measured. The working tree is
 * shared, so a run can tell (and the report say) when the framework changed under it.
 */
export function frameworkFingerprint(): string {
  const hash = createHash('sha1');
  const root = path.join(REPO, 'framework');
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true }).sort((a, b) => path.join(a.parentPath, a.name).localeCompare(path.join(b.parentPath, b.name)))) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 10);
}
