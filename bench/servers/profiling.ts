/**
 * Profiling commands of the control channel, for bench/profile.ts: a heap snapshot after a forced
 * GC, and a CPU profile of just the phase between `cpu-start` and `cpu-stop` (node:inspector).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import v8 from 'node:v8';

let session: Session | null = null;

export async function run(command: { cmd: 'snapshot'; file: string } | { cmd: 'cpu-start' } | { cmd: 'cpu-stop'; file: string }): Promise<{ file?: string }> {
  switch (command.cmd) {
    case 'snapshot': {
      (globalThis as { gc?: () => void }).gc?.();
      return { file: v8.writeHeapSnapshot(command.file) };
    }
    case 'cpu-start': {
      session ??= new Session();
      session.connect();
      await session.post('Profiler.enable');
      // 100 µs sampling: enough samples in a few seconds of load.
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
      return {};
    }
    case 'cpu-stop': {
      if (!session) throw new Error('cpu-start first');
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(command.file, JSON.stringify(profile));
      session.disconnect();
      session = null;
      return { file: command.file };
    }
  }
}
