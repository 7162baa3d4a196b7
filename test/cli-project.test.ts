/**
 * A newcomer's first session, end to end: `mojo new` in a temporary folder, `mojo app Blog`,
 * `npm install` (the project depends on this checkout), `npm test` (strict typecheck and the
 * generated tests), `mojo serve` answered by fetch and the real socket.io-client, `mojo user add`,
 * and `mojo dev` restarting on a change. Every process is a real child; the CLI's help and
 * mistakes are cli.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import { childEnv } from './support/cli-env.ts';

const REPO = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = path.join(REPO, 'framework', 'cli', 'bin.js');

/** How long a server may take to print its URL, or to stop; the machine may be busy with other tests. */
const START_TIMEOUT = 20_000;
/** How long one request, connection or acknowledgement may take. */
const REQUEST_TIMEOUT = 5_000;
const SERVING = /Mojo is serving (http:\/\/localhost:(\d+)) \(([^)]*)\)/g;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
const clients = new Set<Socket>();


/**
 * Starts `command` in its own process group, so that it and anything it spawned can be killed
 * together if a test fails.
 */
function launch(command: string, args: readonly string[], cwd: string): ChildProcess {
  const child = spawn(command, args, { cwd, env: childEnv(), stdio: 'pipe', detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs a command to its end, with `input` on its stdin; kills it after `timeout` ms. */
function finish(command: string, args: readonly string[], cwd: string, { input = '', timeout = 15_000 } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = launch(command, args, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

function mojo(args: readonly string[], cwd: string, input = ''): Promise<Run> {
  return finish(process.execPath, [BIN, ...args], cwd, { input });
}

/** A `mojo serve` or `mojo dev` that keeps running: its output so far, and waits on it. */
class Running {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], cwd: string) {
    this.child = launch(process.execPath, [BIN, ...args], cwd);
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with what `find` returns for stdout once it returns something; fails on exit or timeout. */
  until<T>(what: string, find: (stdout: string) => T | undefined, timeout = START_TIMEOUT): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find(this.stdout);
        if (found === undefined) return;
        done();
        resolve(found);
      };
      const exited = () => {
        done();
        reject(new Error(`exited before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeout} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.child.stdout!.off('data', check);
        this.child.off('exit', exited);
      };
      this.child.stdout!.on('data', check);
      this.child.once('exit', exited);
      check();
    });
  }

  /** The URLs printed so far, in order: one per (re)start. */
  urls(): { url: string; port: number; apps: string; index: number }[] {
    return [...this.stdout.matchAll(SERVING)].map((m) => ({ url: m[1]!, port: Number(m[2]), apps: m[3]!, index: m.index! }));
  }

  /** Sends SIGTERM to this process only (not its group) and waits for it to exit. */
  async stop(timeout = START_TIMEOUT): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running ${timeout} ms after SIGTERM\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)), timeout);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The page at `pathname` of the server on `port`, asked for on 127.0.0.1 as the printed localhost. */
async function get(port: number, pathname: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function assertNotAnswering(port: number): Promise<void> {
  await assert.rejects(
    fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT) }),
    (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
    `nothing listens on port ${port} any more`,
  );
}

function h1(body: string): string | undefined {
  return /<h1>([^<]*)<\/h1>/.exec(body)?.[1];
}

function withTimeout<T>(promise: Promise<T>, what: string, timeout = REQUEST_TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${timeout} ms`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('a project made with mojo new and mojo app', () => {
  let root: string;
  let project: string;

  before(
    async () => {
      root = mkdtempSync(path.join(os.tmpdir(), 'mojo-project-'));
      project = path.join(root, 'site');
      const created = await mojo(['new', 'site'], root);
      assert.equal(created.code, 0, `mojo new site: ${created.stderr}`);
      const added = await mojo(['app', 'Blog'], project);
      assert.equal(added.code, 0, `mojo app Blog: ${added.stderr}`);
      const installed = await finish('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], project, { timeout: 120_000 });
      assert.equal(installed.code, 0, `npm install:\n${installed.stdout}\n${installed.stderr}`);
    },
    { timeout: 150_000 },
  );

  after(() => {
    for (const socket of clients) socket.close();
    for (const child of children) killGroup(child);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('lists Home and Blog in installedApps of mojo.config.ts', () => {
    const config = readFileSync(path.join(project, 'mojo.config.ts'), 'utf8');
    assert.match(config, /installedApps: \['Home', 'Blog'\]/);
  });

  it('passes its own npm test: tsc under strict, then the tests generated for Home and Blog', { timeout: 150_000 }, async () => {
    const tsconfig = JSON.parse(readFileSync(path.join(project, 'tsconfig.json'), 'utf8')) as { compilerOptions: { strict?: boolean } };
    assert.equal(tsconfig.compilerOptions.strict, true);
    const run = await finish('npm', ['test'], project, { timeout: 120_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.code, 0, output);
    assert.doesNotMatch(output, /error TS\d+/);
    // TAP when piped (`# pass 4`), the spec reporter on a terminal (`ℹ pass 4`).
    const passed = Number(/^(?:# |ℹ )pass (\d+)$/m.exec(output)?.[1] ?? 0);
    assert.ok(passed >= 4, `two tests per app pass (${passed} reported)\n${output}`);
    assert.match(output, /^(?:# |ℹ )fail 0$/m);
    assert.match(output, /^(?:ok \d+ - |✔ )Home app/m);
    assert.match(output, /^(?:ok \d+ - |✔ )Blog app/m);
  });

  it('serves the Blog page and its /BlogSocket channel on a free port, and stops on SIGTERM', { timeout: 60_000 }, async () => {
    const server = new Running(['serve', '--port', '0', '--host', '127.0.0.1'], project);
    try {
      const { port, apps } = await server.until('URL', () => server.urls()[0]);
      assert.equal(apps, 'Home, Blog');
      assert.notEqual(port, 0);

      const page = await get(port, '/blog/');
      assert.equal(page.status, 200);
      assert.match(page.type, /^text\/html/);
      assert.equal(h1(page.body), 'Blog');
      assert.match(page.body, /\/BlogSocket/);

      const socket = io(`http://127.0.0.1:${port}/BlogSocket`, { forceNew: true, reconnection: false });
      clients.add(socket);
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        }),
        'connection to /BlogSocket',
      );
      const reply = (await socket.timeout(REQUEST_TIMEOUT).emitWithAck('ping')) as { pong: unknown; user: unknown };
      assert.equal(typeof reply.pong, 'number');
      assert.equal(reply.user, null);

      const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
      const { code, signal } = await server.stop();
      assert.equal(signal, null);
      assert.equal(code, 0, server.stderr);
      assert.match(server.stdout, /Mojo is stopping/);
      assert.doesNotMatch(server.stderr, /^\s+at /m);
      await withTimeout(disconnected, 'disconnect of the open client');
      await assertNotAnswering(port);
    } finally {
      killGroup(server.child);
    }
  });

  it('creates a user with mojo user add from the first line of stdin, and refuses the same name again', { timeout: 60_000 }, async () => {
    const first = await mojo(['user', 'add', 'ada'], project, 'correct horse battery\n');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'Created the user ada.\n');

    const again = await mojo(['user', 'add', 'ada'], project, 'another good password\n');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already a user named "ada"/);
    assert.equal(again.stderr.trimEnd().split('\n').length, 1, again.stderr);
    assert.doesNotMatch(again.stderr, /^\s+at /m);
  });

  it('refuses a password under 8 characters, saying so, and creates nobody', { timeout: 60_000 }, async () => {
    const short = await mojo(['user', 'add', 'bob'], project, 'short\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);
    assert.equal(short.stderr.trimEnd().split('\n').length, 1, short.stderr);
    assert.doesNotMatch(short.stderr, /^\s+at /m);
    assert.doesNotMatch(short.stdout, /Created/);

    const retry = await mojo(['user', 'add', 'bob'], project, 'long enough now\n');
    assert.equal(retry.code, 0, `bob was not created by the refused attempt: ${retry.stderr}`);
  });

  it('restarts mojo dev when apps/Blog/urls.ts changes, serves the change, and leaves no server behind on SIGTERM', { timeout: 90_000 }, async () => {
    const dev = new Running(['dev', '--port', '0'], project);
    try {
      const before = await dev.until('first URL', () => dev.urls()[0]);
      assert.equal(h1((await get(before.port, '/blog/')).body), 'Blog');

      const urls = path.join(project, 'apps', 'Blog', 'urls.ts');
      const source = readFileSync(urls, 'utf8');
      assert.match(source, /title: 'Blog'/);
      writeFileSync(urls, source.replace("title: 'Blog'", "title: 'Blog, edited'"));

      const restarted = await dev.until('"restarting" line', (out) => /^mojo dev: apps\/Blog\/urls\.ts changed, restarting/m.exec(out) ?? undefined);
      const after = await dev.until('URL after the restart', () => dev.urls().find((url) => url.index > restarted.index));
      const page = await get(after.port, '/blog/');
      assert.equal(page.status, 200);
      assert.equal(h1(page.body), 'Blog, edited');

      const { code } = await dev.stop();
      assert.equal(code, 0, dev.stderr);
      assert.doesNotMatch(dev.stderr, /^\s+at /m);
      await assertNotAnswering(after.port);
      if (after.port !== before.port) await assertNotAnswering(before.port);
    } finally {
      killGroup(dev.child);
    }
  });
});
