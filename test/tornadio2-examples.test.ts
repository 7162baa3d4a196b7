/**
 * TornadIO2's examples (mrjoes/tornadio2 `examples/`: ackping, rpcping, multiplexed, stats)
 * ported to TypeScript and driven by the stock socket.io-client, as a user porting them would.
 * They keep the router's defaults, so recovery is on and every event the client receives carries
 * its offset last (`dropOffset`).
 */
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Manager } from 'socket.io-client';
import { SocketConnection, event, type ConnectionInfo, type SocketRouter, type StatsSnapshot } from 'mojo-ts';
import { ask, collect, connect, connected, dropOffset, once, startTornadio, track, withTimeout, type ClientSocket } from './support/tornadio.ts';

/** `[hour, minute, second, millisecond]`, as the examples answer with a server time. */
function now(): [number, number, number, number] {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
}

function assertTime(value: unknown): void {
  assert.ok(Array.isArray(value) && value.length === 4 && value.every((n) => Number.isInteger(n)), `a server time, got ${JSON.stringify(value)}`);
}

describe('TornadIO2 examples', () => {
  it('ackping: the value an @event returns comes back as the ack of the client’s emit', async () => {
    class PingConnection extends SocketConnection {
      // TornadIO2 returned a tuple (several ack arguments); one value, an array, carries both here.
      @event ping(client: number) {
        return [client, now()];
      }
    }
    const { url } = await startTornadio(PingConnection);
    const sock = await connect(url);
    const [reply] = (await ask(sock, 'ping', 17)) as [[number, unknown]];
    assert.equal(reply[0], 17);
    assertTime(reply[1]);
  });

  it('rpcping: @event ping(client, text) answers with emit("pong", client, time)', async () => {
    const texts: string[] = [];
    class PingConnection extends SocketConnection {
      @event ping(client: number, text: string) {
        texts.push(text);
        this.emit('pong', client, now());
      }
    }
    const { url } = await startTornadio(PingConnection);
    const sock = await connect(url);
    const pongs = collect(sock, 'pong', 2);
    sock.emit('ping', 1, 'first');
    sock.emit('ping', 2, 'second');
    const [[client1, time1], [client2, time2]] = (await pongs).map(dropOffset);
    assert.deepEqual([client1, client2], [1, 2]);
    assertTime(time1);
    assertTime(time2);
    assert.deepEqual(texts, ['first', 'second']);
  });

  it('multiplexed: /chat broadcasts between two users, /ping echoes a JSON message with a server time', async () => {
    const routerOpens: string[] = [];
    class ChatConnection extends SocketConnection {
      static participants = new Set<ChatConnection>();
      static uniqueId = 0;
      userName = '';

      override onOpen() {
        this.userName = `User${++ChatConnection.uniqueId}`;
        ChatConnection.participants.add(this);
        this.broadcastAll(`${this.userName} joined chat.`);
      }
      override onMessage(message: unknown) {
        this.broadcastAll(`${this.userName}: ${String(message)}`);
      }
      override onClose() {
        ChatConnection.participants.delete(this);
        this.broadcastAll(`${this.userName} left chat.`);
      }
      private broadcastAll(message: string) {
        for (const participant of ChatConnection.participants) participant.send(message);
      }
    }
    class PingConnection extends SocketConnection {
      override onMessage(message: unknown) {
        this.send({ ...(message as object), server: now() });
      }
    }
    class RouterConnection extends SocketConnection {
      static override endpoints = { '/chat': ChatConnection, '/ping': PingConnection };
      override onOpen(info: ConnectionInfo) {
        routerOpens.push(info.path);
      }
    }
    const { url } = await startTornadio(RouterConnection);
    const user = (): { chat: ClientSocket; ping: ClientSocket } => {
      const manager = new Manager(url, { reconnection: false });
      return { chat: track(manager.socket('/chat')), ping: track(manager.socket('/ping')) };
    };

    const one = user();
    const oneHears: string[] = [];
    one.chat.on('message', (...args: unknown[]) => oneHears.push(dropOffset(args)[0] as string));
    await connected(one.chat);

    const two = user();
    const twoSees = collect(two.chat, 'message', 2);
    await connected(two.chat);
    const oneSees = collect(one.chat, 'message', 1);
    one.chat.send('hello');
    assert.deepEqual((await twoSees).map((args) => dropOffset(args)[0]), ['User2 joined chat.', 'User1: hello']);
    await oneSees;

    await connected(two.ping);
    const echo = once(two.ping, 'message');
    two.ping.send({ client: 'two', n: 1 });
    const [message] = dropOffset(await echo) as [{ client: string; n: number; server: unknown }];
    assert.equal(message.client, 'two');
    assert.equal(message.n, 1);
    assertTime(message.server);

    const left = collect(one.chat, 'message', 1);
    two.chat.disconnect();
    await left;
    assert.deepEqual(oneHears, ['User1 joined chat.', 'User2 joined chat.', 'User1: hello', 'User2 left chat.']);
    assert.deepEqual(routerOpens, [], 'the root endpoint is only opened by clients that connect to it');
  });

  it('stats: an @event returns the router’s stats.dump(), also served as JSON at statsPath', async () => {
    let router!: SocketRouter; // what TornadIO2 reached as self.session.server
    class PingConnection extends SocketConnection {
      @event('ping') ping(client: number) {
        return [client, now()];
      }
      @event('stats') stats() {
        return router.stats.dump();
      }
    }
    const app: RequestListener = (_req, res) => res.end('index page');
    const started = await startTornadio(PingConnection, { enabledProtocols: ['websocket', 'xhr-polling'], statsPath: '/stats' }, app);
    router = started.router;

    const a = await connect(started.url);
    const b = await connect(started.url);
    for (let i = 0; i < 5; i++) await ask(a, 'ping', i);
    b.disconnect();
    await withTimeout(
      (async () => {
        while (router.stats.dump().activeConnections !== 1) await delay(5);
      })(),
      'the server to see b leave',
    );
    // The per-second rates are sampled once a second.
    await delay(1100);

    const [viaEvent] = (await ask(a, 'stats')) as [StatsSnapshot];
    const res = await fetch(`${started.url}/stats`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const viaHttp = (await res.json()) as StatsSnapshot;

    for (const stats of [viaEvent, viaHttp]) {
      assert.equal(stats.activeSessions, 1);
      assert.equal(stats.maxSessions, 2);
      assert.equal(stats.activeConnections, 1);
      assert.equal(stats.maxConnections, 2);
      assert.ok(stats.packetsSentPerSecond > 0, `packetsSentPerSecond ${stats.packetsSentPerSecond}`);
      assert.ok(stats.packetsReceivedPerSecond > 0, `packetsReceivedPerSecond ${stats.packetsReceivedPerSecond}`);
      assert.ok(stats.connectionsPerSecond > 0, `connectionsPerSecond ${stats.connectionsPerSecond}`);
      assert.equal(typeof stats.startTime, 'number');
    }
    // The app still answers everything else.
    assert.equal(await (await fetch(`${started.url}/`)).text(), 'index page');
  });
});
