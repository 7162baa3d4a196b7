import cluster, { type Worker } from 'node:cluster';
import { createServer, type Socket } from 'node:net';
import { MojoApplication } from '../../apps/index.ts';
import type { MojoConfig } from '../../config.ts';
import { parseArgs, portFlag } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject, loadConfig } from '../project.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo serve [--port N] [--host ADDRESS] [--workers N]

Serves the current project: every installed app's pages, static files and realtime channel on
one port (from mojo.config.ts, PORT, or --port). Stop it with Ctrl-C.

Options:
  --port N          port to listen on (0 picks a free one)
  --host ADDRESS    address to listen on (default from mojo.config.ts: 0.0.0.0)
  --workers N       run N processes behind one port; each client sticks to one of them (needs
                    \`redis\` in mojo.config.ts, so they share sessions and registries)
  -h, --help        show this help`;

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'serve', ['port', 'host', 'workers'], []);
  if (flags.help) return out.print(help), 0;
  if (positional.length > 0) throw new CliError(`mojo serve: unexpected "${positional[0]}" (did you mean --port ${positional[0]}?)`, 2);
  const workers = workersFlag(flags.workers);
  const portGiven = portFlag(flags.port);
  const root = findProject();
  const config = await loadConfig(root);
  if (cluster.isWorker) return runWorker(root, config);
  if (workers > 1) {
    if (!config.redis) throw new CliError('--workers needs `redis` in mojo.config.ts, so the workers share sessions and registries');
    const port = portGiven ?? envPort() ?? config.port ?? 8000;
    const host = typeof flags.host === 'string' ? flags.host : config.host ?? '0.0.0.0';
    return runPrimary(workers, port, host, config.installedApps ?? [], out);
  }
  const mojo = await MojoApplication.create({ root, config });
  const port = portGiven ?? envPort() ?? mojo.config.port;
  const host = typeof flags.host === 'string' ? flags.host : mojo.config.host;
  let address;
  try {
    address = await mojo.listen(port, host);
  } catch (err) {
    await mojo.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new CliError(`port ${port} is in use: stop the other server or pick another with --port`);
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new CliError(`not allowed to listen on port ${port}: pick a port above 1023 with --port`);
    throw err;
  }
  const apps = mojo.apps.map((app) => app.name).join(', ') || 'no apps yet (add one: mojo app Blog)';
  out.print(`Mojo is serving http://localhost:${address.port} (${apps})`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  out.print('Mojo is stopping…');
  await mojo.close();
  return 0;
}

function workersFlag(value: string | true | undefined): number {
  if (value === undefined) return 1;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new CliError(`--workers must be a whole number from 1 to 64, got ${String(value)}`, 2);
  return count;
}

/** A stable small hash of the client's address: the same client always reaches the same worker. */
function workerIndex(address: string | undefined, count: number): number {
  let hash = 0;
  for (const char of address ?? '') hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % count;
}

/**
 * The primary process: it owns the port and hands each TCP connection to a worker chosen by the
 * client's address. Long-polling needs every request of a session at the same process; websocket
 * connections would not, but get the same routing.
 */
async function runPrimary(count: number, port: number, host: string, apps: readonly string[], out: Output): Promise<number> {
  const workers: Worker[] = [];
  let stopping = false;
  const fork = (index: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ MOJO_WORKER_INDEX: String(index) });
      workers[index] = worker;
      worker.once('message', (message: unknown) => (message === 'mojo:ready' ? resolve() : undefined));
      worker.once('exit', (code, signal) => {
        if (stopping) return;
        reject(new CliError(`worker ${index + 1} stopped while starting (exit ${code ?? signal})`));
        out.error(`mojo serve: worker ${index + 1} stopped (exit ${code ?? signal}); starting a new one`);
        void fork(index).catch(() => undefined);
      });
    });
  await Promise.all(Array.from({ length: count }, (_, index) => fork(index)));
  const server = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const worker = workers[workerIndex(socket.remoteAddress, count)];
    if (!worker || !worker.isConnected()) {
      socket.destroy();
      return;
    }
    worker.send('mojo:connection', socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new CliError(`port ${port} is in use: stop the other server or pick another with --port`) : err));
    server.listen(port, host, () => resolve());
  }).catch(async (err: unknown) => {
    stopping = true;
    for (const worker of workers) worker.kill('SIGTERM');
    throw err;
  });
  const address = server.address() as { port: number };
  out.print(`Mojo is serving http://localhost:${address.port} with ${count} workers (${apps.join(', ') || 'no apps yet'})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopping = true;
  out.print('Mojo is stopping…');
  server.close();
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.kill('SIGTERM');
        }),
    ),
  );
  return 0;
}

/** A worker: the application without a listening socket; the primary hands it connections. */
async function runWorker(root: string, config: MojoConfig): Promise<number> {
  const mojo = await MojoApplication.create({ root, config });
  process.on('message', (message: unknown, handle: unknown) => {
    if (message !== 'mojo:connection' || !handle) return;
    const socket = handle as Socket;
    mojo.http.emit('connection', socket);
    socket.resume();
  });
  process.send?.('mojo:ready');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await mojo.close();
  // The channel to the primary would keep this process alive.
  process.disconnect?.();
  return 0;
}

function envPort(): number | undefined {
  const value = process.env.PORT;
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError(`the PORT environment variable must be a port number (0-65535), got ${value}`, 2);
  return port;
}
