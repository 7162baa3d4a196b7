/**
 * Our websockets read a chunk that is one whole data frame themselves instead of through ws's
 * Receiver stream (`readWholeFramesFirst` in framework/engine/transports/websocket.ts). These
 * tests hold that shortcut to ws's own reading: the same messages and the same errors for any
 * frames cut into any chunks, and over a real server the same answers to frames ws refuses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Socket as NetSocket } from 'node:net';
import * as wsModule from 'ws';
import { readWholeFramesFirst, type SessionWebSocket } from '../framework/engine/transports/websocket.ts';
import { RawWebSocket, within } from './support/raw-client.ts';
import { startServer, type TestServer } from './support/realtime.ts';
import { frame } from './support/ws-frame.ts';

interface ReceiverLike {
  write(chunk: Buffer): boolean;
  on(event: string, listener: (...args: any[]) => void): unknown;
}
type ReceiverClass = new (options: Record<string, unknown>) => ReceiverLike;
// ws exports its frame reader at run time; its type definitions do not declare it.
const Receiver = (wsModule as unknown as { Receiver: ReceiverClass }).Receiver;

/** A small deterministic generator (mulberry32), so a failing case can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const text = (s: string) => Buffer.from(s, 'utf8');

/** Feeds `chunks` (each copied: both readers unmask in place) to a receiver; what it emitted. */
async function readAll(chunks: readonly Buffer[], maxPayload: number, shortcut: boolean, options: Record<string, unknown> = {}): Promise<string[]> {
  const receiver = new Receiver({ isServer: true, maxPayload, allowSynchronousEvents: true, binaryType: 'nodebuffer', ...options });
  if (shortcut) assert.equal(readWholeFramesFirst(receiver), true, 'the shortcut is installed on a ws Receiver');
  const seen: string[] = [];
  let failed = false;
  receiver.on('message', (data: Buffer, isBinary: boolean) => seen.push(`message ${isBinary ? 'binary' : 'text'} ${data.toString('hex')}`));
  receiver.on('ping', (data: Buffer) => seen.push(`ping ${data.toString('hex')}`));
  receiver.on('pong', (data: Buffer) => seen.push(`pong ${data.toString('hex')}`));
  receiver.on('conclude', (code: number, reason: Buffer) => seen.push(`conclude ${code} ${reason.toString('hex')}`));
  receiver.on('error', (err: Error & { code?: string }) => {
    failed = true;
    seen.push(`error ${err.code} ${err.message}`);
  });
  for (const chunk of chunks) {
    // As ws does after an error: its socket listener is gone, nothing more is read.
    if (failed) break;
    receiver.write(Buffer.from(chunk));
    await new Promise((resolve) => setImmediate(resolve));
  }
  // And the reader's state at the end, as far as the next frame depends on it.
  const state = receiver as unknown as Record<string, unknown>;
  seen.push(`state ${['_state', '_opcode', '_fin', '_fragmented', '_bufferedBytes', '_totalPayloadLength', '_loop', '_errored'].map((key) => String(state[key])).join(' ')}`);
  return seen;
}

