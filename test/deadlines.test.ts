import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { Deadlines, type Scheduled } from '../framework/util/deadlines.ts';
import { setLogSink } from '../framework/util/logger.ts';

/** The repository root: the child processes below import the framework relative to it. */
const REPO = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs `lines` as an ES module in a child process from the repository root; resolves with its
 * exit code and what it printed once it exits by itself, rejects if it still runs after 20 s.
 */
async function runModule(lines: readonly string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', lines.join('\n')], { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('the process was still running after 20 s')), 20_000);
      child.once('exit', (exitCode) => {
        clearTimeout(guard);
        resolve(exitCode);
      });
    });
    return { code, out };
  } finally {
    child.kill();
  }
}

class Item implements Scheduled {
  deadlineAt = 0;
  deadlinePrev: Scheduled | null = null;
  deadlineNext: Scheduled | null = null;
  deadlines: Deadlines<Item> | null = null;
  constructor(readonly name: string) {}
}

/** Mocked timers and Date; the queues under test read Date.now as their clock (by default they read a monotonic one, which cannot be mocked). */
function mockClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
}

describe('Deadlines', () => {
  it('expires items in the order they were added, each after the delay', (t) => {
    mockClock(t);
    const expired: string[] = [];
    const queue = new Deadlines<Item>(100, (item) => expired.push(item.name), Date.now);
    const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
    queue.add(a);
    t.mock.timers.tick(30);
    queue.add(b);
    queue.add(c);
    assert.equal(queue.length, 3);
    t.mock.timers.tick(69);
    assert.deepEqual(expired, []);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['a']);
    assert.equal(a.deadlines, null, 'an expired item waits nowhere');
    t.mock.timers.tick(29);
    assert.deepEqual(expired, ['a']);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['a', 'b', 'c']);
    assert.equal(queue.length, 0);
  });

  it('adding an item again pushes it back; removing one (head, middle or tail) keeps the others due', (t) => {
    mockClock(t);
    const expired: string[] = [];
    const queue = new Deadlines<Item>(100, (item) => expired.push(item.name), Date.now);
    const items = ['a', 'b', 'c', 'd', 'e'].map((name) => new Item(name));
    for (const item of items) queue.add(item);
    t.mock.timers.tick(50);
    queue.add(items[0]!); // a is due at 150 now
    queue.remove(items[2]!); // middle
    queue.remove(items[4]!); // tail
    queue.remove(items[4]!); // twice: nothing
    assert.equal(queue.length, 3);
    t.mock.timers.tick(50);
    assert.deepEqual(expired, ['b', 'd']);
    t.mock.timers.tick(50);
    assert.deepEqual(expired, ['b', 'd', 'a']);
    queue.remove(items[1]!); // expired already: waits nowhere
    assert.equal(queue.length, 0);
  });

  it('moves an item between queues, and a handler may add it again', (t) => {
    mockClock(t);
    const log: string[] = [];
    const pongs: Deadlines<Item> = new Deadlines<Item>(20, (item) => log.push(`timeout ${item.name}`), Date.now);
    const pings = new Deadlines<Item>(
      50,
      (item) => {
        log.push(`ping ${item.name}`);
        pongs.add(item);
      },
      Date.now,
    );
    const item = new Item('x');
    pings.add(item);
    t.mock.timers.tick(50);
    assert.deepEqual(log, ['ping x']);
    assert.equal(item.deadlines, pongs);
    assert.equal(pings.length, 0);
    t.mock.timers.tick(10);
    pings.add(item); // the pong: back to waiting for the next ping
    assert.equal(pongs.length, 0);
    t.mock.timers.tick(49);
    assert.deepEqual(log, ['ping x']);
    t.mock.timers.tick(1);
    t.mock.timers.tick(20);
    assert.deepEqual(log, ['ping x', 'ping x', 'timeout x']);
  });

  it('a handler that throws is logged and the others still expire', (t) => {
    mockClock(t);
    const logged: string[] = [];
    const previous = setLogSink((level, _scope, message) => logged.push(`${level} ${message}`));
    t.after(() => setLogSink(previous));
    const expired: string[] = [];
    const queue = new Deadlines<Item>(
      10,
      (item) => {
        if (item.name === 'bad') throw new Error('boom');
        expired.push(item.name);
      },
      Date.now,
    );
    for (const name of ['a', 'bad', 'b']) queue.add(new Item(name));
    t.mock.timers.tick(10);
    assert.deepEqual(expired, ['a', 'b']);
    assert.deepEqual(logged, ['error a deadline handler threw']);
    queue.add(new Item('c'));
    t.mock.timers.tick(10);
    assert.deepEqual(expired, ['a', 'b', 'c'], 'the timer still works afterwards');
  });

  it('clear forgets everything without expiring it', (t) => {
    mockClock(t);
    const expired: string[] = [];
    const queue = new Deadlines<Item>(10, (item) => expired.push(item.name), Date.now);
    const items = [new Item('a'), new Item('b')];
    for (const item of items) queue.add(item);
    queue.clear();
    t.mock.timers.tick(100);
    assert.deepEqual(expired, []);
    assert.ok(items.every((item) => item.deadlines === null && item.deadlineNext === null));
  });

  it('refuses a delay that is not a whole number of ms of at least 1', () => {
    for (const delay of [0, -5, 1.5, Number.NaN]) assert.throws(() => new Deadlines<Item>(delay, () => {}), RangeError);
  });

  it('runs on a monotonic clock by default: a wall clock set back does not hold items back (real timers)', async (t) => {
    // Date set back an hour: a queue reading Date.now would wait an hour more.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() - 3_600_000 });
    let queue: Deadlines<Item> | undefined;
    let guard: NodeJS.Timeout | undefined;
    const outcome = await new Promise<string>((resolve) => {
      queue = new Deadlines<Item>(20, () => resolve('expired'));
      queue.add(new Item('a'));
      guard = setTimeout(resolve, 2_000, 'still waiting after 2 s');
    });
    clearTimeout(guard);
    queue!.clear();
    assert.equal(outcome, 'expired');
  });

  it('a handler that adds its item again does not hold back an item already waiting', (t) => {
    mockClock(t);
    const expired: string[] = [];
    const queue = new Deadlines<Item>(
      100,
      (item) => {
        expired.push(`${item.name}@${Date.now() - 1_000_000}`);
        if (item.name === 'a') queue.add(item);
      },
      Date.now,
    );
    queue.add(new Item('a'));
    t.mock.timers.tick(40);
    queue.add(new Item('b'));
    t.mock.timers.tick(60); // a expires and waits again
    t.mock.timers.tick(40); // b is due
    assert.deepEqual(expired, ['a@100', 'b@140']);
    t.mock.timers.tick(60);
    assert.deepEqual(expired, ['a@100', 'b@140', 'a@200']);
    queue.clear();
  });

  it('an item added after the queue emptied expires after the full delay, not with the old timer', (t) => {
    mockClock(t);
    const expired: string[] = [];
    const queue = new Deadlines<Item>(100, (item) => expired.push(item.name), Date.now);
    const a = new Item('a');
    queue.add(a);
    t.mock.timers.tick(60);
    queue.remove(a);
    const b = new Item('b');
    queue.add(b);
    t.mock.timers.tick(40); // the timer armed for a fires: b is not due yet
    assert.deepEqual(expired, []);
    t.mock.timers.tick(59);
    assert.deepEqual(expired, []);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['b']);
  });

  it('does not keep the process waiting once empty (real timers, in a child process)', async () => {
    // A queue of one minute, emptied: the process must end on its own, long before the minute.
    const { code } = await runModule([
      "import { Deadlines } from './framework/util/deadlines.ts';",
      'const item = { deadlineAt: 0, deadlinePrev: null, deadlineNext: null, deadlines: null };',
      'const queue = new Deadlines(60_000, () => {});',
      'queue.add(item);',
      'queue.remove(item);',
    ]);
    assert.equal(code, 0);
  });

  it('keeps the process alive while an item added after emptying waits (real timers, in a child process)', async () => {
    const { code, out } = await runModule([
      "import { Deadlines } from './framework/util/deadlines.ts';",
      'const item = () => ({ deadlineAt: 0, deadlinePrev: null, deadlineNext: null, deadlines: null });',
      "const queue = new Deadlines(200, () => process.stdout.write('expired'));",
      'const first = item();',
      'queue.add(first);',
      'queue.remove(first);',
      'queue.add(item());',
    ]);
    assert.equal(code, 0);
    assert.equal(out, 'expired', 'the process waited for the item');
  });
});
