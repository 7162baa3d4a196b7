import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Manager } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { setLogSink, type LogSink, type Socket } from '../framework/index.ts';
import {
  connect,
  connected,
  connectPair,
  emitWithReply,
  once,
  startServer,
  track,
  waitFor,
  type ClientSocket,
  type ClientOptions,
} from './support/realtime.ts';

type Ack = (...reply: unknown[]) => void;

/** The parts of engine.io-client's socket the tests reach into to make a client misbehave. */
interface EngineInternals {
  _sendPacket(type: string, ...rest: unknown[]): void;
  transport: { name: string; ws?: WebSocket & { _socket: import('node:net').Socket }; pause(onPause: () => void): void };
}

const engineOf = (client: ClientSocket) => client.io.engine as unknown as EngineInternals;

/** Makes the client stop answering pings, as a frozen tab or a dead network would. */
function stopAnsweringPings(client: ClientSocket): void {
  const engine = engineOf(client);
  const send = engine._sendPacket.bind(engine);
  engine._sendPacket = (type, ...rest) => {
    if (type !== 'pong') send(type, ...rest);
  };
}

/** Captures the framework's log lines for the duration of `run`. */
async function withLogs<T>(run: (lines: Array<{ level: string; message: string; extra: unknown[] }>) => Promise<T>): Promise<T> {
  const lines: Array<{ level: string; message: string; extra: unknown[] }> = [];
  const sink: LogSink = (level, _scope, message, extra) => lines.push({ level, message, extra });
  const previous = setLogSink(sink);
  try {
    return await run(lines);
  } finally {
    setLogSink(previous);
  }
}

/** Both ends' disconnect reasons (a test may leave one unawaited; its timeout is then ignored). */
function reasons(pair: { client: ClientSocket; socket: Socket }) {
  const server = once<[string]>(pair.socket, 'disconnect').then(([reason]) => reason);
  const client = once<[string]>(pair.client, 'disconnect').then(([reason]) => reason);
  server.catch(() => {});
  client.catch(() => {});
  return { server, client };
}

for (const transport of ['websocket', 'polling'] as const) {
  const options: ClientOptions = { transports: [transport] };

  describe(`disconnect reasons over ${transport}`, () => {
    it('client socket.disconnect(): "client namespace disconnect" / "io client disconnect"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      pair.client.disconnect();
      assert.equal(await why.server, 'client namespace disconnect');
      assert.equal(await why.client, 'io client disconnect');
      assert.equal(pair.socket.connected, false);
      assert.equal(server.io.sockets.sockets.size, 0);
    });

    it('server socket.disconnect(): "server namespace disconnect" / "io server disconnect"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      pair.socket.disconnect();
      assert.equal(await why.server, 'server namespace disconnect');
      assert.equal(await why.client, 'io server disconnect');
    });

    it('server socket.disconnect(true): "forced server close", and the whole connection closes', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      const engineClosed = once(pair.client.io, 'close');
      pair.socket.disconnect(true);
      assert.equal(await why.server, 'forced server close');
      await why.client;
      await engineClosed;
      await waitFor(() => server.io.engine.clientsCount === 0, 'the session to end');
    });

    it('client closes its engine: "transport close"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      pair.client.io.engine.close();
      assert.equal(await why.server, 'transport close');
      assert.equal(await why.client, 'forced close');
    });

    it('a client that stops answering pings: "ping timeout"', async () => {
      // pingTimeout leaves a loaded machine time to pong (a polling pong is a whole POST; 250 ms
      // was once too short while connecting); the silent client goes within 40 + 1,000 ms.
      const server = await startServer({ pingInterval: 40, pingTimeout: 1000 });
      const pair = await connectPair(server, options);
      // It answers pings for a while: the heartbeat keeps a healthy client connected.
      await once(pair.client.io, 'ping');
      await once(pair.client.io, 'ping');
      assert.equal(pair.socket.connected, true);

      const why = reasons(pair);
      stopAnsweringPings(pair.client);
      const started = Date.now();
      assert.equal(await why.server, 'ping timeout');
      assert.ok(Date.now() - started < 3000, 'dropped after about pingInterval + pingTimeout, not after the default 45 s');
    });

    it('io.close(): "server shutting down"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      server.io.close();
      assert.equal(await why.server, 'server shutting down');
      // Over polling the client may learn it from its next poll failing rather than a close packet.
      assert.ok(['transport close', 'transport error'].includes(await why.client), 'the client sees its transport go');
      assert.equal(server.io.engine.clientsCount, 0);
    });

    it('a throwing event handler: "handler error" for its connection only; another client carries on', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) => {
        socket.on('boom', () => {
          throw new Error('handler bug');
        });
        socket.on('echo', (v: unknown, ack: Ack) => ack(v));
      });
      const victim = await connectPair(server, options);
      const bystander = await connectPair(server, options);

      await withLogs(async (lines) => {
        const why = reasons(victim);
        victim.client.emit('boom');
        assert.equal(await why.server, 'handler error');
        await why.client;
        const logged = lines.find((l) => l.level === 'error');
        assert.ok(logged, 'the error is logged');
        assert.ok(logged.extra.some((e) => e instanceof Error && e.message === 'handler bug'), 'with the thrown error');
      });

      assert.equal(bystander.socket.connected, true);
      assert.deepEqual(await emitWithReply(bystander.client, 'echo', 'still fine'), ['still fine']);
    });

    it('a rejected async handler: "handler error"', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) =>
        socket.on('boom', async () => {
          await Promise.resolve();
          throw new Error('async handler bug');
        }),
      );
      const pair = await connectPair(server, options);
      await withLogs(async () => {
        const why = reasons(pair);
        pair.client.emit('boom');
        assert.equal(await why.server, 'handler error');
      });
    });

    it('a packet that does not parse: "parse error"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      pair.client.io.engine.send('2["unterminated"'); // an EVENT whose JSON is cut short
      assert.equal(await why.server, 'parse error');
      await why.client;
    });

    it('the server closes the Engine.IO session: "forced close"', async () => {
      const server = await startServer();
      const pair = await connectPair(server, options);
      const why = reasons(pair);
      pair.socket.conn.close();
      assert.equal(await why.server, 'forced close');
      assert.equal(await why.client, 'transport close');
    });
  });
}