/** A random frame: mostly whole valid data frames, sometimes everything ws must refuse. */
function randomFrames(random: () => number, maxPayload: number): Buffer[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const randomBytes = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
  const length = () => pick([0, 1, 2, 3, 4, 5, 7, 9, 60, 125, 126, 127, 300, maxPayload, maxPayload + 1]);
  const utf8 = (n: number) => {
    const parts = ['a', 'é', '€', '😀', '{', '"'];
    let s = '';
    while (Buffer.byteLength(s) < n) s += pick(parts);
    return text(s);
  };
  const mask = () => (random() < 0.1 ? [0, 0, 0, 0] : [...randomBytes(4)]);
  const frames: Buffer[] = [];
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count; i++) {
    const kind = random();
    const lengthBits = random() < 0.1 ? pick([16, 64] as const) : undefined;
    if (kind < 0.35) frames.push(frame({ opcode: 1, payload: utf8(length()), mask: mask(), lengthBits }));
    else if (kind < 0.5) frames.push(frame({ opcode: 2, payload: randomBytes(length()), mask: mask(), lengthBits }));
    else if (kind < 0.58) frames.push(frame({ opcode: 1, payload: Buffer.concat([utf8(3), Buffer.from([pick([0xff, 0xc3, 0xe2, 0x80])])]), mask: mask() }));
    else if (kind < 0.68) {
      // A fragmented message, sometimes with a ping between its fragments.
      const opcode = pick([1, 2]);
      frames.push(frame({ opcode, payload: utf8(pick([1, 5, 130])), fin: false, mask: mask() }));
      if (random() < 0.5) frames.push(frame({ opcode: 9, payload: randomBytes(3), mask: mask() }));
      frames.push(frame({ opcode: 0, payload: utf8(pick([0, 2, 7])), fin: random() < 0.8, mask: mask() }));
    } else if (kind < 0.74) frames.push(frame({ opcode: pick([9, 10]), payload: randomBytes(pick([0, 4, 125, 126])), mask: mask() }));
    else if (kind < 0.78) frames.push(frame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), utf8(pick([0, 4]))]), mask: mask() }));
    else if (kind < 0.82) frames.push(frame({ opcode: pick([1, 2]), payload: utf8(length()), mask: null }));
    else if (kind < 0.86) frames.push(frame({ opcode: pick([1, 2]), payload: utf8(5), rsv: pick([1, 2, 4]), mask: mask() }));
    else if (kind < 0.9) frames.push(frame({ opcode: pick([0, 3, 7, 11]), payload: utf8(2), mask: mask() }));
    else frames.push(frame({ opcode: 1, payload: utf8(length()), mask: mask() }));
  }
  return frames;
}

