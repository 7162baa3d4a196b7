import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Socket } from '../framework/index.ts';
import { RealtimeServer } from '../framework/realtime/index.ts';
import { collect, connectPair, emitWithReply, once, startServer, withTimeout } from './support/realtime.ts';

/** Bytes 0, 1, 2, … (mod 256), `length` of them. */
const bytes = (length: number, start = 0) => Buffer.from(Array.from({ length }, (_, i) => (start + i) % 256));

/** The raw bytes of any binary value, for comparing what was sent with what arrived. */
function raw(value: ArrayBuffer | ArrayBufferView): Buffer {
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** What arrives from a binary value: a Buffer holding exactly its bytes (both ends run in node). */
function assertBytes(actual: unknown, sent: ArrayBuffer | ArrayBufferView, what: string): void {
  assert.ok(Buffer.isBuffer(actual), `${what} arrives as a Buffer, got ${Object.prototype.toString.call(actual)}`);
  assert.deepEqual([...actual], [...raw(sent)], `${what}: the same bytes`);
}

/** Every binary kind a user may send, with a name for the messages. */
function samples(): Array<[string, ArrayBuffer | ArrayBufferView]> {
  const backing = bytes(64);
  return [
    ['Buffer', bytes(16)],
    ['empty Buffer', Buffer.alloc(0)],
    ['ArrayBuffer', new Uint8Array([1, 2, 3, 250]).buffer],
    ['Uint8Array', new Uint8Array([9, 8, 7])],
    ['Int16Array', new Int16Array([-1, 2, 30_000])],
    ['Uint32Array', new Uint32Array([0xdeadbeef, 1])],
    ['Float64Array', new Float64Array([Math.PI, -0.5])],
    ['DataView', new DataView(new Uint8Array([4, 5, 6, 7]).buffer, 1, 2)],
    ['Buffer slice of a larger buffer', backing.subarray(10, 20)],
    ['Uint8Array view with an offset', new Uint8Array(backing.buffer, backing.byteOffset + 30, 5)],
  ];
}

for (const transport of ['websocket', 'polling'] as const) {
  describe(`binary over ${transport}`, () => {
    const options = { transports: [transport] };

    it('carries every binary kind from client to server as Buffers', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      const all = samples();
      const got = collect(socket, 'bin', all.length);
      for (const [name, value] of all) client.emit('bin', name, value);
      for (const [i, [name, value]] of (await got).entries()) {
        assert.equal(name, all[i]![0]);
        assertBytes(value, all[i]![1], name);
      }
    });

    it('carries every binary kind from server to client as Buffers', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      const all = samples();
      const got = collect(client, 'bin', all.length);
      for (const [name, value] of all) socket.emit('bin', name, value);
      for (const [i, [name, value]] of (await got).entries()) {
        assert.equal(name, all[i]![0]);
        assertBytes(value, all[i]![1], name);
      }
    });

    it('keeps binary nested in objects and arrays, several attachments in one event, both ways', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      const payload = () => ({
        name: 'upload',
        files: [
          { id: 1, body: bytes(10) },
          { id: 2, body: new Uint8Array([200, 201]), meta: { thumb: bytes(3, 100), tags: ['a', 'b'] } },
        ],
        checksum: new Uint16Array([513]),
        empty: [],
        nothing: null,
      });
      const expected = {
        name: 'upload',
        files: [
          { id: 1, body: bytes(10) },
          { id: 2, body: Buffer.from([200, 201]), meta: { thumb: bytes(3, 100), tags: ['a', 'b'] } },
        ],
        checksum: Buffer.from([1, 2]),
        empty: [],
        nothing: null,
      };

      const atServer = once(socket, 'nested');
      client.emit('nested', payload(), [bytes(1), 'text', [bytes(2, 50)]], 42);
      assert.deepEqual(await atServer, [expected, [bytes(1), 'text', [bytes(2, 50)]], 42]);

      const atClient = once(client, 'nested');
      socket.emit('nested', payload(), [bytes(1), 'text', [bytes(2, 50)]], 42);
      assert.deepEqual(await atClient, [expected, [bytes(1), 'text', [bytes(2, 50)]], 42]);
    });

    it('carries a large binary payload intact', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      const big = bytes(300_000, 7);
      const atServer = once<[Buffer]>(socket, 'big');
      client.emit('big', big);
      const [received] = await atServer;
      assert.ok(received.equals(big));
      const atClient = once<[Buffer]>(client, 'big');
      socket.emit('big', received);
      assert.ok((await atClient)[0].equals(big));
    });

    it('acknowledges with binary from server to client', async () => {
      const server = await startServer();
      server.io.on('connection', (s: Socket) =>
        s.on('hash', (data: Buffer, ack: (...reply: unknown[]) => void) => ack(Buffer.from([data.length]), { echo: data, parts: [bytes(2), bytes(3)] })),
      );
      const { client } = await connectPair(server, options);
      const [length, rest] = await emitWithReply(client, 'hash', bytes(5));
      assert.deepEqual(length, Buffer.from([5]));
      assert.deepEqual(rest, { echo: bytes(5), parts: [bytes(2), bytes(3)] });
    });

    it('acknowledges with binary from client to server', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      client.on('sign', (data: Buffer, ack: (...reply: unknown[]) => void) => ack(Buffer.concat([data, Buffer.from([255])]), new Uint8Array([1])));
      const reply = await withTimeout(
        new Promise<unknown[]>((resolve) => socket.emit('sign', bytes(3), (...args: unknown[]) => resolve(args))),
        'the client ack',
      );
      assert.deepEqual(reply, [Buffer.from([0, 1, 2, 255]), Buffer.from([1])]);
      assert.deepEqual(await socket.emitWithAck('sign', Buffer.from([9])), Buffer.from([9, 255]));
    });

    it('interleaves binary and text events without mixing them up', async () => {
      const server = await startServer();
      const { client, socket } = await connectPair(server, options);
      const got = collect(socket, 'mixed', 6);
      for (let i = 0; i < 6; i++) client.emit('mixed', i, i % 2 ? bytes(i) : `text ${i}`);
      assert.deepEqual(await got, [
        [0, 'text 0'],
        [1, bytes(1)],
        [2, 'text 2'],
        [3, bytes(3)],
        [4, 'text 4'],
        [5, bytes(5)],
      ]);
    });

    it('broadcasts binary to every client of a room', async () => {
      const server = await startServer();
      const a = await connectPair(server, options);
      const b = await connectPair(server, { transports: [transport === 'polling' ? 'websocket' : 'polling'] });
      a.socket.join('r');
      b.socket.join('r');
      const atA = once(a.client, 'frame');
      const atB = once(b.client, 'frame');
      server.io.to('r').emit('frame', { seq: 1, data: bytes(8) }, new Float32Array([1.5]));
      const expected = [{ seq: 1, data: bytes(8) }, raw(new Float32Array([1.5]))];
      assert.deepEqual(await atA, expected);
      assert.deepEqual(await atB, expected);
    });

    it('refuses a maxAttachments the decoder could not count to', () => {
      for (const maxAttachments of [2 ** 60, -1, 1.5]) assert.throws(() => new RealtimeServer({ maxAttachments }), /maxAttachments/);
    });

    it('closes the connection of a client that sends more attachments than maxAttachments', async () => {
      const server = await startServer({ maxAttachments: 2 });
      const { client, socket } = await connectPair(server, options);
      const ok = once(socket, 'files');
      client.emit('files', bytes(1), bytes(2));
      assert.equal((await ok).length, 2, 'two attachments are within the limit');

      const closed = once<[string]>(socket, 'disconnect');
      const clientSide = once<[string]>(client, 'disconnect');
      client.emit('files', bytes(1), bytes(2), bytes(3));
      assert.deepEqual(await closed, ['parse error']);
      await clientSide;
      assert.equal(client.connected, false);
    });
  });
}
