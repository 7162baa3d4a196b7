import { deconstruct, hasBinary } from './binary.ts';
import { ProtocolError } from './errors.ts';
import { PacketType, isPacketType, isPayloadValid, type Packet } from './packet.ts';

/**
 * Encodes a packet as `<type>[<n>-][<nsp>,][<ack id>][JSON]` followed by its n binary
 * attachments, each to be sent as its own Engine.IO binary message.
 *
 * An EVENT or ACK whose data holds binaries goes out as BINARY_EVENT / BINARY_ACK; a
 * BINARY_EVENT / BINARY_ACK without any goes out as EVENT / ACK. `packet.attachments` is
 * ignored. Throws a {@link ProtocolError} for a packet the peer's decoder would refuse.
 *
 * @example
 * encodePacket({ type: PacketType.EVENT, nsp: '/admin', id: 13, data: ['bar'] }); // ['2/admin,13["bar"]']
 * encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['baz', Buffer.from([1])] });
 * // ['51-["baz",{"_placeholder":true,"num":0}]', <Buffer 01>]
 */
export function encodePacket(packet: Packet): [string, ...Buffer[]] {
  const { nsp, id, data } = packet;
  let type = packet.type;
  if (!isPacketType(type)) throw new ProtocolError('ERR_PACKET_TYPE', `cannot encode packet type ${String(type)}`);
  if (!isPayloadValid(type, data)) {
    throw new ProtocolError('ERR_PAYLOAD', `the data of a type ${type} packet is not a payload that type allows`);
  }

  let json: string | undefined;
  let buffers: Buffer[] | undefined;
  const binaryType = type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK;
  if (binaryType || ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data))) {
    const parts = deconstruct(data);
    json = stringify(parts.data);
    if (parts.buffers.length > 0) {
      buffers = parts.buffers;
      type = type === PacketType.EVENT || type === PacketType.BINARY_EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
    } else {
      // The reference decoder refuses an attachment count of 0.
      type = type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK;
    }
  } else if (data !== undefined) {
    json = stringify(data);
  }

  const head = buffers === undefined ? '' : `${buffers.length}-`;
  const namespace = nsp === '/' ? '' : `${checkNamespace(nsp)},`;
  const ackId = id === undefined ? '' : checkAckId(id);
  const text = `${type}${head}${namespace}${ackId}${json ?? ''}`;
  return buffers === undefined ? [text] : [text, ...buffers];
}

/**
 * The text of an EVENT (`id` given: asking for an ack) or ACK packet whose arguments hold no
 * binary, after `prefix` (a transport's message type, say), or undefined when they do hold
 * binaries: then {@link encodePacket} is the way. The hot path of every emit and ack: no packet
 * object, no array, one string. Unlike `encodePacket` it trusts its caller for `nsp` (a valid
 * namespace name) and for the event name, `data[0]`, of an EVENT.
 *
 * @example
 * encodeTextPacket('4', PacketType.EVENT, '/chat', undefined, ['said', 'hi']); // '42/chat,["said","hi"]'
 * encodeTextPacket('', PacketType.ACK, '/', 7, [true]); // '37[true]'
 */
export function encodeTextPacket(
  prefix: string,
  type: typeof PacketType.EVENT | typeof PacketType.ACK,
  nsp: string,
  id: number | undefined,
  data: readonly unknown[],
): string | undefined {
  if (hasBinary(data)) return undefined;
  let head = prefix + type;
  if (nsp !== '/') head += nsp + ',';
  if (id !== undefined) head += checkAckId(id);
  return head + stringify(data);
}

function stringify(data: unknown): string | undefined {
  try {
    return JSON.stringify(data);
  } catch (err) {
    throw new ProtocolError('ERR_PAYLOAD', `cannot serialise the data: ${(err as Error).message}`);
  }
}

function checkNamespace(nsp: unknown): string {
  // The decoder reads a namespace from "/" up to the first ",", so it cannot hold one.
  if (typeof nsp === 'string' && nsp.startsWith('/') && !nsp.includes(',')) return nsp;
  throw new ProtocolError('ERR_NAMESPACE', `cannot encode namespace ${JSON.stringify(nsp)}`);
}

function checkAckId(id: unknown): number {
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  throw new ProtocolError('ERR_ACK_ID', `cannot encode ack id ${String(id)}`);
}
