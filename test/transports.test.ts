import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { EngineServer, type Socket } from '../framework/index.ts';
import { RawPolling, RawWebSocket, http } from './support/raw-client.ts';
import { collect, connect, connected, connectPair, emitWithReply, once, startServer, waitFor, type ClientSocket, type TestServer } from './support/realtime.ts';

const require = createRequire(import.meta.url);
const clientDist = join(dirname(require.resolve('socket.io-client/package.json')), 'dist');

/** Echoes `echo` with an ack and lets the test ask the server to emit. */
function echo(socket: Socket): void {
  socket.on('echo', (value: unknown, ack: (reply: unknown) => void) => ack(value));
  socket.on('push', (value: unknown) => socket.emit('pushed', value));
}

/**
 * Holds the HTTP upgrade requests (websocket probes) of `server` until `release()`, so a client
 * stays on polling for as long as the test needs and the upgrade happens when the test says.
 */
function holdUpgrades(server: TestServer): { release(): void } {
  const http = server.http;
  const listeners = http.listeners('upgrade') as Array<(...args: unknown[]) => void>;
  http.removeAllListeners('upgrade');
  const held: unknown[][] = [];
  let released = false;
  const run = (args: unknown[]) => {
    for (const listener of listeners) listener.apply(http, args);
  };
  http.on('upgrade', (...args: unknown[]) => (released ? run(args) : held.push(args)));
  return {
    release() {
      released = true;
      for (const args of held.splice(0)) run(args);
    },
  };
}

async function assertTwoWayTraffic(client: ClientSocket): Promise<void> {
  assert.deepEqual(await emitWithReply(client, 'echo', { hello: 'world', n: 1 }), [{ hello: 'world', n: 1 }]);
  const pushed = once(client, 'pushed');
  client.emit('push', 'from the server');
  assert.deepEqual(await pushed, ['from the server']);
}

