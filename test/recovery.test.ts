/**
 * Reconnects (`sessionExpiry`): a client whose transport drops and that comes back in time gets
 * its socket id, its rooms and the packets it missed (Socket.IO connection state recovery, which
 * socket.io-client 4.6+ asks for). The router turns it on by default (30 s).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SocketConnection, event, type DisconnectReason, type RouterSettings } from 'mojo-ts';
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
});
