/**
 * Echo batches on one server process, one after another, and the server's CPU per echo in each
 * (total and user space): how much a figure moves within one process and one sitting, and how it
 * grows with the number of clients the echoes are spread over. Not part of `npm run bench`.
 *
 *   npx tsx bench/echo-batches.ts <server> [--n 10000] [--batches 8] [--count 15000] [--processes 1]
 */
import { parseArgs } from 'node:util';
import { SESSION_PATH } from './constants.ts';
import { SERVERS, median, type ServerName } from './figures.ts';
import { cpuOf, killEverything, startLoad, startServer } from './processes.ts';

const usage = `usage: npx tsx bench/echo-batches.ts <${SERVERS.join('|')}> [--n 10000] [--batches 8] [--count 15000] [--processes 1]`;
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '10000' },
    batches: { type: 'string', default: '8' },
    count: { type: 'string', default: '15000' },
    processes: { type: 'string', default: '1' },
  },
});
const server = positionals[0] as ServerName;
if (!SERVERS.includes(server)) throw new Error(usage);
const [n, batches, count, processes] = [values.n, values.batches, values.count, values.processes].map(Number) as [number, number, number, number];
for (const value of [n, batches, count, processes]) if (!Number.isInteger(value) || value < 1) throw new Error(usage);

try {
  for (let p = 1; p <= processes; p++) {
    const srv = startServer(server);
    const load = startLoad();
    const [hello] = await Promise.all([srv.ready, load.ready]);
    const port = Number(hello.port);
    if (server === 'mojo-app') await load.request({ cmd: 'cookies', port, count: n, path: SESSION_PATH });
    await load.request({ cmd: 'connect', port, count: n, concurrency: 128 });
    const inFlight = Math.min(256, n);
    await load.request({ cmd: 'echo', count: 2000, concurrency: inFlight }); // unmeasured warm-up
    const total: number[] = [];
    const user: number[] = [];
    for (let b = 0; b < batches; b++) {
      const before = cpuOf(srv.pid);
      await load.request({ cmd: 'echo', count, concurrency: inFlight });
      const after = cpuOf(srv.pid);
      total.push(((after.total - before.total) / count) * 1000);
      user.push(((after.user - before.user) / count) * 1000);
    }
    const batchList = total.map((t, i) => `${t.toFixed(1)}/${user[i]!.toFixed(1)}`).join(' ');
    console.log(`${server} N=${n} process ${p}: µs per echo, median ${median(total).toFixed(1)} (user ${median(user).toFixed(1)}); batches total/user: ${batchList}`);
    await srv.kill();
    await load.kill();
  }
} finally {
  killEverything();
}
process.exit(0);
