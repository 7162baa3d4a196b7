import { CliError } from './errors.ts';

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}

/**
 * Splits `argv` into positional words and `--flag`/`--flag value`/`--flag=value` options;
 * `valued` lists the flags that take a value. Unknown flags are errors naming the command.
 */
export function parseArgs(argv: readonly string[], command: string, valued: readonly string[], switches: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const [rawName, inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2) as [string, string | undefined];
    const name = rawName === 'h' ? 'help' : rawName;
    if (valued.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value.startsWith('--')) throw new CliError(`mojo ${command}: --${name} needs a value`, 2);
      flags[name] = value;
    } else if (switches.includes(name) || name === 'help') {
      flags[name] = true;
    } else {
      throw new CliError(`mojo ${command}: unknown option ${arg} (see mojo ${command} --help)`, 2);
    }
  }
  return { positional, flags };
}

export function portFlag(value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError(`--port must be a port number (0-65535), got ${String(value)}`, 2);
  return port;
}
