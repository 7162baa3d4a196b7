/**
 * Connects N clients to one server process several times in a row (closing them in between) and
 * prints, per wave, the time and the server's CPU per connection: how much of a first connect is
 * warm-up (V8 compiling the connect path, the heap growing). Not part of `npm run bench`.
 *
 *   npx tsx bench/waves.ts <server> [--n 5000] [--waves 3]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SESSION_PATH } from './constants.ts';
import { SERVERS, type ServerName } from './figures.ts';
import { cpuOf, killEverything, startLoad, startServer } from './processes.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { n: { type: 'string', default: '5000' }, waves: { type: 'string', default: '3' } } });
const server = positionals[0] as ServerName;
if (!SERVERS.includes(server)) throw new Error(`usage: npx tsx bench/waves.ts <${SERVERS.join('|')}> [--n 5000] [--waves 3]`);
const n = Number(values.n);
const waves = Number(values.waves);

const srv = startServer(server);
const load = startLoad();
try {
  const [hello] = await Promise.all([srv.ready, load.ready]);
  const port = Number(hello.port);
  if (server === 'mojo-app') await load.request({ cmd: 'cookies', port, count: n + 200, path: SESSION_PATH });
  for (const [i, count] of [200, ...Array<number>(waves).fill(n)].entries()) {
    const before = cpuOf(srv.pid);
    const wave = await load.request({ cmd: 'connect', port, count, concurrency: 128, rewindCookies: true });
    const cpu = cpuOf(srv.pid).total - before.total;
    console.log(`${server} ${i === 0 ? 'warm-up' : `wave ${i}`} of ${count}: ${Math.round(wave.ms!)} ms, server CPU ${Math.round((cpu / count) * 1000)} µs per connection`);
    await load.request({ cmd: 'close' });
    await sleep(2000);
  }
} finally {
  killEverything();
}
process.exit(0);
