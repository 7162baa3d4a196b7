/**
 * Reconnects (`sessionExpiry`): a client whose transport drops and that comes back in time gets
 * its socket id, its rooms and the packets it missed (Socket.IO connection state recovery, which
 * socket.io-client 4.6+ asks for). The router turns it on by default (30 s).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecoveryLog } from '../framework/realtime/recovery.ts';
import { RealtimeServer, SocketConnection, event, type DisconnectReason, type RouterSettings } from 'mojo-ts';
import { ask, connect, expectNoEvent, once, startTornadio, withTimeout, type ClientOptions, type ClientSocket } from './support/tornadio.ts';

interface Opened {
  id: string;
  recovered: boolean;
}

/** A server whose connections can join rooms and message a room or a socket id, recording hooks. */
async function start(settings?: RouterSettings) {
  const opens: Opened[] = [];
  const closes: Array<{ id: string; reason: DisconnectReason }> = [];
  class Conn extends SocketConnection {
    override onOpen() {
      opens.push({ id: this.id, recovered: this.recovered });
    }
    override onClose(reason: DisconnectReason) {
      closes.push({ id: this.id, reason });
    }
    @event enter(room: string) {
      this.join(room);
    }
    @event tell(room: string, text: string) {
      this.to(room).emit('news', text);
    }
    @event('rooms') joined() {
      return [...this.rooms].filter((room) => room !== this.id);
    }
  }
  const started = await startTornadio(Conn, settings);
  return { ...started, opens, closes };
}

/** What a websocket client that drops needs: reconnect by itself, after a short fixed delay. */
function reconnecting(delay: number): ClientOptions {
  return { transports: ['websocket'], reconnection: true, reconnectionDelay: delay, reconnectionDelayMax: delay, randomizationFactor: 0 };
}

/** Resolves once `predicate` holds (polled); for server state with no event of its own. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 2));
    })(),
    what,
  );
}

/** Drops the client's transport (as a network failure would) and waits until the server has noticed. */
async function drop(sock: ClientSocket, closes: Array<{ id: string }>, id: string): Promise<void> {
  sock.io.engine.close();
  await until(() => closes.some((c) => c.id === id), 'the server to notice the drop');
}