describe('transports', () => {
  it('works over long-polling only', async () => {
    const server = await startServer();
    server.io.on('connection', echo);
    const { client, socket } = await connectPair(server, { transports: ['polling'] });

    assert.equal(client.io.engine.transport.name, 'polling');
    assert.equal(socket.conn.transport.name, 'polling');
    await assertTwoWayTraffic(client);
    // Several round trips later it still polls.
    for (let i = 0; i < 5; i++) assert.deepEqual(await emitWithReply(client, 'echo', i), [i]);
    assert.equal(socket.conn.transport.name, 'polling');
  });

  it('works over websocket only', async () => {
    const server = await startServer();
    server.io.on('connection', echo);
    const { client, socket } = await connectPair(server, { transports: ['websocket'] });

    assert.equal(client.io.engine.transport.name, 'websocket');
    assert.equal(socket.conn.transport.name, 'websocket');
    assert.equal(socket.handshake.query.transport, 'websocket');
    await assertTwoWayTraffic(client);
  });

  it('refuses a transport the server does not offer', async () => {
    const server = await startServer({ transports: ['websocket'] });
    const client = connect(server.url, { transports: ['polling'] });
    await assert.rejects(connected(client), /xhr poll error/);
    assert.equal(server.io.engine.clientsCount, 0);
  });

  it('does not upgrade when the server allows polling only', async () => {
    const server = await startServer({ transports: ['polling'] });
    server.io.on('connection', echo);
    const { client, socket } = await connectPair(server);
    // The handshake offered no upgrade, so none is attempted; traffic keeps flowing over polling.
    await assertTwoWayTraffic(client);
    assert.equal(client.io.engine.transport.name, 'polling');
    assert.equal(socket.conn.transport.name, 'polling');
  });

  it('stays on polling when upgrades are turned off', async () => {
    const server = await startServer({ allowUpgrades: false });
    server.io.on('connection', echo);
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.deepEqual(JSON.parse((await res.text()).slice(1)).upgrades, [], 'the handshake offers no upgrade');
    const { client, socket } = await connectPair(server);
    await assertTwoWayTraffic(client);
    assert.equal(client.io.engine.transport.name, 'polling');
    assert.equal(socket.conn.transport.name, 'polling');
  });

  it('upgrades from polling to websocket without losing or reordering messages', async () => {
    const server = await startServer();
    const gate = holdUpgrades(server);
    const AFTER = 20;
    const fromClient: number[] = [];
    let serverSent = 0;
    let serverSentOverPolling = 0;

    server.io.on('connection', (socket) => {
      socket.on('c', (n: number) => fromClient.push(n));
      // Asked to, the server streams on a 1 ms timer until AFTER messages past the upgrade.
      socket.on('start', () => {
        let left = AFTER;
        const timer = setInterval(() => {
          if (!socket.connected) return clearInterval(timer);
          if (socket.conn.transport.name === 'polling') serverSentOverPolling++;
          else if (--left < 0) {
            clearInterval(timer);
            socket.emit('s-done', serverSent);
            return;
          }
          socket.emit('s', serverSent++);
        }, 1);
      });
    });

    const client = await connected(connect(server.url));
    const engine = client.io.engine;
    assert.equal(engine.transport.name, 'polling', 'the websocket probe is held back, so the session polls');
    const received: number[] = [];
    client.on('s', (n: number) => received.push(n));
    const serverDone = once<[number]>(client, 's-done');
    const upgraded = once(engine, 'upgrade');
    client.emit('start');

    // The client streams too, from its side, until AFTER messages past the upgrade.
    let clientSent = 0;
    let clientSentOverPolling = 0;
    const clientDone = new Promise<void>((resolve) => {
      let left = AFTER;
      const timer = setInterval(() => {
        if (engine.transport.name === 'polling') clientSentOverPolling++;
        else if (--left < 0) {
          clearInterval(timer);
          resolve();
          return;
        }
        client.emit('c', clientSent++);
      }, 1);
    });
    // Let some traffic cross over polling both ways, then let the upgrade through mid-stream.
    await waitFor(() => received.length >= 5 && fromClient.length >= 5, 'traffic over polling');
    gate.release();
    await upgraded;
    await clientDone;
    const [total] = await serverDone;

    assert.equal(engine.transport.name, 'websocket');
    assert.equal(server.io.sockets.sockets.get(client.id!)!.conn.transport.name, 'websocket');
    assert.ok(serverSentOverPolling > 0 && clientSentOverPolling > 0, 'both sides sent while still polling');
    assert.deepEqual(received, Array.from({ length: total }, (_, i) => i), 'server → client: all messages, in order');
    await waitFor(() => fromClient.length >= clientSent, `${clientSent} client messages (got ${fromClient.length})`);
    assert.deepEqual(fromClient, Array.from({ length: clientSent }, (_, i) => i), 'client → server: all messages, in order');
    assert.equal(server.io.engine.clientsCount, 1, 'the upgrade kept the same session');
  });

  it('delivers a burst emitted by both sides while the upgrade is in progress', async () => {
    const server = await startServer();
    const gate = holdUpgrades(server);
    const BURST = 50;
    const serverGot: number[] = [];
    server.io.on('connection', (socket) => socket.on('c', (n: number) => serverGot.push(n)));
    const { client, socket } = await connectPair(server);
    const engine = client.io.engine;
    assert.equal(engine.transport.name, 'polling');
    const received = collect<[number]>(client, 's', BURST);
    const upgrading = once(engine, 'upgrading');
    const upgraded = once(engine, 'upgrade');

    // Server side: release() hands the held probe to the server, which accepts it at once; the
    // burst goes out while polling is still the transport and the probe is under way.
    gate.release();
    assert.equal(socket.conn.transport.name, 'polling');
    for (let i = 0; i < BURST; i++) socket.emit('s', i);
    // Client side: the probe was answered and polling is being paused.
    await upgrading;
    assert.equal(engine.transport.name, 'polling');
    for (let i = 0; i < BURST; i++) client.emit('c', i);
    await upgraded;

    assert.deepEqual((await received).map(([n]) => n), Array.from({ length: BURST }, (_, i) => i));
    await waitFor(() => serverGot.length >= BURST, `${BURST} client messages (got ${serverGot.length})`);
    assert.deepEqual(serverGot, Array.from({ length: BURST }, (_, i) => i));
    assert.equal(engine.transport.name, 'websocket');
    assert.equal(socket.conn.transport.name, 'websocket');
  });

  describe('long polls held with nothing to send', () => {
    it("wait in the server's one queue, which an answer and a dropped request both leave", async () => {
      const server = await startServer({ maxPollDuration: 60_000 });
      const held = server.io.engine.heldPolls!;
      const session = await RawPolling.open(`${server.url}/socket.io/`);

      const first = session.get();
      await waitFor(() => held.length === 1, 'the GET to be held');
      // Joining the main namespace: its CONNECT reply answers the held GET.
      assert.equal((await session.post('40')).body, 'ok');
      assert.match((await first).body, /^40\{"sid":"/);
      assert.equal(held.length, 0, 'an answered GET leaves the queue');

      const second = session.get();
      second.catch(() => {});
      await waitFor(() => held.length === 1, 'the next GET to be held');
      session.abort();
      await waitFor(() => server.io.engine.clientsCount === 0, 'the session to end with its GET');
      assert.equal(held.length, 0, 'a GET that went away leaves the queue');
    });

    it('keep no answered response alive until maxPollDuration', async () => {
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const server = await startServer({ maxPollDuration: 60_000 });
      const held = server.io.engine.heldPolls!;
      const answered: WeakRef<object>[] = [];
      server.http.prependListener('request', (req, res) => {
        if (req.url?.includes('sid=')) answered.push(new WeakRef(res));
      });
      const session = await RawPolling.open(`${server.url}/socket.io/`);
      for (let i = 0; i < 3; i++) {
        const poll = session.get();
        await waitFor(() => held.length === 1, 'the GET to be held');
        server.io.engine.clients.get(session.sid)!.send(`hi ${i}`);
        assert.equal((await poll).body, `4hi ${i}`);
      }
      assert.equal(answered.length, 3);
      await waitFor(() => {
        gc();
        return answered.every((ref) => ref.deref() === undefined);
      }, 'the answered responses to be collected');
    });

    it('are answered with the close packet when the server closes, leaving the queue empty', async () => {
      const server = await startServer({ maxPollDuration: 60_000 });
      const held = server.io.engine.heldPolls!;
      const session = await RawPolling.open(`${server.url}/socket.io/`);
      const poll = session.get();
      await waitFor(() => held.length === 1, 'the GET to be held');
      server.io.close();
      assert.equal((await poll).body, '1');
      assert.equal(held.length, 0);
    });

    it('are answered with a noop after maxPollDuration, and the next one waits its full time again', async () => {
      const server = await startServer({ maxPollDuration: 50 });
      const held = server.io.engine.heldPolls!;
      const session = await RawPolling.open(`${server.url}/socket.io/`);
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        assert.equal((await session.get()).body, '6');
        assert.ok(Date.now() - started >= 45, `held about 50 ms, not ${Date.now() - started}`);
        assert.equal(held.length, 0);
      }
    });

    it('are held without a deadline with maxPollDuration: 0', async () => {
      const server = await startServer({ maxPollDuration: 0 });
      assert.equal(server.io.engine.heldPolls, null);
    });
  });

  describe('a closed engine', () => {
    it('starts no session from a request or an upgrade a host still hands it', async (t) => {
      const engine = new EngineServer();
      engine.close();
      const host = createServer((req, res) => engine.handleRequest(req, res));
      host.on('upgrade', (req, socket, head) => engine.handleUpgrade(req, socket, head));
      await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
      t.after(() => {
        host.closeAllConnections();
        host.close();
      });
      const base = `127.0.0.1:${(host.address() as AddressInfo).port}/engine.io/?EIO=4`;
      assert.equal((await http(`http://${base}&transport=polling`)).status, 400);
      assert.equal((await RawWebSocket.refused(`ws://${base}&transport=websocket`)).status, 400);
      assert.equal(engine.clientsCount, 0);
      assert.equal(engine.heartbeats.pings.length, 0);
    });
  });

  describe('handshake', () => {
    it('exposes the query, headers, address and auth of the connection', async () => {
      const server = await startServer();
      const before = Date.now();
      const { socket } = await connectPair(server, {
        transports: ['polling'],
        query: { room: 'lobby', lang: 'fr' },
        extraHeaders: { 'x-tenant': 'acme' },
        auth: { token: 's3cret', user: { id: 7 } },
      });

      const h = socket.handshake;
      assert.equal(h.query.room, 'lobby');
      assert.equal(h.query.lang, 'fr');
      assert.equal(h.query.EIO, '4');
      assert.equal(h.query.transport, 'polling');
      assert.equal(h.headers['x-tenant'], 'acme');
      assert.equal(h.headers.host, `127.0.0.1:${server.port}`);
      assert.match(h.address, /127\.0\.0\.1$/);
      assert.deepEqual(h.auth, { token: 's3cret', user: { id: 7 } });
      assert.equal(h.secure, false);
      assert.match(h.url, /^\/socket\.io\/\?/);
      assert.match(h.url, /room=lobby/);
      assert.ok(h.issued >= before - 1 && h.issued <= Date.now(), 'issued is the connection time');
      assert.equal(h.time, new Date(h.issued).toString());
    });

    it('exposes the same fields over websocket', async () => {
      const server = await startServer();
      const { socket } = await connectPair(server, {
        transports: ['websocket'],
        query: { room: 'lobby' },
        extraHeaders: { 'x-tenant': 'acme' },
      });
      const h = socket.handshake;
      assert.equal(h.query.room, 'lobby');
      assert.equal(h.query.transport, 'websocket');
      assert.equal(h.headers['x-tenant'], 'acme');
      assert.equal(h.headers.upgrade, 'websocket');
      assert.match(h.address, /127\.0\.0\.1$/);
      assert.deepEqual(h.auth, {}, 'no auth option: an empty object');
    });

    it('keeps no headers when keepHeaders is false', async () => {
      const server = await startServer({ keepHeaders: false });
      const { socket } = await connectPair(server, { extraHeaders: { 'x-tenant': 'acme' } });
      assert.deepEqual({ ...socket.handshake.headers }, {});
    });
  });

  describe('client bundle', () => {
    for (const [file, type] of [
      ['socket.io.js', /^application\/javascript/],
      ['socket.io.min.js', /^application\/javascript/],
      ['socket.io.esm.min.js', /^application\/javascript/],
      ['socket.io.js.map', /^application\/json/],
      ['socket.io.min.js.map', /^application\/json/],
    ] as const) {
      it(`serves /socket.io/${file} with an ETag and answers 304 when it matches`, async () => {
        const server = await startServer();
        const res = await fetch(`${server.url}/socket.io/${file}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', type);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(readFileSync(join(clientDist, file))), 'the body is the installed client file');
        const etag = res.headers.get('etag');
        assert.ok(etag, 'an ETag is sent');

        const again = await fetch(`${server.url}/socket.io/${file}`, { headers: { 'If-None-Match': etag } });
        assert.equal(again.status, 304);
        assert.equal(again.headers.get('etag'), etag);
        assert.equal((await again.arrayBuffer()).byteLength, 0);

        const stale = await fetch(`${server.url}/socket.io/${file}`, { headers: { 'If-None-Match': '"something-else"' } });
        assert.equal(stale.status, 200);
        await stale.arrayBuffer();
      });
    }

    it('answers HEAD with the headers and no body', async () => {
      const server = await startServer();
      const res = await fetch(`${server.url}/socket.io/socket.io.min.js`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/javascript/);
      assert.equal(Number(res.headers.get('content-length')), readFileSync(join(clientDist, 'socket.io.min.js')).length);
    });

    it('does not serve files that are not client bundles', async () => {
      const server = await startServer();
      const res = await fetch(`${server.url}/socket.io/package.json`);
      assert.notEqual(res.status, 200);
      await res.arrayBuffer();
    });

    it('serves nothing with serveClient: false, and realtime still works', async () => {
      const server = await startServer({ serveClient: false });
      server.io.on('connection', echo);
      for (const file of ['socket.io.js', 'socket.io.min.js', 'socket.io.js.map']) {
        const res = await fetch(`${server.url}/socket.io/${file}`);
        assert.notEqual(res.status, 200, `${file} is not served`);
        assert.doesNotMatch(res.headers.get('content-type') ?? '', /javascript/);
        await res.arrayBuffer();
      }
      const { client } = await connectPair(server);
      await assertTwoWayTraffic(client);
    });
  });
});
