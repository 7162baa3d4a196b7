/**
 * Scale-out on Redis: a real redis-server on a free port and two server processes of the fixture
 * project. A socket on node A is reached by HTTP handlers on node B, for a session and for a user;
 * logout on B reaches A; sizes are cluster-wide; a killed node's entries vanish within the
 * presence expiry; a Redis outage loses no local delivery and cross-node delivery comes back.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../framework/http/database.ts';
import { UserStore } from '../framework/http/users.ts';
import { Browser, PASSWORD, connected, expectNoEvent, nextEvent, socket, type RunningApp } from './support/mojo-app.ts';

const REDIS = '/usr/bin/redis-server';
const ROOT = new URL('..', import.meta.url).pathname;
const TTL_SECONDS = 1;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const children = new Set<ChildProcess>();

function waitForLine(child: ChildProcess, pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${ms} ms:\n${seen}`)), ms);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(match);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before printing ${pattern}:\n${seen}`));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(redis);
  await waitForLine(redis, /Ready to accept connections/);
  return redis;
}

interface Node extends RunningApp {
  child: ChildProcess;
}

async function startNode(redisUrl: string, db: string): Promise<Node> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/cluster-node.ts')], {
    cwd: ROOT,
    env: { ...process.env, MOJO_TEST_REDIS: redisUrl, MOJO_TEST_DB: db, MOJO_TEST_TTL: String(TTL_SECONDS), MOJO_LOG: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const [, port] = await waitForLine(child, /LISTENING (\d+)/);
  const url = `http://127.0.0.1:${port}`;
  // Browser only needs the url; the node's app lives in the child process.
  return { child, url, mojo: undefined as never, close: async () => void stop(child) };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
  children.delete(child);
}

/** Polls `check` until it holds, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`${what} did not happen within ${ms} ms`);
}

async function state(browser: Browser): Promise<{ sessionId: string; currentUser: string | null; current: string[]; loggedIn: string[] }> {
  return browser.state();
}

const available = existsSync(REDIS);

describe('scale-out on Redis', { skip: !available && !process.env.CI ? `${REDIS} is missing: apt-get install -y redis-server` : false }, () => {
  let redisPort: number;
  let redisUrl: string;
  let redis: ChildProcess;
  let db: string;
  let dir: string;

  before(async () => {
    assert.ok(available, `${REDIS} is missing although CI is set: .ci/run must install redis-server`);
    redisPort = await freePort();
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    redis = await startRedis(redisPort);
    // Lives as long as the suite (the shared tempDir helper cleans up after every test).
    dir = mkdtempSync(path.join(os.tmpdir(), 'mojo-cluster-'));
    db = path.join(dir, 'users.db');
    const handle = openDatabase(`sqlite:${db}`, ROOT);
    await new UserStore(handle).create('ada', PASSWORD);
    handle.close();
  });

  after(async () => {
    for (const child of [...children]) await stop(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches a socket on node A from HTTP handlers on node B, for a session and for a user', async () => {
    const [a, b] = await Promise.all([startNode(redisUrl, db), startNode(redisUrl, db)]);
    const onB = new Browser(b);
    assert.equal((await onB.login('ada')).status, 303, 'logged in through node B');
    const onA = new Browser(a, onB.jar);
    assert.equal((await state(onA)).currentUser, 'ada', "node A accepts node B's session (sessions live in Redis)");

    const tab = await connected(socket(`${a.url}/ProbeSocket`, onB.jar));
    const who = (await tab.emitWithAck('whoami')) as { sessionId: string; userId: string };
    assert.equal(who.userId, 'ada');

    await eventually(async () => (await state(onB)).loggedIn.includes('ada'), "node B seeing ada's tab on node A");
    const probe = nextEvent<{ sessionId: string }>(tab, 'probe');
    const emitted = (await (await onB.request('/probe/emit-session')).json()) as { reached: number };
    assert.equal(emitted.reached, 1, 'the group on B counts the tab on A');
    assert.equal((await probe).sessionId, who.sessionId);

    const told = nextEvent<{ text: string }>(tab, 'told');
    const _csrf = await onB.csrf('/probe/login');
    await onB.request('/probe/tell/ada', { form: { _csrf, text: 'from B' } });
    assert.equal((await told).text, 'from B');

    await stop(a.child);
    await stop(b.child);
  });

  it('answers has, size and keys for the whole cluster, and logout on B removes the user on A', async () => {
    const [a, b] = await Promise.all([startNode(redisUrl, db), startNode(redisUrl, db)]);
    const ada = new Browser(b);
    assert.equal((await ada.login('ada')).status, 303);
    const visitor = new Browser(b);
    await state(visitor); // a session, no login
    const adaTab = await connected(socket(`${a.url}/ProbeSocket`, ada.jar));
    await connected(socket(`${b.url}/ProbeSocket`, visitor.jar));

    let seen = await state(visitor);
    await eventually(async () => {
      seen = await state(visitor);
      return seen.current.length === 2 && seen.loggedIn.length === 1;
    }, 'both nodes listing 2 sessions and 1 user').catch((err: Error) => assert.fail(`${err.message}; node B lists ${JSON.stringify(seen)}`));
    await eventually(async () => (await state(new Browser(a, visitor.jar))).current.length === 2, 'node A counting the session connected to node B');

    const _csrf = await ada.csrf('/probe/login');
    assert.equal((await ada.request('/probe/logout', { form: { _csrf } })).status, 200);
    await eventually(
      async () => (await state(new Browser(a, visitor.jar))).loggedIn.length === 0 && (await state(visitor)).loggedIn.length === 0,
      'nodes A and B dropping ada after the logout on node B',
    );
    const tell = await visitor.csrf('/probe/login');
    const reply = (await (await visitor.request('/probe/tell/ada', { form: { _csrf: tell, text: 'still there?' } })).json()) as { reached: number };
    assert.equal(reply.reached, 0);
    await expectNoEvent([adaTab], 'told');

    await stop(a.child);
    await stop(b.child);
  });

  it("forgets a killed node's connections within the presence expiry", async () => {
    const [a, b] = await Promise.all([startNode(redisUrl, db), startNode(redisUrl, db)]);
    const ada = new Browser(b);
    assert.equal((await ada.login('ada')).status, 303);
    await connected(socket(`${a.url}/ProbeSocket`, ada.jar, { reconnection: false }));
    await eventually(async () => (await state(ada)).loggedIn.includes('ada'), "node B seeing ada's tab on node A");

    const killedAt = Date.now();
    await stop(a.child, 'SIGKILL'); // no goodbye: only the expiry can tell
    await eventually(async () => (await state(ada)).loggedIn.length === 0, "node B forgetting the killed node's tab", (TTL_SECONDS + 4) * 1000);
    assert.ok(Date.now() - killedAt < (TTL_SECONDS + 4) * 1000);
    await stop(b.child);
  });

  it('keeps local delivery through a Redis outage and restores cross-node delivery after it', async () => {
    const [a, b] = await Promise.all([startNode(redisUrl, db), startNode(redisUrl, db)]);
    const first = await connected(socket(`${a.url}/ProbeSocket`, null));
    const second = await connected(socket(`${a.url}/ProbeSocket`, null));
    const remote = await connected(socket(`${b.url}/ProbeSocket`, null));
    const heard = nextEvent(remote, 'shouted');
    first.emit('shout', 'before');
    assert.equal(await heard, 'before', 'cross-node delivery works to begin with');

    await stop(redis);
    const local = nextEvent(second, 'shouted');
    first.emit('shout', 'during');
    assert.equal(await local, 'during', 'a local broadcast still arrives while Redis is down');
    await expectNoEvent([remote], 'shouted', 300);
    const started = Date.now();
    const page = await fetch(`${a.url}/probe/state`, { signal: AbortSignal.timeout(5000) });
    assert.ok(Date.now() - started < 5000, 'an HTTP request does not hang on the missing Redis');

    redis = await startRedis(redisPort);
    let back = false;
    remote.on('shouted', (text: string) => {
      if (text === 'after') back = true;
    });
    await eventually(async () => {
      first.emit('shout', 'after');
      await new Promise((resolve) => setTimeout(resolve, 100));
      return back;
    }, 'cross-node delivery coming back after Redis returns', 10_000);

    await stop(a.child);
    await stop(b.child);
  });
});

describe('mojo serve --workers', { skip: !available && !process.env.CI ? `${REDIS} is missing: apt-get install -y redis-server` : false }, () => {
  const BIN = path.join(ROOT, 'framework/cli/bin.js');
  let project: string;
  let redis: ChildProcess;
  let redisUrl: string;

  before(async () => {
    const port = await freePort();
    redisUrl = `redis://127.0.0.1:${port}`;
    redis = await startRedis(port);
    project = mkdtempSync(path.join(os.tmpdir(), 'mojo-workers-'));
    cpSync(path.join(ROOT, 'test/fixtures/project'), project, { recursive: true });
    // What `npm install` gives a real project: an ES module package that can import mojo-ts.
    writeFileSync(path.join(project, 'package.json'), '{ "type": "module" }\n');
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(ROOT, path.join(project, 'node_modules', 'mojo-ts'), 'dir');
  });

  after(async () => {
    await stop(redis, 'SIGKILL');
    rmSync(project, { recursive: true, force: true });
  });

  function writeConfig(redisLine: string): void {
    writeFileSync(
      path.join(project, 'mojo.config.ts'),
      `export default { cookieSecret: 'workers-secret', installedApps: ['Probe', 'Lobby'], database: 'sqlite:data/mojo.db', ${redisLine} };\n`,
    );
  }

  /** GET /probe/pid from a given local address; returns the pid of the worker that answered. */
  function pidFrom(port: number, localAddress: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/probe/pid', localAddress, agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk));
        res.on('end', () => resolve((JSON.parse(body) as { pid: number }).pid));
      });
      req.on('timeout', () => req.destroy(new Error(`GET /probe/pid from ${localAddress} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  it('spreads clients over the workers and keeps each client on one of them', async () => {
    writeConfig(`redis: '${redisUrl}'`);
    const server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--workers', '2'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(server);
    const [, port] = await waitForLine(server, /localhost:(\d+) with 2 workers/);
    const listening = Number(port);
    const pids = new Set<number>();
    for (let i = 1; i <= 12; i++) {
      const address = `127.0.0.${i}`;
      const first = await pidFrom(listening, address);
      assert.equal(await pidFrom(listening, address), first, `requests from ${address} stay on one worker`);
      pids.add(first);
    }
    assert.equal(pids.size, 2, 'both workers take clients');
    assert.ok(!pids.has(server.pid!), 'the primary only routes');

    const polling = await connected(socket(`http://127.0.0.1:${listening}/ProbeSocket`, null, { transports: ['polling'] }));
    for (let i = 0; i < 5; i++) assert.equal(((await polling.emitWithAck('whoami')) as { channel: string }).channel, '/ProbeSocket');
    polling.close();

    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    assert.equal(await exited, 0, 'the primary stops its workers and exits cleanly');
    children.delete(server);
  });

  it('refuses to start workers without redis, in one line', () => {
    writeConfig('');
    const result = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--workers', '2'], { cwd: project, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /--workers needs `redis` in mojo.config.ts/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});

// Keeps the list of processes honest if a test fails half-way.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  spawnSync('true');
});
