import { MojoApplication, channelOf } from '../../apps/index.ts';
import { parseArgs } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject, loadConfig } from '../project.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo routes

Lists every route of the current project (method, path, app, handler), every realtime channel,
and the static folders.

Options:
  -h, --help   show this help`;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'routes', [], []);
  if (flags.help) return out.print(help), 0;
  if (positional.length > 0) throw new CliError(`mojo routes: takes no arguments (got "${positional[0]}")`, 2);
  const root = findProject();
  const config = await loadConfig(root);
  // Listing routes must not touch the project's data.
  const mojo = await MojoApplication.create({ root, config: { ...config, database: 'sqlite::memory:' } });
  try {
    const routes = [['METHODS', 'PATH', 'APP', 'HANDLER']];
    for (const app of mojo.apps) {
      for (const route of app.routeInfo) {
        routes.push([route.methods.join(',') || 'ALL', route.path, app.name, route.handler + (route.authenticated ? ' (login required)' : '')]);
      }
    }
    out.print('Routes');
    for (const line of table(routes)) out.print(`  ${line}`);
    const channels = [['CHANNEL', 'APP', 'HANDLER']];
    for (const app of mojo.apps) if (app.socketHandler) channels.push([channelOf(app.name), app.name, app.socketHandler.name]);
    out.print('');
    out.print('Realtime channels (Socket.IO namespaces)');
    if (channels.length === 1) out.print('  (none)');
    else for (const line of table(channels)) out.print(`  ${line}`);
    out.print('');
    out.print('Static files');
    const statics = [['URL', 'FOLDER'], ['/static/', `${config.paths?.static ?? 'static'}/`]];
    for (const app of mojo.apps) if (app.staticDir) statics.push([`/static/${app.name}/`, `${config.paths?.apps ?? 'apps'}/${app.name}/static/`]);
    for (const line of table(statics)) out.print(`  ${line}`);
    out.print('');
    out.print(`Socket.IO endpoint and client bundle: ${mojo.router.io.options.path} (socket.io.min.js)`);
  } finally {
    await mojo.close();
  }
  return 0;
}
