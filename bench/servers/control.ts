/**
 * The control channel between a benchmark server and the orchestrator: the server announces
 * itself on stdout (`{"ready":true,"port":…,"pid":…}`), then answers JSON commands read from stdin
 * with one JSON line each. It exits when stdin closes, so a server never outlives the run that
 * started it. Imports nothing of the framework: every server, ours or not, carries the same code.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /**
   * Resident bytes of V8's young generation. After a full GC it holds no live object, but V8 keeps
   * it as large as the last burst of allocation made it (up to 2 × 16 MiB), for a while: a size
   * that says how busy the server just was, not how many connections it holds.
   */
  youngGeneration: number;
}

type Command =
  | { cmd: 'mem'; settleMs?: number }
  | { cmd: 'snapshot'; file: string }
  | { cmd: 'cpu-start' }
  | { cmd: 'cpu-stop'; file: string }
  | { cmd: 'exit' };

const gc = (globalThis as { gc?: () => void }).gc;

/** Forces full collections around a pause, then samples memory (what "after a forced GC and a settle" means). */
async function settledMemory(settleMs: number): Promise<MemorySample> {
  if (!gc) throw new Error('start the server with node --expose-gc');
  gc();
  await sleep(settleMs);
  gc();
  await sleep(10);
  gc();
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { rss, heapUsed, heapTotal, external, arrayBuffers, youngGeneration: young?.physical_space_size ?? 0 };
}

function reply(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

/** Announces `port` and serves the orchestrator's commands until stdin closes. */
export function serveControl(port: number, name: string): void {
  reply({ ready: true, port, pid: process.pid, name });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let command: Command;
    try {
      command = JSON.parse(line) as Command;
    } catch {
      reply({ error: `not JSON: ${line.slice(0, 80)}` });
      return;
    }
    if (command.cmd === 'mem') {
      settledMemory(command.settleMs ?? 1000).then(
        (mem) => reply({ mem }),
        (err: Error) => reply({ error: err.message }),
      );
    } else if (command.cmd === 'snapshot' || command.cmd === 'cpu-start' || command.cmd === 'cpu-stop') {
      // Profiling (bench/profile.ts) only: loaded on first use, so a benchmark run carries none of it.
      import('./profiling.ts').then((profiling) => profiling.run(command)).then(
        (result) => reply({ ok: result }),
        (err: Error) => reply({ error: err.message }),
      );
    } else if (command.cmd === 'exit') {
      process.exit(0);
    } else {
      reply({ error: `unknown command ${JSON.stringify(command)}` });
    }
  });
  // The orchestrator is gone (or done): never linger.
  lines.on('close', () => process.exit(0));
}
