/**
 * Cross-node emit through Redis: latency and throughput of a broadcast made by a socket on node B
 * and received by a socket on node A, next to the same broadcast received on B itself.
 *
 *   npm run bench:cluster [-- --messages 2000 --rounds 5]
 *
 * Starts its own redis-server (Debian's) on a free port and two node processes of the test
 * fixture project; everything listens on 127.0.0.1 and is stopped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';

const ROOT = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const MESSAGES = option('messages', 2000);
const ROUNDS = option('rounds', 5);
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function started(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk;
      const match = pattern.exec(seen);
      if (match) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${seen}`)));
  });
}

async function node(redisUrl: string, db: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/cluster-node.ts')], {
    cwd: ROOT,
    env: { ...process.env, MOJO_TEST_REDIS: redisUrl, MOJO_TEST_DB: db, MOJO_TEST_TTL: '15', MOJO_LOG: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const [, port] = await started(child, /LISTENING (\d+)/);
  return `http://127.0.0.1:${port}/ProbeSocket`;
}

async function client(url: string): Promise<Socket> {
  const socket = io(url, { forceNew: true, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One message at a time: time from emit to arrival, ms. */
async function latency(sender: Socket, receiver: Socket, count: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const text = `l${i}`;
    const arrived = new Promise<void>((resolve) => {
      const on = (got: string) => {
        if (got !== text) return;
        receiver.off('shouted', on);
        resolve();
      };
      receiver.on('shouted', on);
    });
    const start = process.hrtime.bigint();
    sender.emit('shout', text);
    await arrived;
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(samples);
}

/** `count` messages sent at once: messages per second until the last arrives. */
async function throughput(sender: Socket, receiver: Socket, count: number): Promise<number> {
  let received = 0;
  const done = new Promise<void>((resolve) => {
    const on = (got: string) => {
      if (!got.startsWith('t')) return;
      if (++received === count) {
        receiver.off('shouted', on);
        resolve();
      }
    };
    receiver.on('shouted', on);
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) sender.emit('shout', `t${i}`);
  await done;
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mojo-bench-cluster-'));
  try {
    const redisPort = await freePort();
    const redis = spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(redis);
    await started(redis, /Ready to accept connections/);
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const db = path.join(dir, 'users.db');
    const [a, b] = [await node(redisUrl, db), await node(redisUrl, db)];
    const onA = await client(a);
    const sender = await client(b);
    const onB = await client(b);

    const rows: Record<string, { latency: number[]; throughput: number[] }> = {
      'same node (B → B)': { latency: [], throughput: [] },
      'cross node via Redis (B → A)': { latency: [], throughput: [] },
    };
    await latency(sender, onA, 200); // warm up both paths
    await latency(sender, onB, 200);
    for (let round = 0; round < ROUNDS; round++) {
      rows['same node (B → B)']!.latency.push(await latency(sender, onB, 300));
      rows['cross node via Redis (B → A)']!.latency.push(await latency(sender, onA, 300));
      rows['same node (B → B)']!.throughput.push(await throughput(sender, onB, MESSAGES));
      rows['cross node via Redis (B → A)']!.throughput.push(await throughput(sender, onA, MESSAGES));
    }
    const lines = [
      `| path | median latency (ms) | median throughput (messages/s) |`,
      `| --- | --- | --- |`,
      ...Object.entries(rows).map(([name, r]) => `| ${name} | ${median(r.latency).toFixed(3)} | ${Math.round(median(r.throughput))} |`),
    ];
    process.stdout.write(`Cross-node emit, ${ROUNDS} rounds (latency: 300 sequential messages per round; throughput: ${MESSAGES} messages sent at once per round)\n\n${lines.join('\n')}\n`);
    for (const socket of [onA, sender, onB]) socket.close();
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
