/**
 * The `mojo` command as a newcomer meets it: every command's help, its mistakes (one line on
 * stderr, no stack, exit 2 for wrong usage and 1 for a failed command), and `mojo routes` on the
 * demo project and on a project the CLI just generated. Each case is a real `node bin.js ...`
 * process in a temporary folder; the project end to end (install, serve, dev) is cli-project.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv } from './support/cli-env.ts';

const REPO = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = path.join(REPO, 'framework', 'cli', 'bin.js');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const COMMANDS = ['new', 'app', 'serve', 'dev', 'routes', 'user'] as const;

/** How long one `mojo` process may run before it is killed and its test fails. */
const PROCESS_TIMEOUT = 15_000;
/** Each process loads the whole framework (about a second of CPU): more at once only queue for the CPU. */
const MAX_PARALLEL = Math.min(4, Math.max(2, os.availableParallelism()));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

let active = 0;
const waiting: (() => void)[] = [];
function acquire(): Promise<void> {
  if (active < MAX_PARALLEL) return (active++, Promise.resolve());
  return new Promise((resolve) => waiting.push(resolve));
}
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else active--;
}


/** Runs `mojo ...args` in `cwd` to its end; `input` is written to its stdin, which is then closed. */
async function mojo(args: readonly string[], cwd: string, input = ''): Promise<Run> {
  await acquire();
  try {
    return await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnv(), stdio: 'pipe' });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`mojo ${args.join(' ')} did not finish within ${PROCESS_TIMEOUT} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, PROCESS_TIMEOUT);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        children.delete(child);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input);
    });
  } finally {
    release();
  }
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mojo-cli-'));
  dirs.push(dir);
  return dir;
}

/** A mistake is reported as exactly one line on stderr, without a stack trace, and nothing on stdout. */
function assertMistake(run: Run, code: 1 | 2, message: RegExp): void {
  const detail = `\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
  assert.equal(run.code, code, `exit code${detail}`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, `no stack trace${detail}`);
  assert.doesNotMatch(run.stderr, /MOJO_DEBUG/, `a CLI mistake, not an unexpected crash${detail}`);
  const errors = run.stderr.trimEnd().split('\n');
  assert.equal(errors.length, 1, `one line on stderr${detail}`);
  assert.match(errors[0]!, message);
  assert.equal(run.stdout, '', `nothing on stdout${detail}`);
}

/** Printed lines, as they arrive on stdout. */
function lines(...printed: string[]): string {
  return printed.map((line) => `${line}\n`).join('');
}

function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** A folder that is not inside any Mojo project. */
let outside: string;
/** A project made by `mojo new site` plus `mojo app Blog --route /writing/`, linked to this checkout. */
let project: string;
let created: Run;
let added: Run;
/** The project's mojo.config.ts and files once the CLI made it: failed commands must leave them alone. */
let configText: string;
let projectFiles: string[];
/** A copy of the project whose mojo.config.ts misspells `port`. */
let misconfigured: string;