describe('connection state recovery', () => {
  it('gives a client that drops and returns within sessionExpiry its id, its rooms and what it missed', async () => {
    const { url, closes } = await start();
    const sock = await connect(url, reconnecting(250));
    const other = await connect(url);
    await ask(sock, 'enter', 'red');
    const id = sock.id!;
    assert.equal(sock.recovered, false);

    const news: unknown[][] = [];
    sock.on('news', (...args: unknown[]) => news.push(args));
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    assert.equal(closes.find((c) => c.id === id)?.reason, 'transport close');
    // While it is away: one packet to its room, one to it alone.
    await ask(other, 'tell', 'red', 'to red while away');
    await ask(other, 'tell', id, 'to you while away');
    await back;

    assert.equal(sock.id, id, 'same socket id');
    assert.equal(sock.recovered, true);
    assert.deepEqual(await ask(sock, 'rooms'), [['red']], 'still in its room');
    await until(() => news.length >= 2, 'the missed packets');
    assert.deepEqual(
      news.map((args) => args.slice(0, -1)),
      [['to red while away'], ['to you while away']],
    );
    assert.ok(news.every((args) => typeof args.at(-1) === 'string'), 'each with its offset last');

    // A room broadcast after the reconnect reaches it too.
    const later = once(sock, 'news');
    await ask(other, 'tell', 'red', 'after');
    assert.deepEqual((await later).slice(0, -1), ['after']);
  });

  it('runs onOpen again for the recovered connection, with this.recovered === true', async () => {
    const { url, opens, closes } = await start();
    const sock = await connect(url, reconnecting(50));
    const id = sock.id!;
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    await back;
    assert.equal(sock.recovered, true);
    assert.deepEqual(opens, [
      { id, recovered: false },
      { id, recovered: true },
    ]);
  });

  it('gives a new id, no rooms and nothing missed when sessionExpiry is 0', async () => {
    const { url, opens, closes } = await start({ sessionExpiry: 0 });
    const sock = await connect(url, reconnecting(50));
    const other = await connect(url);
    await ask(sock, 'enter', 'red');
    const id = sock.id!;
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    await ask(other, 'tell', 'red', 'lost');
    await back;
    assert.notEqual(sock.id, id);
    assert.ok(!sock.recovered, 'not recovered'); // socket.io-client leaves it undefined when the server offers no recovery
    assert.deepEqual(await ask(sock, 'rooms'), [[]]);
    await expectNoEvent(sock, 'news');
    assert.deepEqual(
      opens.map((o) => o.recovered),
      [false, false, false],
    );
  });

  it('gives a new id and replays nothing once sessionExpiry has passed', async () => {
    const { url, closes } = await start({ sessionExpiry: 0.3 });
    const sock = await connect(url, reconnecting(600));
    const other = await connect(url);
    await ask(sock, 'enter', 'red');
    const id = sock.id!;
    const back = once(sock, 'connect', 3000);
    await drop(sock, closes, id);
    await ask(other, 'tell', 'red', 'too late');
    await ask(other, 'tell', id, 'too late for you');
    const replayed = expectNoEvent(sock, 'news', 800);
    await back;
    assert.notEqual(sock.id, id);
    assert.ok(!sock.recovered, 'not recovered'); // socket.io-client leaves it undefined when the server offers no recovery
    assert.deepEqual(await ask(sock, 'rooms'), [[]]);
    await replayed;
  });

  it('does not recover a client that disconnected on purpose', async () => {
    const { url, closes } = await start();
    const sock = await connect(url, reconnecting(50));
    const id = sock.id!;
    sock.disconnect();
    await until(() => closes.some((c) => c.id === id), 'the server to notice the disconnect');
    assert.equal(closes[0]!.reason, 'client namespace disconnect');
    const back = once(sock, 'connect');
    sock.connect();
    await back;
    assert.notEqual(sock.id, id);
    assert.ok(!sock.recovered, 'not recovered'); // socket.io-client leaves it undefined when the server offers no recovery
  });

  it('replays a missed event with binary attachments, byte for byte', async () => {
    const { url, closes } = await start();
    const sock = await connect(url, reconnecting(250));
    const other = await connect(url);
    const id = sock.id!;
    const news: unknown[][] = [];
    sock.on('news', (...args: unknown[]) => news.push(args));
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    await ask(other, 'tell', id, Buffer.from([0, 1, 2, 255]));
    await ask(other, 'tell', id, 'and text');
    await back;
    assert.equal(sock.recovered, true);
    await until(() => news.length >= 2, 'the missed packets');
    assert.deepEqual(Buffer.from(news[0]![0] as ArrayBuffer), Buffer.from([0, 1, 2, 255]));
    assert.equal(news[1]![0], 'and text');
  });

  it('gives a fresh session, not a partial replay, when what it missed no longer fits in maxLoggedBytes', async () => {
    const recovery = { maxDisconnectionDuration: 30_000, skipMiddlewares: false, maxLoggedBytes: 1000 };
    const { url, closes } = await start({ sessionExpiry: undefined, connectionStateRecovery: recovery });
    const sock = await connect(url, reconnecting(250));
    const other = await connect(url);
    const id = sock.id!;
    const news: unknown[] = [];
    sock.on('news', (text: unknown) => news.push(text));
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    // Each logged event costs its encoded size plus 64: ten of 200 characters cannot all stay.
    for (let i = 0; i < 10; i++) await ask(other, 'tell', id, String(i).repeat(200));
    await back;
    assert.notEqual(sock.id, id, 'a new id');
    assert.ok(!sock.recovered, 'not recovered');
    await ask(sock, 'rooms');
    assert.deepEqual(news, [], 'nothing replayed');
  });

  it('still recovers under maxLoggedBytes when what it missed is kept', async () => {
    const recovery = { maxDisconnectionDuration: 30_000, skipMiddlewares: false, maxLoggedBytes: 1000 };
    const { url, closes } = await start({ sessionExpiry: undefined, connectionStateRecovery: recovery });
    const sock = await connect(url, reconnecting(250));
    const other = await connect(url);
    // Traffic before the drop pushes old packets out; that must not matter.
    for (let i = 0; i < 10; i++) await ask(other, 'tell', other.id!, String(i).repeat(200));
    const id = sock.id!;
    const news: unknown[] = [];
    sock.on('news', (text: unknown) => news.push(text));
    const back = once(sock, 'connect', 2000);
    await drop(sock, closes, id);
    await ask(other, 'tell', id, 'short');
    await back;
    assert.equal(sock.id, id);
    assert.equal(sock.recovered, true);
    await until(() => news.length >= 1, 'the missed packet');
    assert.deepEqual(news, ['short']);
  });

  it('replays what reaches its rooms while an async onOpen runs on the way back', async () => {
    const closes: string[] = [];
    let slow = false;
    class Slow extends SocketConnection {
      override async onOpen() {
        if (slow) await new Promise((resolve) => setTimeout(resolve, 150));
      }
      override onClose() {
        closes.push(this.id);
      }
      @event enter(room: string) {
        this.join(room);
      }
      @event tell(room: string, text: string) {
        this.to(room).emit('news', text);
      }
    }
    const { url } = await startTornadio(Slow);
    const sock = await connect(url, reconnecting(50));
    const other = await connect(url);
    await ask(sock, 'enter', 'red');
    const id = sock.id!;
    const news: unknown[] = [];
    sock.on('news', (text: unknown) => news.push(text));
    slow = true;
    sock.io.engine.close();
    await until(() => closes.includes(id), 'the server to notice the drop');
    await ask(other, 'tell', 'red', 'while away');
    // Wait for the reconnect to be under way (its onOpen sleeping), then send more.
    await new Promise((resolve) => setTimeout(resolve, 120));
    await ask(other, 'tell', 'red', 'while opening');
    await once(sock, 'connect', 3000);
    assert.equal(sock.recovered, true);
    await ask(other, 'tell', 'red', 'after');
    await until(() => news.length >= 3, 'every news');
    assert.deepEqual(news.slice(0, 3), ['while away', 'while opening', 'after']);
  });

  it('rejects a bad maxLoggedBytes, naming it', () => {
    for (const maxLoggedBytes of [-1, 1.5, '1000']) {
      assert.throws(() => new RealtimeServer({ connectionStateRecovery: { maxLoggedBytes } as never }), /maxLoggedBytes/);
    }
  });
});

