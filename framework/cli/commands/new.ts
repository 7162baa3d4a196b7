import { relative } from 'node:path';
import { parseArgs } from '../args.ts';
import { CliError } from '../errors.ts';
import { createApp, createProject, checkAppName } from '../scaffold.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo new <dir> [--app Name]

Creates a Mojo project in <dir>: package.json, tsconfig.json, mojo.config.ts (with a fresh
cookie secret), templates/, static/, test/ and a first app (default "Home", served at /).

Options:
  --app Name   name of the first app (default: Home)
  -h, --help   show this help`;

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'new', ['app'], []);
  if (flags.help) return out.print(help), 0;
  const [dir, extra] = positional;
  if (!dir) throw new CliError('mojo new: where? Give a folder name, like: mojo new my-site', 2);
  if (extra) throw new CliError(`mojo new: one folder at a time (got "${dir}" and "${extra}")`, 2);
  const app = typeof flags.app === 'string' ? flags.app : 'Home';
  const problem = checkAppName(app);
  if (problem) throw new CliError(`mojo new: ${problem}`, 2);
  createProject(dir);
  const root = dir;
  createApp(root, app, '/');
  out.print(`Created a Mojo project in ${dir} with the app ${app}.`);
  out.print('');
  out.print('Next:');
  out.print(`  cd ${relative(process.cwd(), dir) || '.'}`);
  out.print('  npm install && npm start    # then open http://localhost:8000');
  out.print('  npm test');
  return 0;
}
