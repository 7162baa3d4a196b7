import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RealtimeError, type Socket } from '../framework/index.ts';
import { connected, connectPair, emitWithReply, expectNoEvent, once, startServer, track, withTimeout } from './support/realtime.ts';

const ACK = 3; // Socket.IO packet type of an acknowledgement

type Ack = (...reply: unknown[]) => void;

function assertRealtimeError(err: unknown, code: string): asserts err is RealtimeError {
  assert.ok(err instanceof RealtimeError, `expected a RealtimeError, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.ok(err.message.startsWith(`${code}: `), err.message);
}

describe('acknowledgements', () => {
  describe('client to server', () => {
    it('hands the listener an ack function as its last argument; the reply reaches the client', async () => {
      const server = await startServer();
      let lastArg: unknown;
      server.io.on('connection', (socket) =>
        socket.on('add', (a: number, b: number, ack: Ack) => {
          lastArg = ack;
          ack(a + b, { a, b }, 'done');
        }),
      );
      const { client } = await connectPair(server);
      assert.deepEqual(await emitWithReply(client, 'add', 2, 3), [5, { a: 2, b: 3 }, 'done']);
      assert.equal(typeof lastArg, 'function');
      assert.equal(await client.emitWithAck('add', 10, 20), 30);
    });

    it('passes no function when the client does not ask for an ack', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      const got = once(socket, 'fire');
      client.emit('fire', 1, 'two');
      assert.deepEqual(await got, [1, 'two']);
    });

    it('acknowledges with no arguments', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) => socket.on('ping?', (ack: Ack) => ack()));
      const { client } = await connectPair(server);
      assert.deepEqual(await emitWithReply(client, 'ping?'), []);
    });

    it('sends the acknowledgement once even if the ack function is called twice', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) =>
        socket.on('twice', (ack: Ack) => {
          ack('first');
          ack('second');
          setImmediate(() => ack('third'));
        }),
      );
      const { client } = await connectPair(server);
      const acks: unknown[] = [];
      client.io.on('packet', (packet: { type: number; data?: unknown }) => {
        if (packet.type === ACK) acks.push(packet.data);
      });
      assert.deepEqual(await emitWithReply(client, 'twice'), ['first']);
      await expectNoEvent(client.io, 'packet', 100);
      assert.deepEqual(acks, [['first']]);
    });

    it('keeps replies apart when several acks are pending at once', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) =>
        socket.on('slow', (n: number, ack: Ack) => {
          // Answer in reverse order of arrival.
          setTimeout(() => ack(n * 10), (5 - n) * 5);
        }),
      );
      const { client } = await connectPair(server);
      const replies = await Promise.all([1, 2, 3, 4].map((n) => emitWithReply(client, 'slow', n)));
      assert.deepEqual(replies, [[10], [20], [30], [40]]);
    });

    it('ignores an ack the client sends for nothing it was asked, and stays connected', async () => {
      const server = await startServer();
      server.io.on('connection', (socket) => socket.on('echo', (v: unknown, ack: Ack) => ack(v)));
      const { client, socket } = await connectPair(server);
      // A raw ACK packet with an id the server never issued: `3` (ack) `99` (id) then the data.
      client.io.engine.send('399["unasked"]');
      assert.deepEqual(await emitWithReply(client, 'echo', 'still here'), ['still here']);
      assert.equal(socket.connected, true);
    });

    it('lets a handler call its ack after the client left, without throwing', async () => {
      const server = await startServer();
      let ack: Ack | undefined;
      const { client, socket } = await connectPair(server);
      const received = once(socket, 'later');
      socket.on('later', (reply: Ack) => (ack = reply));
      client.emit('later', () => assert.fail('the client must not get an ack after leaving'));
      await received;
      const gone = once(socket, 'disconnect');
      client.disconnect();
      await gone;
      assert.doesNotThrow(() => ack!('too late'));
    });
  });

  describe('server to client', () => {
    it('calls the emit callback with the client reply', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      client.on('question', (text: string, cb: Ack) => cb(`answer to ${text}`, 42));
      const reply = await withTimeout(
        new Promise<unknown[]>((resolve) => socket.emit('question', 'life', (...args: unknown[]) => resolve(args))),
        'the client ack',
      );
      assert.deepEqual(reply, ['answer to life', 42]);
    });

    it('resolves emitWithAck with the first argument of the reply', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      client.on('sum', (a: number, b: number, cb: Ack) => cb(a + b, 'ignored'));
      assert.equal(await withTimeout(socket.emitWithAck('sum', 4, 5), 'emitWithAck'), 9);
    });

    it('numbers concurrent acks so each callback gets its own reply', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      client.on('double', (n: number, cb: Ack) => setTimeout(() => cb(n * 2), (5 - n) * 5));
      const replies = await withTimeout(Promise.all([1, 2, 3, 4].map((n) => socket.emitWithAck('double', n))), 'four acks');
      assert.deepEqual(replies, [2, 4, 6, 8]);
    });

    it('gives the callback null then the reply when the client answers within the timeout', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      client.on('ready?', (cb: Ack) => cb('yes'));
      const reply = await withTimeout(
        new Promise<unknown[]>((resolve) => socket.timeout(1000).emit('ready?', (...args: unknown[]) => resolve(args))),
        'the timed ack',
      );
      assert.deepEqual(reply, [null, 'yes']);
      assert.equal(await socket.timeout(1000).emitWithAck('ready?'), 'yes');
    });

    it('fails with ERR_ACK_TIMEOUT when the client never acknowledges', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      const seen = once(client, 'ignored');
      client.on('ignored', () => {}); // receives the event, never calls the ack
      const started = Date.now();
      const args = await withTimeout(
        new Promise<unknown[]>((resolve) => socket.timeout(50).emit('ignored', 'x', (...a: unknown[]) => resolve(a))),
        'the timeout',
      );
      assert.ok(Date.now() - started >= 45, 'not before the timeout');
      assert.equal(args.length, 1);
      assertRealtimeError(args[0], 'ERR_ACK_TIMEOUT');
      await seen;
      await assert.rejects(socket.timeout(30).emitWithAck('ignored'), (err) => {
        assertRealtimeError(err, 'ERR_ACK_TIMEOUT');
        return true;
      });
      assert.equal(socket.connected, true, 'a missing ack does not disconnect');
    });

    it('ignores an ack that arrives after the timeout fired', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      // The client answers late, then emits 'after': the server sees 'after' once it has handled that ACK.
      client.on('late-acked', (cb: Ack) =>
        setTimeout(() => {
          cb('too late');
          client.emit('after');
        }, 80),
      );
      const after = once(socket, 'after');
      const calls: unknown[][] = [];
      const first = new Promise<void>((resolve) =>
        socket.timeout(20).emit('late-acked', (...args: unknown[]) => {
          calls.push(args);
          resolve();
        }),
      );
      await withTimeout(first, 'the timeout');
      await after;
      assert.equal(calls.length, 1);
      assertRealtimeError(calls[0]![0], 'ERR_ACK_TIMEOUT');
    });

    it('fails a pending ack with ERR_NOT_CONNECTED when the client disconnects', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      client.on('wait', () => client.disconnect()); // leaves instead of answering
      const started = Date.now();
      const args = await withTimeout(
        new Promise<unknown[]>((resolve) => socket.timeout(2000).emit('wait', (...a: unknown[]) => resolve(a))),
        'the ack failure',
      );
      assert.ok(Date.now() - started < 1500, 'it fails at the disconnect, not at the timeout');
      assertRealtimeError(args[0], 'ERR_NOT_CONNECTED');
      assert.match((args[0] as Error).message, /client namespace disconnect/);
    });

    it('fails at once with ERR_NOT_CONNECTED when emitting on a disconnected socket', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server);
      const gone = once(socket, 'disconnect');
      client.disconnect();
      await gone;
      assert.equal(socket.emit('anything'), false);
      await assert.rejects(socket.timeout(1000).emitWithAck('anything'), (err) => {
        assertRealtimeError(err, 'ERR_NOT_CONNECTED');
        return true;
      });
    });
  });

  it('keeps ack ids of different namespaces of one connection apart', async () => {
    const server = await startServer();
    const answer = (label: string) => (socket: Socket) => socket.on('who', (ack: Ack) => ack(label));
    server.io.on('connection', answer('main'));
    server.io.of('/other').on('connection', answer('other'));
    const { client } = await connectPair(server);
    const other = client.io.socket('/other');
    track(other);
    await connected(other);
    const replies = await Promise.all([emitWithReply(client, 'who'), emitWithReply(other, 'who'), emitWithReply(client, 'who')]);
    assert.deepEqual(replies, [['main'], ['other'], ['main']]);
  });
});
