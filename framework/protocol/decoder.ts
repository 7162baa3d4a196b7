import { reconstruct, toBuffer } from './binary.ts';
import { ProtocolError } from './errors.ts';
import { PacketType, isPayloadValid, type Packet } from './packet.ts';

export interface DecoderOptions {
  /**
   * The most binary attachments one packet may announce.
   * @default 10
   */
  maxAttachments?: number;
}

const ZERO = 0x30;
const NINE = 0x39;
const DASH = 0x2d;
const SLASH = 0x2f;

/**
 * Decodes the Socket.IO packets of one connection, fed one Engine.IO message at a time. A
 * BINARY_EVENT / BINARY_ACK keeps its type and its `attachments` count, and gets its binaries
 * back as Buffers once they have all arrived.
 *
 * @example
 * const decoder = new Decoder();
 * decoder.add('2/admin,13["bar"]'); // { type: 2, nsp: '/admin', id: 13, data: ['bar'] }
 * decoder.add('51-["baz",{"_placeholder":true,"num":0}]'); // undefined: waits for one binary
 * decoder.add(Buffer.from([1])); // { type: 5, nsp: '/', attachments: 1, data: ['baz', <Buffer 01>] }
 */
export class Decoder {
  readonly #maxAttachments: number;
  #pending: Packet | undefined;
  /** Attachments of the packet being reconstructed (allocated only while one is). */
  #buffers: Buffer[] | null = null;

  constructor(options: DecoderOptions = {}) {
    const { maxAttachments = 10 } = options;
    if (!Number.isSafeInteger(maxAttachments) || maxAttachments < 0) {
      throw new RangeError(`maxAttachments must be a non-negative integer, got ${String(maxAttachments)}`);
    }
    this.#maxAttachments = maxAttachments;
  }

  /**
   * Takes the next message: returns the packet it completes, or `undefined` while a binary
   * packet waits for attachments. Throws a {@link ProtocolError} on invalid input, after which
   * the decoder is back in its initial state.
   *
   * @example
   * new Decoder().add('0/admin,{"token":"123"}'); // { type: 0, nsp: '/admin', data: { token: '123' } }
   */
  add(chunk: string | Buffer | ArrayBuffer | ArrayBufferView): Packet | undefined {
    if (typeof chunk === 'string') {
      if (this.#pending !== undefined) {
        this.reset();
        throw new ProtocolError('ERR_UNEXPECTED_TEXT');
      }
      const packet = decodeText(chunk, this.#maxAttachments);
      if (packet.attachments === undefined) return packet;
      if (packet.attachments === 0) {
        // Nothing to wait for, but a placeholder in the JSON would still point nowhere.
        packet.data = reconstruct(packet.data, []);
        return packet;
      }
      this.#pending = packet;
      return undefined;
    }

    const pending = this.#pending;
    if (pending === undefined) throw new ProtocolError('ERR_UNEXPECTED_BINARY');
    (this.#buffers ??= []).push(toBuffer(chunk));
    if (this.#buffers.length < (pending.attachments ?? 0)) return undefined;
    const buffers = this.#buffers;
    this.reset();
    pending.data = reconstruct(pending.data, buffers);
    return pending;
  }

  /**
   * Drops a binary packet still waiting for attachments.
   *
   * @example
   * decoder.reset();
   */
  reset(): void {
    this.#pending = undefined;
    this.#buffers = null;
  }
}

/**
 * One Socket.IO packet from its text: what {@link Decoder.add} does with a string, for a caller
 * that keeps no state (a BINARY_EVENT / BINARY_ACK header needs a Decoder to wait for its
 * attachments). Throws a {@link ProtocolError} on invalid input.
 *
 * @example
 * decodeText('2/admin,13["bar"]', 10); // { type: 2, nsp: '/admin', id: 13, data: ['bar'] }
 */
export function decodeText(str: string, maxAttachments: number): Packet {
  const end = str.length;
  const type = str.charCodeAt(0) - ZERO;
  // NaN (empty string) fails both comparisons.
  if (!(type >= PacketType.CONNECT && type <= PacketType.BINARY_ACK)) {
    throw new ProtocolError('ERR_PACKET_TYPE', `unknown packet type ${JSON.stringify(str.charAt(0))}`);
  }
  const packet: Packet = { type: type as PacketType, nsp: '/' };
  let i = 1;

  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    const start = i;
    while (isDigit(str.charCodeAt(i))) i++;
    if (i === start || str.charCodeAt(i) !== DASH) throw new ProtocolError('ERR_ATTACHMENTS');
    const attachments = Number(str.slice(start, i));
    if (attachments > maxAttachments) {
      throw new ProtocolError('ERR_TOO_MANY_ATTACHMENTS', `${str.slice(start, i)} attachments announced, at most ${maxAttachments} allowed`);
    }
    packet.attachments = attachments;
    i++;
  }

  // The namespace runs to the first "," or to the end: "0/admin" is a valid CONNECT.
  if (str.charCodeAt(i) === SLASH) {
    const comma = str.indexOf(',', i);
    packet.nsp = str.slice(i, comma === -1 ? end : comma);
    i = comma === -1 ? end : comma + 1;
  }

  const idStart = i;
  while (isDigit(str.charCodeAt(i))) i++;
  if (i > idStart) {
    const id = Number(str.slice(idStart, i));
    if (!Number.isSafeInteger(id)) throw new ProtocolError('ERR_ACK_ID', `an ack id of ${i - idStart} digits is above Number.MAX_SAFE_INTEGER`);
    packet.id = id;
  }

  let data: unknown;
  if (i < end) {
    try {
      data = JSON.parse(str.slice(i));
    } catch {
      throw new ProtocolError('ERR_PAYLOAD', 'the payload is not valid JSON');
    }
    packet.data = data;
  }
  if (!isPayloadValid(packet.type, data)) {
    throw new ProtocolError('ERR_PAYLOAD', `${data === undefined ? 'a missing payload' : 'this payload'} is not valid for packet type ${type}`);
  }
  return packet;
}

/**
 * Whether a text packet is a BINARY_EVENT or BINARY_ACK header, whose attachments follow (and
 * which therefore needs a {@link Decoder}, not {@link decodeText}).
 *
 * @example
 * announcesAttachments('51-["a",{"_placeholder":true,"num":0}]'); // true
 */
export function announcesAttachments(str: string): boolean {
  const type = str.charCodeAt(0) - ZERO;
  return type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK;
}

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}