/** `frames` as chunks: each frame alone, all in one, or cut at random places. */
function cut(random: () => number, frames: readonly Buffer[]): Buffer[] {
  const way = random();
  if (way < 0.05) return [Buffer.alloc(0), ...frames];
  if (way < 0.5) return [...frames];
  const all = Buffer.concat(frames);
  if (way < 0.65) return [all];
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const size = 1 + Math.floor(random() * Math.min(all.length - at, 40));
    chunks.push(all.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe('whole frames read without ws Receiver stream', () => {
  it('emits what ws emits, message for message and error for error, for 3,000 random frame sequences', async () => {
    const maxPayload = 200;
    const random = generator(20261204);
    let shortcutMessages = 0;
    for (let run = 0; run < 3000; run++) {
      const chunks = cut(random, randomFrames(random, maxPayload));
      // Now and then with ws's cap on chunks held (0, the default, is no cap).
      const options = { maxBufferedChunks: random() < 0.1 ? 1 : 0 };
      const expected = await readAll(chunks, maxPayload, false, options);
      const actual = await readAll(chunks, maxPayload, true, options);
      assert.deepEqual(actual, expected, `run ${run}: chunks ${chunks.map((c) => c.toString('hex')).join(' | ')}`);
      shortcutMessages += expected.filter((line) => line.startsWith('message')).length;
    }
    // The comparison is only worth something if it covered many messages of each kind.
    assert.ok(shortcutMessages > 2000, `${shortcutMessages} messages compared`);
  });

  it('unmasks every payload length correctly (the mask repeats every 4 bytes)', async () => {
    for (let length = 0; length <= 140; length++) {
      const payload = Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) % 256));
      const seen = await readAll([frame({ opcode: 2, payload, mask: [0x9a, 0x01, 0xff, 0x5c] })], 0, true);
      assert.deepEqual(seen.slice(0, -1), [`message binary ${payload.toString('hex')}`], `length ${length}`);
    }
  });

  it('leaves a chunk that only looks like a whole frame to ws when ws holds the start of one', async () => {
    // A binary frame of one byte, cut after its first byte. The rest, read alone, would pass for
    // an empty masked text frame (0x81 0x80 and four mask bytes).
    const chunks = [Buffer.from([0x82]), Buffer.from([0x81, 0x80, 0x01, 0x02, 0x03, 0x04])];
    const expected = await readAll(chunks, 0, false);
    assert.equal(expected[0], `message binary ${(0x04 ^ 0x80).toString(16)}`);
    assert.deepEqual(await readAll(chunks, 0, true), expected);
  });

  it('leaves a chunk that only looks like a whole frame to ws when ws has read a header and waits for the rest', async () => {
    // A binary frame of five bytes cut after its 2-byte header: ws has nothing buffered, but waits
    // for the mask. The rest, read alone, would pass for a masked text frame of three bytes.
    const chunks = [Buffer.from([0x82, 0x85]), Buffer.from([0x81, 0x83, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64, 0x65])];
    const expected = await readAll(chunks, 0, false);
    assert.equal(expected.length, 2);
    assert.match(expected[0]!, /^message binary /);
    assert.deepEqual(await readAll(chunks, 0, true), expected);
  });

  it('leaves a chunk to ws when ws holds an empty chunk (its cap on chunks held counts it)', async () => {
    const chunks = [Buffer.alloc(0), frame({ opcode: 1, payload: text('hi') })];
    const expected = await readAll(chunks, 0, false, { maxBufferedChunks: 1 });
    assert.match(expected[0]!, /^error WS_ERR_TOO_MANY_BUFFERED_PARTS/);
    assert.deepEqual(await readAll(chunks, 0, true, { maxBufferedChunks: 1 }), expected);
  });

  it('emits an empty message as a Buffer of its own, not a view keeping the chunk alive', async () => {
    const receiver = new Receiver({ isServer: true, maxPayload: 0, allowSynchronousEvents: true, binaryType: 'nodebuffer' });
    assert.equal(readWholeFramesFirst(receiver), true);
    const got: Buffer[] = [];
    receiver.on('message', (data: Buffer) => got.push(data));
    const chunk = Buffer.concat([frame({ opcode: 2, payload: Buffer.alloc(0) }), Buffer.alloc(1000)]).subarray(0, 6);
    receiver.write(chunk);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.length, 0);
    assert.notEqual(got[0]!.buffer, chunk.buffer);
  });

  it('leaves frames to ws when ws emits them later, as another type, or reads as a client', async () => {
    const whole = frame({ opcode: 2, payload: Buffer.from([1, 2, 3]) });
    // allowSynchronousEvents: false: ws emits on a later turn, not inside write().
    const deferred = new Receiver({ isServer: true, maxPayload: 0, allowSynchronousEvents: false, binaryType: 'nodebuffer' });
    assert.equal(readWholeFramesFirst(deferred), true);
    let emitted = 0;
    deferred.on('message', () => emitted++);
    deferred.write(Buffer.from(whole));
    assert.equal(emitted, 0, 'not emitted inside write()');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(emitted, 1);
    // binaryType 'arraybuffer': ws emits an ArrayBuffer.
    const arrays = new Receiver({ isServer: true, maxPayload: 0, allowSynchronousEvents: true, binaryType: 'arraybuffer' });
    assert.equal(readWholeFramesFirst(arrays), true);
    const got: unknown[] = [];
    arrays.on('message', (data: unknown) => got.push(data));
    arrays.write(Buffer.from(whole));
    assert.ok(got[0] instanceof ArrayBuffer, 'an ArrayBuffer, as ws gives');
    // A client's reader refuses masked frames: ws's error, not a message.
    const chunks = [whole];
    const expected = await readAll(chunks, 0, false, { isServer: false });
    assert.match(expected[0]!, /^error WS_ERR_UNEXPECTED_MASK/);
    assert.deepEqual(await readAll(chunks, 0, true, { isServer: false }), expected);
  });

  it('is not installed on a reader without the fields it reads (a ws release that renamed one)', () => {
    const receiver = new Receiver({ isServer: true, maxPayload: 100, allowSynchronousEvents: true, binaryType: 'nodebuffer' });
    delete (receiver as unknown as Record<string, unknown>)._maxPayload;
    assert.equal(readWholeFramesFirst(receiver), false);
    assert.ok(!Object.prototype.hasOwnProperty.call(receiver, 'write'));
  });

  it('is installed on the websockets of a real server', async () => {
    const server = await startServer();
    const raw = await RawWebSocket.open(`${server.url}/socket.io/?EIO=4&transport=websocket`);
    try {
      const session = server.io.engine.clients.get(raw.sid);
      assert.ok(session, 'the server has the session');
      const ws = (session.transport as { ws?: SessionWebSocket }).ws;
      assert.ok(ws, 'the session runs over a websocket');
      const receiver = (ws as unknown as { _receiver: object })._receiver;
      assert.ok(Object.prototype.hasOwnProperty.call(receiver, 'write'), 'its receiver has the whole-frame write of its own');
      assert.equal(readWholeFramesFirst(receiver), true);
    } finally {
      raw.terminate();
    }
  });
});

