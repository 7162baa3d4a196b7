import { MojoApplication } from '../../apps/index.ts';
import { parseArgs, portFlag } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject, loadConfig } from '../project.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo serve [--port N] [--host ADDRESS]

Serves the current project: every installed app's pages, static files and realtime channel on
one port (from mojo.config.ts, PORT, or --port). Stop it with Ctrl-C.

Options:
  --port N          port to listen on (0 picks a free one)
  --host ADDRESS    address to listen on (default from mojo.config.ts: 0.0.0.0)
  -h, --help        show this help`;

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { flags } = parseArgs(argv, 'serve', ['port', 'host'], []);
  if (flags.help) return out.print(help), 0;
  const root = findProject();
  const config = await loadConfig(root);
  const mojo = await MojoApplication.create({ root, config });
  const port = portFlag(flags.port) ?? (process.env.PORT ? portFlag(process.env.PORT) : undefined) ?? mojo.config.port;
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
