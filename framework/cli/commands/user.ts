import { createInterface } from 'node:readline';
import { resolveConfig } from '../../config.ts';
import { openDatabase } from '../../http/database.ts';
import { UserError, UserStore } from '../../http/users.ts';
import { parseArgs } from '../args.ts';
import { CliError } from '../errors.ts';
import { findProject, loadConfig } from '../project.ts';
import type { Output } from '../output.ts';

export const help = `Usage: mojo user add <name>

Creates a user in the project's database. The password is asked for twice, without echo; when
standard input is not a terminal, it is read from its first line (for scripts).

Options:
  -h, --help   show this help`;

/** Reads one line from stdin; on a terminal, without showing what is typed. */
function ask(prompt: string, out: Output): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    return new Promise((resolve, reject) => {
      let data = '';
      const onData = (chunk: Buffer) => {
        data += chunk.toString('utf8');
        const end = data.indexOf('\n');
        if (end !== -1) finish(data.slice(0, end));
      };
      const finish = (line: string) => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.pause();
        resolve(line.replace(/\r$/, ''));
      };
      const onEnd = () => (data ? finish(data) : reject(new CliError('mojo user add: no password on standard input')));
      input.on('data', onData);
      input.once('end', onEnd);
    });
  }
  return new Promise((resolve) => {
    const rl = createInterface({ input, output: process.stdout, terminal: true });
    // Typed characters are not echoed: only the prompt is written.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (text: string) => {
      if (text.includes(prompt)) process.stdout.write(prompt);
    };
    rl.question(prompt, (answer) => {
      rl.close();
      out.print('');
      resolve(answer);
    });
  });
}

export async function run(argv: readonly string[], out: Output): Promise<number> {
  const { positional, flags } = parseArgs(argv, 'user', [], []);
  if (flags.help) return out.print(help), 0;
  const [action, name, extra] = positional;
  if (action !== 'add') throw new CliError(action ? `mojo user: unknown action "${action}" (did you mean: mojo user add <name>?)` : 'mojo user: say what to do, like: mojo user add ada', 2);
  if (!name) throw new CliError('mojo user add: give the user a name, like: mojo user add ada', 2);
  if (extra) throw new CliError('mojo user add: one user at a time', 2);
  const root = findProject();
  const config = resolveConfig(await loadConfig(root));
  const db = openDatabase(config.database, root);
  try {
    const users = new UserStore(db);
    if (users.exists(name)) throw new CliError(`mojo user add: there is already a user named "${name}"`);
    const password = await ask('Password: ', out);
    if (process.stdin.isTTY) {
      const again = await ask('Password again: ', out);
      if (again !== password) throw new CliError('the two passwords differ; nothing was created');
    }
    try {
      await users.create(name, password);
    } catch (err) {
      if (err instanceof UserError) throw new CliError(err.message);
      throw err;
    }
    out.print(`Created the user ${name}.`);
    return 0;
  } finally {
    db.close();
  }
}
