import { parseArgs } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject } from '../project.ts';
import { createApp, slugOf } from '../scaffold.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo app <Name> [--route /path/]

Adds an app to the current project: apps/<Name>/ with urls.ts (an index page), socket_handlers.ts
(its realtime channel /<Name>Socket), templates/, static/, a test in test/, and <Name> in
installedApps of mojo.config.ts.

Options:
  --route /path/   where its index page is served (default: /<name>/)
  -h, --help       show this help`;

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'app', ['route'], []);
  if (flags.help) return out.print(help), 0;
  const [name, extra] = positional;
  if (extra) throw new CliError(`mojo app: one app at a time (got "${name}" and "${extra}")`, 2);
  const route = typeof flags.route === 'string' ? flags.route : undefined;
  if (route !== undefined && !route.startsWith('/')) throw new CliError('mojo app: --route must start with "/"', 2);
  const root = findProject();
  const files = createApp(root, name ?? '', route);
  out.print(`Added the app ${name} (page ${route ?? `/${slugOf(name!)}/`}, channel /${name}Socket):`);
  for (const file of files) out.print(`  ${file}`);
  return 0;
}