/** A raw websocket joined to `/`, whose TCP socket takes frames written by hand. */
async function joined(server: TestServer): Promise<{ raw: RawWebSocket; tcp: NetSocket }> {
  const raw = await RawWebSocket.open(`${server.url}/socket.io/?EIO=4&transport=websocket`);
  raw.send('40');
  const reply = await raw.next();
  assert.match(String(reply), /^40\{"sid":/);
  return { raw, tcp: (raw.ws as unknown as { _socket: NetSocket })._socket };
}

describe('frames written by hand to a real server', () => {
  async function echoServer(maxPayload = 1000) {
    const server = await startServer({ maxPayload });
    server.io.on('connection', (socket) => {
      socket.on('echo', (value: unknown) => socket.emit('echo', value));
    });
    return server;
  }
  const event = (value: string) => text(`42${JSON.stringify(['echo', value])}`);

  it('answers one whole frame, several frames in one chunk, a frame cut in two, and a fragmented message', async () => {
    const server = await echoServer();
    const { raw, tcp } = await joined(server);
    try {
      tcp.write(frame({ opcode: 1, payload: event('whole') }));
      assert.equal(await raw.next(), '42["echo","whole"]');
      tcp.write(Buffer.concat([frame({ opcode: 1, payload: event('first') }), frame({ opcode: 1, payload: event('second') })]));
      assert.equal(await raw.next(), '42["echo","first"]');
      assert.equal(await raw.next(), '42["echo","second"]');
      const long = frame({ opcode: 1, payload: event('é'.repeat(200)) });
      tcp.write(long.subarray(0, 5));
      await new Promise((resolve) => setTimeout(resolve, 20));
      tcp.write(long.subarray(5));
      assert.equal(await raw.next(), `42["echo","${'é'.repeat(200)}"]`);
      const whole = event('fragmented');
      tcp.write(frame({ opcode: 1, payload: whole.subarray(0, 6), fin: false }));
      tcp.write(frame({ opcode: 0, payload: whole.subarray(6) }));
      assert.equal(await raw.next(), '42["echo","fragmented"]');
    } finally {
      raw.terminate();
    }
  });

  for (const [what, bytes, code] of [
    ['a text frame that is not UTF-8', frame({ opcode: 1, payload: Buffer.from([0x34, 0xff]) }), 1007],
    ['a frame over maxPayload', frame({ opcode: 1, payload: event('x'.repeat(1000)) }), 1009],
    ['an unmasked frame', frame({ opcode: 1, payload: event('plain'), mask: null }), 1002],
    ['a frame with RSV1 (no compression was agreed)', frame({ opcode: 1, payload: event('rsv'), rsv: 4 }), 1002],
  ] as const) {
    it(`closes the websocket with ${code} on ${what}, as ws does`, async () => {
      const server = await echoServer();
      const { raw, tcp } = await joined(server);
      try {
        tcp.write(bytes);
        const closed = await within(new Promise<number>((resolve) => raw.ws.once('close', resolve)), 2000, 'the close');
        assert.equal(closed, code);
      } finally {
        raw.terminate();
      }
    });
  }

  it('reads nothing after a close frame', async () => {
    const server = await echoServer();
    const { raw, tcp } = await joined(server);
    let echoed = 0;
    for (const socket of server.io.sockets.sockets.values()) socket.on('echo', () => echoed++);
    try {
      tcp.write(Buffer.concat([frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }), frame({ opcode: 1, payload: event('late') })]));
      const closed = await within(new Promise<number>((resolve) => raw.ws.once('close', resolve)), 2000, 'the close');
      assert.equal(closed, 1000);
      assert.equal(echoed, 0, 'the frame after the close frame was not read');
    } finally {
      raw.terminate();
    }
  });
});