before(async () => {
  const root = tempDir();
  outside = path.join(root, 'empty');
  mkdirSync(outside);
  created = await mojo(['new', 'site'], root);
  assert.equal(created.code, 0, `mojo new site: ${created.stderr}`);
  project = path.join(root, 'site');
  // Run from a subfolder: the project is found upwards.
  added = await mojo(['app', 'Blog', '--route', '/writing/'], path.join(project, 'apps'));
  assert.equal(added.code, 0, `mojo app Blog: ${added.stderr}`);
  // What `npm install` links for the generated `"mojo-ts": "file:<checkout>"` dependency.
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(REPO, path.join(project, 'node_modules', 'mojo-ts'), 'dir');
  configText = readFileSync(path.join(project, 'mojo.config.ts'), 'utf8');
  projectFiles = snapshot(path.join(project, 'apps'));
  misconfigured = path.join(root, 'misconfigured');
  cpSync(project, misconfigured, { recursive: true, verbatimSymlinks: true });
  const config = path.join(misconfigured, 'mojo.config.ts');
  const text = readFileSync(config, 'utf8');
  assert.match(text, /port: 8000/);
  writeFileSync(config, text.replace('port: 8000', 'prot: 8000'));
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// Every suite and test runs at once; the number of live processes is bounded by MAX_PARALLEL.
describe('the mojo command', { concurrency: true }, () => {
  describe('mojo, --help, --version', { concurrency: true }, () => {
    it('lists every command with an example on --help, and exits 0', async () => {
      const run = await mojo(['--help'], outside);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Usage: mojo <command> \[options\]$/m);
      for (const command of COMMANDS) assert.match(run.stdout, new RegExp(`^  ${command} +.+mojo ${command}\\b`, 'm'));
      assert.match(run.stdout, /Run "mojo <command> --help"/);
      assert.equal(run.stderr, '');
    });

    it('prints the usage and exits 2 when no command is given', async () => {
      const run = await mojo([], outside);
      assert.equal(run.code, 2);
      assert.match(run.stdout, /^Usage: mojo <command> \[options\]$/m);
      assert.equal(run.stderr, '');
    });

    it("prints the framework's version on --version", async () => {
      const run = await mojo(['--version'], outside);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${VERSION}\n`);
    });

    it('names an unknown command and the real ones, exit 2', async () => {
      assertMistake(await mojo(['serv'], outside), 2, /^mojo: unknown command "serv"\. Commands: new, app, serve, dev, routes, user \(see mojo --help\)$/);
    });
  });

  describe('mojo <command> --help', { concurrency: true }, () => {
    const options: Record<(typeof COMMANDS)[number], RegExp[]> = {
      new: [/^Usage: mojo new <dir> \[--app Name\]$/m, /^  --app Name /m],
      app: [/^Usage: mojo app <Name> \[--route \/path\/\]$/m, /^  --route \/path\/ /m, /\/<Name>Socket/],
      serve: [/^Usage: mojo serve \[--port N\] \[--host ADDRESS\]/m, /^  --port N /m, /^  --host ADDRESS /m],
      dev: [/^Usage: mojo dev \[--port N\]$/m, /^  --port N /m],
      routes: [/^Usage: mojo routes$/m],
      user: [/^Usage: mojo user add <name>$/m, /first line/],
    };
    for (const command of COMMANDS) {
      // Half use -h, half --help: both spellings work everywhere, and neither needs a project.
      const flag = COMMANDS.indexOf(command) % 2 === 0 ? '--help' : '-h';
      it(`explains "mojo ${command}" and its options on ${flag}, outside any project, exit 0`, async () => {
        const run = await mojo([command, flag], outside);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stderr, '');
        for (const pattern of options[command]) assert.match(run.stdout, pattern);
        assert.match(run.stdout, /^  -h, --help +show this help$/m);
      });
    }
  });

  describe('mojo <command> --unknown-option', { concurrency: true }, () => {
    // One parser serves every command (each process costs a second): a command with options and one without.
    for (const command of ['new', 'routes'] as const) {
      it(`refuses an option "mojo ${command}" does not have, naming it, exit 2`, async () => {
        assertMistake(await mojo([command, '--verbose'], outside), 2, new RegExp(`^mojo ${command}: unknown option --verbose \\(see mojo ${command} --help\\)$`));
      });
    }
  });

  describe('mojo new', { concurrency: true }, () => {
    it('creates a project whose first app, Home, is served at /', () => {
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /^Created a Mojo project in site with the app Home\.$/m);
      assert.match(created.stdout, /^  cd site$/m);
      assert.match(created.stdout, /npm install && npm start/);
      for (const file of ['package.json', 'tsconfig.json', 'mojo.config.ts', '.gitignore', 'README.md', 'templates/base.html', 'templates/error.html', 'static/css/site.css', 'apps/Home/urls.ts', 'apps/Home/socket_handlers.ts', 'apps/Home/templates/home.html', 'apps/Home/static/app.css', 'test/home.test.ts']) {
        assert.ok(existsSync(path.join(project, file)), `${file} is generated`);
      }
      assert.match(readFileSync(path.join(project, 'apps/Home/urls.ts'), 'utf8'), /\['\/', Index\]/);
      const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string> };
      assert.equal(manifest.name, 'site');
      assert.equal(manifest.dependencies['mojo-ts'], `file:${REPO}`, 'a project made from a checkout depends on that checkout');
    });

    it('asks where, exit 2, when no folder is given', async () => {
      assertMistake(await mojo(['new'], outside), 2, /^mojo new: where\? Give a folder name, like: mojo new my-site$/);
    });

    it('refuses a folder that is not empty, exit 1, and writes nothing into it', async () => {
      const dir = tempDir();
      writeFileSync(path.join(dir, 'notes.txt'), 'mine\n');
      assertMistake(await mojo(['new', '.'], dir), 1, /^mojo new: \. already exists and is not empty; choose a new folder$/);
      assert.deepEqual(readdirSync(dir), ['notes.txt']);
    });

    it('refuses a first app name that is not capitalised, exit 2, and creates no folder', async () => {
      const dir = tempDir();
      assertMistake(await mojo(['new', 'site', '--app', 'blog'], dir), 2, /^mojo new: "blog" is not an app name: use a capitalised identifier such as "Blog" or "TodoList"$/);
      assert.deepEqual(readdirSync(dir), []);
    });
  });

  describe('mojo app', { concurrency: true }, () => {
    it('adds an app from any folder of the project: files, page, channel and installedApps', () => {
      assert.equal(added.code, 0, added.stderr);
      assert.equal(
        added.stdout,
        lines(
          'Added the app Blog (page /writing/, channel /BlogSocket):',
          '  apps/Blog/urls.ts',
          '  apps/Blog/socket_handlers.ts',
          '  apps/Blog/templates/blog.html',
          '  apps/Blog/static/app.css',
          '  test/blog.test.ts',
          '  mojo.config.ts',
        ),
      );
      assert.match(configText, /installedApps: \['Home', 'Blog'\]/);
    });

    it('says it is not in a Mojo project, exit 1, when run outside one', async () => {
      assertMistake(await mojo(['app', 'Blog'], outside), 1, /^mojo app: not in a Mojo project \(no mojo\.config\.ts here or above .+\); create one with: mojo new <dir>$/);
    });

    const refused: [name: string, code: 1 | 2, why: string, message: RegExp][] = [
      ['blog', 2, 'is not capitalised', /^mojo app: "blog" is not an app name: use a capitalised identifier such as "Blog" or "TodoList"$/],
      ['1Blog', 2, 'starts with a digit', /^mojo app: "1Blog" is not an app name: use a capitalised identifier/],
      ['Mojo', 2, 'is reserved', /^mojo app: "Mojo" is reserved; choose another name$/],
      ['Home', 1, 'already exists', /^mojo app: apps\/Home already exists; choose another name$/],
    ];
    for (const [name, code, why, message] of refused) {
      it(`refuses "${name}", which ${why}, exit ${code}, and changes nothing`, async () => {
        assertMistake(await mojo(['app', name], project), code, message);
        assert.equal(readFileSync(path.join(project, 'mojo.config.ts'), 'utf8'), configText);
        assert.deepEqual(snapshot(path.join(project, 'apps')), projectFiles);
      });
    }
  });

  describe('mojo serve', { concurrency: true }, () => {
    let busy: Server;
    let busyPort: number;
    before(async () => {
      busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      busyPort = (busy.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => busy.close(() => resolve())));

    it('says the port is in use, exit 1, without a stack trace', async () => {
      const run = await mojo(['serve', '--port', String(busyPort), '--host', '127.0.0.1'], project);
      assertMistake(run, 1, new RegExp(`^mojo serve: port ${busyPort} is in use: stop the other server or pick another with --port$`));
    });

    it('refuses a port that is not a number, exit 2', async () => {
      assertMistake(await mojo(['serve', '--port', 'abc'], project), 2, /^mojo serve: --port must be a port number \(0-65535\), got abc$/);
    });

    it('refuses a port that is not a number as wrong usage even outside a project, exit 2', async () => {
      assertMistake(await mojo(['serve', '--port', 'abc'], outside), 2, /^mojo serve: --port must be a port number \(0-65535\), got abc$/);
    });

    it('names the bad key of mojo.config.ts, exit 1, without a stack trace', async () => {
      assertMistake(await mojo(['serve', '--port', '0', '--host', '127.0.0.1'], misconfigured), 1, /^mojo serve: mojo\.config: "prot" is not a setting \(known: port, /);
    });
  });

  describe('mojo dev', { concurrency: true }, () => {
    it('refuses a port that is not a number, exit 2', async () => {
      assertMistake(await mojo(['dev', '--port', 'abc'], project), 2, /^mojo dev: --port must be a port number \(0-65535\), got abc$/);
    });
  });

  describe('mojo user', { concurrency: true }, () => {
    it('asks for "add", exit 2, when given a name without it', async () => {
      assertMistake(await mojo(['user', 'ada'], outside), 2, /^mojo user: unknown action "ada" \(did you mean: mojo user add <name>\?\)$/);
    });

    it('fails, exit 1, when standard input holds no password', async () => {
      assertMistake(await mojo(['user', 'add', 'ada'], project, ''), 1, /^mojo user add: no password on standard input$/);
    });
  });

  describe('mojo routes', { concurrency: true }, () => {
    it("lists the demo's routes with methods and handlers, its two channels (none for Auth) and its static folders", async () => {
      const run = await mojo(['routes'], REPO);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stdout,
        lines(
          'Routes',
          '  METHODS        PATH             APP         HANDLER',
          '  GET,HEAD       /                HelloWorld  Welcome',
          '  GET,HEAD       /chat/           Chat        ChatPage',
          '  POST           /chat/whisper    Chat        Whisper (login required)',
          '  GET,POST,HEAD  /auth/login/     Auth        Login',
          '  GET,POST,HEAD  /auth/register/  Auth        Register',
          '  POST           /auth/logout/    Auth        Logout',
          '',
          'Realtime channels (Socket.IO namespaces)',
          '  CHANNEL            APP         HANDLER',
          '  /HelloWorldSocket  HelloWorld  SocketConnectionHandler',
          '  /ChatSocket        Chat        SocketConnectionHandler',
          '',
          'Static files',
          '  URL            FOLDER',
          '  /static/       static/',
          '  /static/Chat/  apps/Chat/static/',
          '',
          'Socket.IO endpoint and client bundle: /socket.io/ (socket.io.min.js)',
        ),
      );
      assert.doesNotMatch(run.stdout, /AuthSocket/);
    });

    it('refuses an argument it does not take, exit 2, instead of ignoring it', async () => {
      // As `mojo new a b` and `mojo app A B` do; `mojo serve 8080` has the same gap and serves on 8000.
      assertMistake(await mojo(['routes', 'Blog'], project), 2, /^mojo routes: /);
    });

    it('lists a generated project: Home at /, Blog at its --route, their channels and static folders', async () => {
      const run = await mojo(['routes'], project);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stdout,
        lines(
          'Routes',
          '  METHODS   PATH       APP   HANDLER',
          '  GET,HEAD  /          Home  Index',
          '  GET,HEAD  /writing/  Blog  Index',
          '',
          'Realtime channels (Socket.IO namespaces)',
          '  CHANNEL      APP   HANDLER',
          '  /HomeSocket  Home  SocketConnectionHandler',
          '  /BlogSocket  Blog  SocketConnectionHandler',
          '',
          'Static files',
          '  URL            FOLDER',
          '  /static/       static/',
          '  /static/Home/  apps/Home/static/',
          '  /static/Blog/  apps/Blog/static/',
          '',
          'Socket.IO endpoint and client bundle: /socket.io/ (socket.io.min.js)',
        ),
      );
    });
  });
});
