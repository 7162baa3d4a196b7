import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { EngineSocket } from '../engine-socket.ts';
import type { WirePacket } from '../packet.ts';

/**
 * The websockets our server accepts (ws's `WebSocket` option): a declared field for the session
 * a websocket serves lets shared listener functions find it, where a property added later would
 * change the object's shape and allocate on every connection.
 */
export class SessionWebSocket extends WebSocket {
  /** @internal The session this websocket is the transport of (set when bound). */
  session: EngineSocket | null = null;

  /**
   * @internal ws calls this (an undeclared method of its `WebSocket`) with the upgraded socket;
   * its frame reader then gets {@link wholeFrameWrite} (see there).
   */
  setSocket(...args: unknown[]): void {
    (WebSocket.prototype as unknown as { setSocket(...args: unknown[]): void }).setSocket.apply(this, args);
    readWholeFramesFirst((this as unknown as { _receiver?: WsReceiver })._receiver);
  }
}

/** What RFC 6455 appends to the client's key before hashing it into `Sec-WebSocket-Accept`. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A `Sec-WebSocket-Key` ws accepts: 16 bytes in base64. */
const HANDSHAKE_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** SHA-1 in base64, one-shot where Node has `crypto.hash` (20.12+), a `Hash` object before. */
const sha1Base64: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha1', text, 'base64') : (text) => crypto.createHash('sha1').update(text).digest('base64');

/**
 * @internal Answers a websocket handshake that ws would accept exactly as it comes, the way ws
 * does (the same 101 response, a websocket made and given the socket with the same options), but
 * without ws's per-request work: one `GET` with `Upgrade: websocket`, a valid key, version 13 or
 * 8, no subprotocol, on a socket no websocket reads yet, to a server `wss` that has no
 * extensions, `verifyClient`, path, client tracking, `headers` listener or `shouldHandle` of its
 * own, and is not closing. It copies what ws 8's `completeUpgrade` does; the tests compare the
 * two field by field, so a ws release that changes it fails them. Returns the websocket, or null for any other request, which
 * `wss.handleUpgrade` then answers (or refuses) as it always has.
 */