describe('frames the server writes itself', () => {
  it('follow what ws has queued (a Blob being read) and an open fragmented message, in order', async () => {
    const server = await startServer();
    const raw = await RawWebSocket.open(`${server.url}/socket.io/?EIO=4&transport=websocket`);
    try {
      const session = server.io.engine.clients.get(raw.sid)!;
      const transport = session.transport as { ws: SessionWebSocket; send(packet: string): void };
      // ws reads a Blob asynchronously; until then its sender queues everything after it.
      transport.ws.send(new Blob(['4first']));
      transport.send('4second');
      assert.deepEqual(await raw.next(), Buffer.from('4first'));
      assert.equal(await raw.next(), '4second');
      // A message ws sends in fragments: what we send meanwhile goes through ws too.
      transport.ws.send('4part-', { fin: false });
      transport.send('4rest');
      transport.ws.send('4third');
      assert.equal(await raw.next(), '4part-4rest');
      assert.equal(await raw.next(), '4third');
    } finally {
      raw.terminate();
    }
  });

  // Around each boundary of the frame's length field (7-bit, 16-bit, 64-bit), and past the size
  // above which a binary goes through ws instead (64 KiB).
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000];

  it('are read by ws as the messages sent, text and binary, to one client and to a namespace', async () => {
    const server = await startServer({ maxPayload: 1_000_000 });
    const raw = await RawWebSocket.open(`${server.url}/socket.io/?EIO=4&transport=websocket`);
    const captured: Buffer[] = [];
    (raw.ws as unknown as { _socket: NetSocket })._socket.prependListener('data', (chunk: Buffer) => captured.push(Buffer.from(chunk)));
    try {
      raw.send('40');
      assert.match(String(await raw.next()), /^40\{"sid":/);
      const [socket] = [...server.io.sockets.sockets.values()];
      assert.ok(socket);
      for (const size of sizes) {
        // An event whose whole Engine.IO message is `size` bytes long (multi-byte characters too).
        const head = '42["m","';
        const textBody = 'é'.repeat(Math.max(0, size - head.length - 2) >> 1).padEnd(Math.max(0, size - head.length - 2), 'x');
        socket.emit('m', textBody);
        assert.equal(await raw.next(), `${head}${textBody}"]`, `text event of about ${size} bytes`);
        server.io.emit('m', textBody);
        assert.equal(await raw.next(), `${head}${textBody}"]`, `broadcast text event of about ${size} bytes`);
        const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + 7) % 256));
        socket.emit('b', bytes);
        assert.equal(await raw.next(), '451-["b",{"_placeholder":true,"num":0}]');
        assert.deepEqual(await raw.next(), bytes, `binary attachment of ${size} bytes`);
        server.io.emit('b', bytes);
        assert.equal(await raw.next(), '451-["b",{"_placeholder":true,"num":0}]');
        assert.deepEqual(await raw.next(), bytes, `broadcast binary attachment of ${size} bytes`);
      }
      // Every frame as it came over the wire: unmasked, final, its length in the fewest bytes (RFC 6455, 5.2).
      const wire = Buffer.concat(captured);
      let frames = 0;
      for (let at = 0; at < wire.length; frames++) {
        assert.ok(wire[at] === 0x81 || wire[at] === 0x82, `frame ${frames}: FIN and a text or binary opcode`);
        const short = wire[at + 1]!;
        assert.ok(short < 0x80, `frame ${frames}: unmasked`);
        let length = short;
        let head = 2;
        if (short === 126) {
          length = wire.readUInt16BE(at + 2);
          head = 4;
          assert.ok(length >= 126, `frame ${frames}: a 16-bit length only from 126 up (${length})`);
        } else if (short === 127) {
          length = Number(wire.readBigUInt64BE(at + 2));
          head = 10;
          assert.ok(length >= 65536, `frame ${frames}: a 64-bit length only from 65,536 up (${length})`);
        }
        at += head + length;
      }
      assert.ok(frames >= sizes.length * 6, `${frames} frames read`);
    } finally {
      raw.terminate();
    }
  });
});
