/**
 * Every code example of the README marked `<!-- example: NAME -->` is typechecked and run here,
 * then poked with the real client: Mojo's docs disagreed with its code; ours must not.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';

const ROOT = new URL('..', import.meta.url).pathname;
const DIR = join(ROOT, '.scratch', 'readme');

function examples(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const found = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- example: ([\w-]+) -->\s*```ts\n([\s\S]*?)```/g)) found.set(match[1]!, match[2]!);
  return found;
}

const children: ChildProcess[] = [];
const clients: Socket[] = [];

function run(name: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', join(ROOT, 'test/support/listen-on-free-port.ts'), join(DIR, `${name}.ts`)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`example ${name} did not start listening:\n${stderr}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /README_EXAMPLE_LISTENING (\d+)/.exec(chunk.toString());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`example ${name} exited with ${code}:\n${stderr}`));
    });
  });
}

function client(url: string, options: Parameters<typeof io>[1] = {}): Socket {
  const socket = io(url, { forceNew: true, reconnection: false, ...options });
  clients.push(socket);
  return socket;
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

describe('README examples', () => {
  const found = examples();

  before(() => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    for (const [name, code] of found) writeFileSync(join(DIR, `${name}.ts`), code);
    writeFileSync(join(DIR, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: ['*.ts'] }));
  });

  after(() => {
    for (const socket of clients) socket.close();
    for (const child of children) child.kill();
  });

  it('has the examples this test knows how to check', () => {
    assert.deepEqual([...found.keys()].sort(), ['realtime', 'socket-server', 'tornadio']);
  });

  it('quotes the demo files it shows exactly as they are', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const quoted = [...readme.matchAll(/<!-- file: ([\w./-]+) -->\s*```ts\n([\s\S]*?)```/g)];
    assert.ok(quoted.length >= 2, 'the README quotes demo files');
    for (const [, file, code] of quoted) {
      assert.ok(readFileSync(join(ROOT, file!), 'utf8').includes(code!), `README's excerpt of ${file} differs from the file`);
    }
  });

  it("shows the demo's `mojo routes` output as the command prints it", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = /<!-- output: mojo routes -->\s*```\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(shown, 'the README shows the output of mojo routes');
    const result = spawnSync(process.execPath, [join(ROOT, 'framework/cli/bin.js'), 'routes'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, shown);
  });

  it('typechecks every example under strict', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', DIR], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it('runs the TornadIO2-style example: endpoints, refusal, acks, kwargs, stats', async () => {
    const port = await run('tornadio');
    const url = `http://127.0.0.1:${port}`;
    const refused = client(`${url}/chat`);
    await assert.rejects(connected(refused), /refused/);
    const chat = client(`${url}/chat`, { auth: { token: 'abc' } });
    const thanks = new Promise((resolve) => chat.once('thanks', resolve));
    await connected(chat);
    assert.equal(await chat.emitWithAck('hello', 'Joes'), 'hi Joes');
    assert.deepEqual(await thanks, { name: 'Joes' });
    assert.equal(await chat.emitWithAck('hello', { name: 'Joes' }), 'hi Joes');
    const ping = client(`${url}/ping`);
    await connected(ping);
    const pong = new Promise<unknown[]>((resolve) => ping.once('pong', (...args: unknown[]) => resolve(args)));
    ping.emit('ping', 'me');
    const [who, time] = await pong;
    assert.equal(who, 'me');
    assert.equal(typeof time, 'number');
    const stats = (await (await fetch(`${url}/stats`)).json()) as { activeConnections: number };
    assert.equal(stats.activeConnections, 2);
  });

  it('runs the SocketServer example with an express app', async () => {
    const port = await run('socket-server');
    const url = `http://127.0.0.1:${port}`;
    assert.equal(await (await fetch(`${url}/`)).text(), 'hello');
    const socket = client(url);
    await connected(socket);
    assert.equal(await socket.emitWithAck('echo', 'ping'), 'ping');
  });

  it('runs the RealtimeServer example: acks, rooms, middleware', async () => {
    const port = await run('realtime');
    const url = `http://127.0.0.1:${port}`;
    const socket = client(url);
    await connected(socket);
    assert.equal(await socket.emitWithAck('hello', 'Ada'), 'hi Ada');
    const other = client(url);
    const joined = new Promise((resolve) => socket.once('joined', resolve));
    await connected(other);
    assert.equal(await joined, other.id);
    await assert.rejects(connected(client(`${url}/admin`)), /not allowed/);
    await connected(client(`${url}/admin`, { auth: { token: 'secret' } }));
  });
});
