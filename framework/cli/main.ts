import { CliError } from './errors.ts';
import { consoleOutput, type Output } from './output.ts';
interface Command {
  help: string;
  run(argv: readonly string[], out: Output): Promise<number>;
}

// Loaded when used: `mojo --help` should not pay for the whole framework.
const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  new: { load: () => import('./commands/new.ts'), summary: 'create a project:            mojo new my-site' },
  app: { load: () => import('./commands/app.ts'), summary: 'add an app to this project:  mojo app Blog' },
  serve: { load: () => import('./commands/serve.ts'), summary: 'serve this project:          mojo serve [--port 8000]' },
  dev: { load: () => import('./commands/dev.ts'), summary: 'serve, restarting on change: mojo dev' },
  routes: { load: () => import('./commands/routes.ts'), summary: 'list routes and channels:    mojo routes' },
  user: { load: () => import('./commands/user.ts'), summary: 'create a user:               mojo user add ada' },
};

export const HELP = `Mojo for TypeScript

Usage: mojo <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(8)}${summary}`)
  .join('\n')}

Run "mojo <command> --help" for a command's options.`;

/**
 * Runs the `mojo` command line; returns the exit code. Mistakes print one line (no stack unless
 * MOJO_DEBUG is set) and a non-zero code: 2 for wrong usage, 1 for a failed command.
 */
export async function main(argv: readonly string[], out: Output = consoleOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out.print(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    out.print(manifest.version);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    out.error(`mojo: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')} (see mojo --help)`);
    return 2;
  }
  try {
    return await (await entry.load()).run(rest, out);
  } catch (err) {
    if (err instanceof CliError) {
      out.error(err.message.startsWith('mojo') ? err.message : `mojo ${name}: ${err.message}`);
      return err.exitCode;
    }
    if ((err as { code?: unknown })?.code === 'ERR_CONFIG') {
      out.error(`mojo ${name}: ${(err as Error).message}`);
      return 1;
    }
    if (process.env.MOJO_DEBUG) throw err;
    out.error(`mojo ${name}: ${(err as Error)?.message ?? String(err)} (set MOJO_DEBUG=1 to see where)`);
    return 1;
  }
}