describe('RecoveryLog', () => {
  const target = (...rooms: string[]) => ({ rooms: new Set(rooms), except: new Set<string>() });
  const save = (log: RecoveryLog, sid: string, rooms: string[] = [], since = log.head, lastSent = since) =>
    log.save({ sid, pid: `pid-${sid}`, rooms, data: null, since, lastSent });
  /** What a restored session is replayed when admitted now: its id's and rooms' events after its offset. */
  const missedOf = (log: RecoveryLog, restored: ReturnType<RecoveryLog['restore']>) =>
    restored && log.replay(restored.after, new Set([restored.sid, ...restored.rooms])).missed;

  it('keeps the messages as sent and replays those after the offset that reach the socket', () => {
    const log = new RecoveryLog(60_000);
    save(log, 'A', ['red']);
    const first = log.next();
    log.keep(log.head, 'A', `42["x","${first}"]`);
    log.next();
    log.keep(log.head, target('blue'), '42["not for A"]');
    const third = log.next();
    const binary = [`451-["bin",{"_placeholder":true,"num":0},"${third}"]`, Buffer.from([7])];
    log.keep(log.head, target('red'), binary);
    log.next();
    log.keep(log.head, target(), '42["to all"]');
    assert.deepEqual(missedOf(log, log.restore('pid-A', first)), [binary[0], binary[1], '42["to all"]']);
    assert.equal(log.restore('pid-A', first), undefined, 'only once');
    log.close();
  });

  it('counts UTF-8 size plus 48 per packet, and drops the oldest past maxLoggedBytes', () => {
    const log = new RecoveryLog(60_000, 300);
    save(log, 'A');
    const offsets: string[] = [];
    for (let i = 0; i < 5; i++) {
      offsets.push(log.next());
      // 52 bytes in UTF-8: 50 ASCII and one two-byte character.
      log.keep(log.head, 'A', 'x'.repeat(50) + 'é');
    }
    assert.deepEqual(log.size, { packets: 3, bytes: 300, buffers: 256 * 1024 });
    assert.equal(log.restore('pid-A', offsets[0]), undefined, 'packet 2 is gone: no partial replay');
    save(log, 'B');
    log.next();
    log.keep(log.head, 'B', 'y');
    assert.deepEqual(missedOf(log, log.restore('pid-B', undefined)), ['y']);
    log.close();
  });

  it('recovers a socket whose own packets are all kept, however much traffic to others was dropped', () => {
    const log = new RecoveryLog(60_000, 300);
    const since = log.head;
    const mine = log.next();
    log.keep(log.head, 'A', 'm'.repeat(52));
    for (let i = 0; i < 5; i++) {
      log.next();
      log.keep(log.head, 'B', 'x'.repeat(52));
    }
    // A got its packet (its offset says so), then dropped; packets to B pushed A's out of the log.
    save(log, 'A', [], since, 1);
    log.next();
    log.keep(log.head, 'A', 'while away');
    assert.deepEqual(missedOf(log, log.restore('pid-A', mine)), ['while away']);
    // The same, but the client never got its packet: it cannot be replayed any more.
    save(log, 'A', [], since, 1);
    assert.equal(log.restore('pid-A', undefined), undefined);
    log.close();
  });

  it('replays exactly what a plain list would, across chunks, long texts, binary, drops, index growth and shrinking', () => {
    // A seeded generator, so a failure can be replayed.
    let state = 42;
    const random = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const log = new RecoveryLog(60_000, 2 * 1024 * 1024);
    const kept: Array<{ seq: number; to: string; wire: string | [string, Buffer]; size: number }> = [];
    let bytes = 0;
    save(log, 'A', ['red']);
    const since = log.head;
    for (let n = 0; n < 30_000; n++) {
      const offset = log.next();
      const to = random() < 0.5 ? 'A' : random() < 0.5 ? 'red' : 'B';
      const roll = random();
      // From 20,000 on, a run of 15.6 KB texts pushes out every small one: the index then shrinks.
      const long = roll < 0.12 || (n >= 20_000 && n < 20_200);
      const text = `42["e",${n},"${roll < 0.1 ? 'ü€'.repeat(20) : long ? 'long'.repeat(n >= 20_000 && n < 20_200 ? 3900 : 5000) : 'x'.repeat(Math.floor(random() * 200))}","${offset}"]`;
      const wire: string | [string, Buffer] = roll > 0.99 ? [text, Buffer.from([n % 256, 1, 2])] : text;
      const size = 48 + (typeof wire === 'string' ? Buffer.byteLength(wire) : Buffer.byteLength(wire[0]) + 3);
      log.keep(log.head, to === 'red' ? target('red') : to, wire);
      kept.push({ seq: log.head, to, wire, size });
      bytes += size;
      while (bytes > 2 * 1024 * 1024) bytes -= kept.shift()!.size;
    }
    assert.deepEqual([log.size.packets, log.size.bytes], [kept.length, bytes]);
    // The text of the events dropped has left too: at most one chunk past what the bytes need, and a spare.
    assert.ok(log.size.buffers <= 2 * 1024 * 1024 + 2 * 256 * 1024, `buffers ${log.size.buffers}`);
    const after = kept[0]!.seq - 1;
    const { missed, complete } = log.replay(after, new Set(['A', 'red']));
    assert.equal(complete, true);
    assert.deepEqual(missed, kept.filter((k) => k.to !== 'B').flatMap((k) => (typeof k.wire === 'string' ? [k.wire] : k.wire)));
    assert.equal(log.replay(since, new Set(['A'])).complete, false, 'some were dropped since');
    log.close();
    assert.deepEqual(log.size, { packets: 0, bytes: 0, buffers: 0 });
  });

  it('keeps an event at least maxDisconnectionDuration, and drops it within two sweeps after that', (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
    const log = new RecoveryLog(10_000); // sweeps every 5 s
    log.next();
    log.keep(log.head, 'A', 'first');
    t.mock.timers.tick(4_999);
    log.next();
    log.keep(log.head, 'A', 'second'); // stamped with the sweep clock: as if sent 4.999 s earlier
    t.mock.timers.tick(10_001); // 15 s after the first, 10.001 s after the second
    assert.equal(log.size.packets, 2, 'both kept: neither is surely older than 10 s by its stamp');
    t.mock.timers.tick(5_000);
    assert.equal(log.size.packets, 0, 'both gone 20 s after the first');
    log.close();
  });

  it('keeps an empty message, first or after a chunk filled exactly', () => {
    const log = new RecoveryLog(60_000);
    save(log, 'A');
    const since = log.head;
    // 16 texts of 16 KiB (the longest kept in chunks) fill a 256 KiB chunk exactly.
    const sent = ['', ...Array.from({ length: 16 }, (_, i) => String(i % 10).repeat(16 * 1024)), ''];
    for (const wire of sent) {
      log.next();
      log.keep(log.head, 'A', wire);
    }
    assert.deepEqual(log.replay(since, new Set(['A'])).missed, sent);
    log.close();
  });

  it('replays in offset order an event kept after one sent from inside its send', () => {
    const log = new RecoveryLog(60_000);
    save(log, 'A');
    const since = log.head;
    const outer = log.next();
    const inner = log.next();
    // The inner event (a broadcast from a disconnect handler the outer write caused) is kept first.
    log.keep(log.head, target(), `42["inner","${inner}"]`);
    log.keep(log.head - 1, 'A', `42["outer","${outer}"]`);
    const { missed, last } = log.replay(since, new Set(['A']));
    assert.deepEqual(missed, [`42["outer","${outer}"]`, `42["inner","${inner}"]`]);
    assert.equal(last, log.head);
    log.close();
  });

  it('releases the text of dropped events when nothing is kept (maxLoggedBytes 0, or all expired)', () => {
    const log = new RecoveryLog(120_000, 0);
    const text = '42["tick",' + '1'.repeat(90) + ',"x"]';
    for (let n = 0; n < 30_000; n++) {
      log.next();
      log.keep(log.head, 'sid', text);
    }
    assert.deepEqual(log.size, { packets: 0, bytes: 0, buffers: 256 * 1024 });
    log.close();
  });

  it('keeps recovering across an offset that was never kept (an event that failed to encode)', () => {
    const log = new RecoveryLog(60_000);
    save(log, 'A');
    log.next(); // never kept
    log.next();
    log.keep(log.head, 'A', 'second');
    assert.deepEqual(missedOf(log, log.restore('pid-A', undefined)), ['second']);
    log.close();
  });

  it('ignores an offset from another log or from the future', () => {
    const log = new RecoveryLog(60_000);
    save(log, 'A');
    const offset = log.next();
    log.keep(log.head, 'A', 'one');
    const future = offset.replace(/[0-9a-z]+$/, 'zz');
    assert.deepEqual(missedOf(log, log.restore('pid-A', future)), ['one']);
    save(log, 'A');
    assert.deepEqual(missedOf(log, log.restore('pid-A', 'elsewhere-1')), [], 'saved after the packet: nothing missed');
    log.close();
  });
});
