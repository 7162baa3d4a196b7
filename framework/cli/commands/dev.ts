import { spawn, type ChildProcess } from 'node:child_process';
import { watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, portFlag } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject } from '../project.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo dev [--port N]

Serves the current project like "mojo serve" and restarts it whenever a file of the project
changes (apps, templates, static files, mojo.config.ts). Stop it with Ctrl-C.

Options:
  --port N     port to listen on
  -h, --help   show this help`;

const IGNORED = /(^|[/\\])(node_modules|\.git|data|\.scratch)([/\\]|$)/;
const BIN = join(fileURLToPath(new URL('..', import.meta.url)), 'bin.js');

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'dev', ['port'], []);
  if (flags.help) return out.print(help), 0;
  if (positional.length > 0) throw new CliError(`mojo dev: unexpected "${positional[0]}" (did you mean --port ${positional[0]}?)`, 2);
  const port = portFlag(flags.port);
  const root = findProject();
  const serveArgs = [BIN, 'serve', ...(port === undefined ? [] : ['--port', String(port)])];
  let child: ChildProcess | null = null;
  let stopping = false;
  const start = () => {
    child = spawn(process.execPath, serveArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, MOJO_DEV: '1' } });
    child.once('exit', (code) => {
      if (!stopping && code !== null && code !== 0) out.error(`mojo dev: the server stopped (exit ${code}); waiting for a change to try again`);
    });
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return resolve();
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  let timer: NodeJS.Timeout | null = null;
  let changed = '';
  const watcher = watch(root, { recursive: true }, (_event, file) => {
    if (!file || IGNORED.test(file)) return;
    changed = file;
    if (timer) clearTimeout(timer);
    timer = setTimeout(async () => {
      out.print(`mojo dev: ${changed} changed, restarting…`);
      await stop();
      if (!stopping) start();
    }, 150);
  });
  start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopping = true;
  watcher.close();
  if (timer) clearTimeout(timer);
  await stop();
  return 0;
}