export function acceptPlainHandshake(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): SessionWebSocket | null {
  const options = wss.options;
  if (options.WebSocket !== SessionWebSocket || options.perMessageDeflate || options.verifyClient || options.path || options.handleProtocols || options.clientTracking) return null;
  if ((wss as unknown as { _state?: unknown })._state !== 0) return null; // ws's RUNNING; it answers 503 once closing
  // A 'headers' listener may add response headers; a shouldHandle of its own may refuse.
  if (wss.listenerCount('headers') !== 0 || wss.shouldHandle !== WebSocketServer.prototype.shouldHandle) return null;
  // A socket some websocket reads already (ws throws for a second handshake on one socket).
  if (req.method !== 'GET' || !socket.readable || !socket.writable || socket.listenerCount('data') !== 0) return null;
  const headers = req.headers;
  const upgrade = headers.upgrade;
  const key = headers['sec-websocket-key'];
  const version = headers['sec-websocket-version'];
  if (upgrade === undefined || (upgrade !== 'websocket' && upgrade.toLowerCase() !== 'websocket')) return null;
  if (key === undefined || !HANDSHAKE_KEY.test(key) || (version !== '13' && version !== '8')) return null;
  if (headers['sec-websocket-protocol'] !== undefined) return null;
  // ws makes a server-side websocket with (null, undefined, its server's options); its types only declare (null).
  const ws = new (SessionWebSocket as unknown as new (address: null, protocols: undefined, options: unknown) => SessionWebSocket)(null, undefined, options);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${sha1Base64(key + HANDSHAKE_GUID)}\r\n\r\n`);
  ws.setSocket(socket, head, {
    allowSynchronousEvents: options.allowSynchronousEvents,
    maxBufferedChunks: options.maxBufferedChunks,
    maxFragments: options.maxFragments,
    maxPayload: options.maxPayload,
    skipUTF8Validation: options.skipUTF8Validation,
  });
  return ws;
}

/** The parts of ws's frame reader (`Receiver`, a Writable) that {@link wholeFrameWrite} reads. */
interface WsReceiver {
  write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean;
  emit(event: 'message', data: Buffer, isBinary: boolean): boolean;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  _state: number;
  _bufferedBytes: number;
  _buffers: unknown[];
  _fin: boolean;
  _masked: boolean;
  _compressed: boolean;
  _payloadLength: number;
  _fragmented: number;
  _errored: boolean;
  _loop: boolean;
  _opcode: number;
  _isServer: boolean;
  _maxPayload: number;
  _skipUTF8Validation: boolean;
  _allowSynchronousEvents: boolean;
  _binaryType: string;
}

/** The `write` ws's Receiver inherits (Writable's), which {@link wholeFrameWrite} hands everything else to. */
let writableWrite: WsReceiver['write'] | null = null;

/** What ws's receiver emits for an empty message (its own is a shared empty Buffer too). */
const EMPTY = Buffer.alloc(0);

/**
 * @internal Gives `receiver` (ws's frame reader of one websocket) {@link wholeFrameWrite} as its
 * own `write`; returns whether it has it. An own property, not another prototype: V8 gives every
 * receiver the same hidden class either way only with the property (a prototype swapped after
 * construction left each receiver a class of its own, and ws's own parsing ten times slower).
 */
export function readWholeFramesFirst(receiver: object | undefined): boolean {
  if (!receiver) return false;
  const target = receiver as { write?: unknown };
  const write = target.write;
  if (write === wholeFrameWrite) return true;
  if (typeof write !== 'function' || !hasReceiverFields(receiver)) return false;
  writableWrite ??= write as WsReceiver['write'];
  // Someone else's write (not the one every receiver inherits): left alone.
  if (write !== writableWrite) return false;
  target.write = wholeFrameWrite;
  return true;
}

/** The fields of ws's receiver {@link readWholeFrame} reads or writes, and their types (as of ws 8.23). */
const RECEIVER_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['_state', 'number'],
  ['_bufferedBytes', 'number'],
  ['_fragmented', 'number'],
  ['_opcode', 'number'],
  ['_maxPayload', 'number'],
  ['_payloadLength', 'number'],
  ['_loop', 'boolean'],
  ['_errored', 'boolean'],
  ['_isServer', 'boolean'],
  ['_skipUTF8Validation', 'boolean'],
  ['_allowSynchronousEvents', 'boolean'],
  ['_fin', 'boolean'],
  ['_masked', 'boolean'],
  ['_compressed', 'boolean'],
  ['_binaryType', 'string'],
  ['writableLength', 'number'],
  ['writableEnded', 'boolean'],
  ['destroyed', 'boolean'],
];

/**
 * Whether `receiver` has every field the shortcut reads, of the type it expects: a ws release that
 * renamed one (a limit such as `_maxPayload` read as undefined would pass everything) turns the
 * shortcut off instead, and the test that it is installed on a real server fails.
 */
function hasReceiverFields(receiver: object): boolean {
  const fields = receiver as Record<string, unknown>;
  for (const [name, type] of RECEIVER_FIELDS) if (typeof fields[name] !== type) return false;
  return Array.isArray(fields._buffers);
}

/**
 * ws's socket `data` listener hands every chunk to its Receiver, a Writable stream: per message
 * that is the stream's write bookkeeping, a `process.nextTick` and the parsing loop. A chunk that
 * is exactly one whole, masked, unfragmented text or binary frame, arriving while the receiver is
 * between messages, is read here instead: unmasked in place, its UTF-8 checked, and emitted as
 * the receiver's `message`, as ws does. Anything else (control frames, fragments, several or
 * partial frames, compression, a frame over `maxPayload`, invalid UTF-8, a receiver mid-message,
 * closing or failed) goes to ws's own `write` untouched, so ws keeps every rule and error code.
 * Where the two can differ, nothing of ours goes: a `message` listener that throws leaves ws's
 * parser stuck mid-loop but not this (ours catch what they run), and a listener that writes to
 * the receiver itself would see its chunk read in another order.
 */
function wholeFrameWrite(this: WsReceiver, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (encoding === undefined && cb === undefined && chunk instanceof Buffer && readWholeFrame(this, chunk)) return true;
  return writableWrite!.call(this, chunk, encoding, cb);
}

function readWholeFrame(receiver: WsReceiver, chunk: Buffer): boolean {
  const size = chunk.length;
  if (size < 6) return false;
  const first = chunk[0]!;
  const second = chunk[1]!;
  // FIN, no RSV bits (no compression), opcode 1 (text) or 2 (binary); MASK set, as from a client.
  if ((first !== 0x81 && first !== 0x82) || second < 0x80) return false;
  let length = second & 0x7f;
  let start = 6;
  if (length === 126) {
    if (size < 8) return false;
    length = (chunk[2]! << 8) | chunk[3]!;
    start = 8;
  } else if (length === 127) return false;
  if (size !== start + length) return false;
  const r = receiver;
  if (r._state !== 0 || r._bufferedBytes !== 0 || r._buffers.length !== 0 || r._fragmented !== 0 || r._loop || r._errored || r._opcode === 0x08 || !r._isServer) return false;
  if (!r._allowSynchronousEvents || r._binaryType !== 'nodebuffer' || (r._maxPayload > 0 && length > r._maxPayload)) return false;
  // The stream's own view of the same: nothing queued, not ended (a close frame ends it), not destroyed.
  if (r.writableLength !== 0 || r.writableEnded || r.destroyed) return false;
  const m0 = chunk[start - 4]!;
  const m1 = chunk[start - 3]!;
  const m2 = chunk[start - 2]!;
  const m3 = chunk[start - 1]!;
  unmask(chunk, start, m0, m1, m2, m3);
  const data = length === 0 ? EMPTY : chunk.subarray(start);
  const binary = first === 0x82;
  if (!binary && !r._skipUTF8Validation && !isUtf8(data)) {
    unmask(chunk, start, m0, m1, m2, m3); // masked again: ws reads the frame as it came and refuses it
    return false;
  }
  // Left as ws's parsing leaves them after such a frame.
  r._fin = true;
  r._opcode = first & 0x0f;
  r._masked = true;
  r._compressed = false;
  r._payloadLength = length;
  r.emit('message', data, binary);
  return true;
}

/** XORs `chunk` from `start` with the 4-byte mask (its own inverse). */
function unmask(chunk: Buffer, start: number, m0: number, m1: number, m2: number, m3: number): void {
  const end = chunk.length;
  let i = start;
  for (; i + 3 < end; i += 4) {
    chunk[i] ^= m0;
    chunk[i + 1] ^= m1;
    chunk[i + 2] ^= m2;
    chunk[i + 3] ^= m3;
  }
  if (i < end) chunk[i++] ^= m0;
  if (i < end) chunk[i++] ^= m1;
  if (i < end) chunk[i] ^= m2;
}

/**
 * A message encoded once for many recipients (a broadcast). The websocket frame is built on first
 * use and then written as the same bytes to every websocket client, so a broadcast to N clients
 * costs one encode and one frame, not N.
 */
export class PreparedPacket {
  /** The websocket frame, header and payload in one Buffer (ws's `sendFrame` takes a list), built lazily. */
  frame: Buffer[] | undefined = undefined;

  constructor(readonly packet: WirePacket) {}
}

interface WsSender {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
  _state?: number;
  _firstFragment?: boolean;
}

interface WsInternals {
  _sender?: WsSender;
  _extensions?: Record<string, unknown>;
}

/** Binary packets up to this size are copied into a frame of their own; larger ones go through ws. */
const MAX_COPIED_BINARY = 64 * 1024;

const TEXT = Object.freeze({ binary: false });
const BINARY = Object.freeze({ binary: true });

/** One Engine.IO websocket transport: one packet per frame, binary messages as binary frames. */
export class WebSocketTransport {
  readonly name = 'websocket' as const;

  constructor(readonly ws: SessionWebSocket) {}

  get writable(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes handed to the socket but not yet written to the network. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(packet: WirePacket): void {
    const sender = writableSender(this.ws);
    // A large binary goes to ws, which writes it after its header without copying it.
    if (sender === null || (typeof packet !== 'string' && packet.length > MAX_COPIED_BINARY)) {
      this.sendThroughWs(packet);
      return;
    }
    sender.sendFrame([wholeFrame(packet)]);
  }

  sendPrepared(prepared: PreparedPacket): void {
    const sender = writableSender(this.ws);
    if (sender === null) {
      this.sendThroughWs(prepared.packet);
      return;
    }
    prepared.frame ??= [wholeFrame(prepared.packet)];
    sender.sendFrame(prepared.frame);
  }

  /** ws's own send: a string as a text frame, a Buffer as a binary one. */
  private sendThroughWs(packet: WirePacket): void {
    this.ws.send(packet, typeof packet === 'string' ? TEXT : BINARY);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * ws's Sender of `ws` when a frame we build may be handed to it as is: the websocket is open, ws
 * has nothing queued and is not in the middle of a fragmented message, and no extension
 * (permessage-deflate) rewrites frames. Otherwise null, and ws's own `send` is used.
 */
function writableSender(ws: SessionWebSocket): WsSender | null {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  // Fields of ws 8.23's Sender; a release without them (another type) sends through ws.send.
  if (!sender || sender._state !== 0 || sender._firstFragment !== true || typeof sender.sendFrame !== 'function') return null;
  if (ws.readyState !== WebSocket.OPEN || hasExtensions(internals)) return null;
  return sender;
}

function hasExtensions(internals: WsInternals): boolean {
  const extensions = internals._extensions;
  if (!extensions) return false;
  for (const _ in extensions) return true;
  return false;
}

/**
 * One unmasked websocket frame (FIN, text for a string, binary for a Buffer) holding `packet`, in
 * one Buffer: written with one `write`, where ws's own send writes its header and payload apart
 * (a cork, two writes and a `writev`). The bytes are those ws would send. One thing differs, for
 * the better: while the frame waits in the socket, `bufferedAmount` counts its bytes, where a
 * string ws hands the socket counts its UTF-16 code units (so `maxBufferedBytes` now holds for
 * text that is not ASCII too).
 */
function wholeFrame(packet: WirePacket): Buffer {
  const binary = typeof packet !== 'string';
  const length = binary ? packet.length : Buffer.byteLength(packet);
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = binary ? 0x82 : 0x81;
  if (head === 2) frame[1] = length;
  else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  // A copy: a Buffer changed after it was sent no longer changes what goes out (ws.send, which
  // takes binaries over MAX_COPIED_BINARY, writes the caller's Buffer as it is when written).
  if (binary) frame.set(packet, head);
  else frame.write(packet, head, 'utf8');
  return frame;
}