describe('disconnect', () => {
  it('a message over maxPayload on websocket: "transport error"', async () => {
    const server = await startServer({ maxPayload: 1000 });
    const pair = await connectPair(server, { transports: ['websocket'] });
    const why = reasons(pair);
    pair.client.emit('big', 'x'.repeat(5000));
    assert.equal(await why.server, 'transport error');
  });

  it('a polling body over maxPayload: "transport error"', async () => {
    const server = await startServer({ maxPayload: 1000 });
    const pair = await connectPair(server, { transports: ['polling'] });
    const why = reasons(pair);
    pair.client.emit('big', 'x'.repeat(5000));
    assert.equal(await why.server, 'transport error');
  });

  it('fires "disconnecting" while the socket is still in its rooms, then "disconnect"', async () => {
    const server = await startServer();
    const pair = await connectPair(server);
    pair.socket.join('room');
    const events: Array<[string, string, string[]]> = [];
    pair.socket.on('disconnecting', (reason: string) => events.push(['disconnecting', reason, [...pair.socket.rooms]]));
    pair.socket.on('disconnect', (reason: string) => events.push(['disconnect', reason, [...pair.socket.rooms]]));
    const done = once(pair.socket, 'disconnect');
    pair.client.disconnect();
    await done;
    assert.deepEqual(events, [
      ['disconnecting', 'client namespace disconnect', [pair.socket.id, 'room']],
      ['disconnect', 'client namespace disconnect', [pair.socket.id]],
    ]);
  });

  it('a client kicked with disconnect(true) is told "io server disconnect" and does not reconnect', async () => {
    const server = await startServer();
    const pair = await connectPair(server, { reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 20 });
    const clientWhy = once<[string]>(pair.client, 'disconnect');
    pair.socket.disconnect(true);
    const [reason] = await clientWhy;
    const reconnects = await once(pair.client.io, 'reconnect_attempt', 150).then(
      () => true,
      () => false,
    );
    // socket.io sends DISCONNECT to every namespace before closing, so the client knows it was
    // kicked and stays away; after a bare transport close it reconnects at once.
    assert.deepEqual({ reason, reconnects }, { reason: 'io server disconnect', reconnects: false });
  });

  it('io.close() disconnects a polling client caught between two polls at once', async () => {
    const server = await startServer();
    const pair = await connectPair(server, { transports: ['polling'] });
    const why = reasons(pair);
    // The emit answers the client's pending GET; until the client polls again the server holds
    // no request of it. Closing right then must still end the session now.
    pair.socket.emit('bye');
    await new Promise<void>((resolve) => setImmediate(resolve));
    server.io.close();
    assert.equal(pair.socket.connected, false, 'disconnected by close() itself');
    assert.equal(await why.server, 'server shutting down');
    assert.equal(server.io.engine.clientsCount, 0);
    // Its next poll finds no session: the client learns it is over.
    assert.equal(await why.client, 'transport error');
  });

  it('a client that does not read its polling output: "buffer overflow"', async () => {
    const server = await startServer({ maxBufferedBytes: 10_000 });
    const pair = await connectPair(server, { transports: ['polling'] });
    const why = reasons(pair);
    // Pause the client's polling: it lets its pending GET finish (the server's 'flush' answers
    // it) and then sends no more, so the server's output piles up.
    const paused = new Promise<void>((resolve) => engineOf(pair.client).transport.pause(resolve));
    pair.socket.emit('flush');
    await paused;
    pair.socket.emit('small', 'x'.repeat(1000));
    assert.equal(pair.socket.connected, true, 'below maxBufferedBytes nothing happens');
    pair.socket.emit('big', 'x'.repeat(20_000));
    assert.equal(await why.server, 'buffer overflow');
    assert.equal(server.io.engine.clientsCount, 0);
  });

  it('a websocket client that does not read: "buffer overflow"', async () => {
    const server = await startServer({ maxBufferedBytes: 64 * 1024 });
    const pair = await connectPair(server, { transports: ['websocket'] });
    const why = reasons(pair);
    // Stop reading the TCP socket; the kernel buffers fill, then ws queues in memory.
    engineOf(pair.client).transport.ws!._socket.pause();
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 2000 && pair.socket.connected; i++) {
      pair.socket.emit('flood', chunk);
      if (i % 50 === 49) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    assert.equal(await why.server, 'buffer overflow');
  });

  it('closes a connection that joins no namespace within connectTimeout', async () => {
    const server = await startServer({ connectTimeout: 100 });
    // A manager opens the Engine.IO session but no socket ever asks to join a namespace.
    const manager = new Manager(server.url, { forceNew: true, reconnection: false, autoConnect: false });
    track(manager.socket('/'));
    const closed = once<[string]>(manager, 'close');
    const started = Date.now();
    manager.open();
    await waitFor(() => server.io.engine.clientsCount === 1, 'the session to open');
    await closed;
    assert.ok(Date.now() - started >= 90, 'not before connectTimeout');
    assert.equal(server.io.engine.clientsCount, 0);
  });

  describe('reconnection', () => {
    for (const transport of ['websocket', 'polling'] as const) {
      it(`reconnects over ${transport} with a new socket id after the transport is killed, and can emit again`, async () => {
        const server = await startServer();
        const arrivals: Socket[] = [];
        server.io.on('connection', (socket) => {
          arrivals.push(socket);
          socket.on('echo', (v: unknown, ack: Ack) => ack(v));
        });
        const first = await connectPair(server, { transports: [transport], reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 20 });
        const firstId = first.client.id;
        assert.deepEqual(await emitWithReply(first.client, 'echo', 1), [1]);

        const why = reasons(first);
        const reconnected = once<[number]>(first.client.io, 'reconnect');
        const connectedAgain = once(first.client, 'connect');
        // Kill the transport from the server side, without any goodbye.
        const conn = first.socket.conn;
        if (conn.transport.name === 'websocket') conn.transport.terminate();
        else conn.end('transport close');
        assert.equal(await why.server, 'transport close');
        // Polling learns it from a failed poll ("transport error"), websocket from the close.
        assert.equal(await why.client, transport === 'websocket' ? 'transport close' : 'transport error');

        await reconnected;
        await connectedAgain;
        assert.notEqual(first.client.id, firstId, 'a new socket id');
        assert.equal(arrivals.length, 2);
        assert.equal(arrivals[1]!.id, first.client.id);
        assert.equal(arrivals[0]!.connected, false);
        assert.deepEqual(await emitWithReply(first.client, 'echo', 2), [2]);
        assert.equal(server.io.engine.clientsCount, 1);
      });
    }
  });
});
