/**
 * Socket.IO v5 packet types.
 *
 * @example
 * const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: ['hello'] };
 */
export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/**
 * One decoded (or to-be-encoded) Socket.IO packet.
 *
 * - `nsp` is `'/'` for the main namespace.
 * - `data` is the JSON payload, with binaries in place of their placeholders.
 * - `id` is the ack id.
 * - `attachments` is the number of binary attachments; decoded BINARY_EVENT / BINARY_ACK packets
 *   carry it, and the encoder ignores it (it counts them itself).
 *
 * @example
 * const ack: Packet = { type: PacketType.ACK, nsp: '/admin', id: 13, data: ['bar'] };
 */
export interface Packet {
  type: PacketType;
  nsp: string;
  data?: unknown;
  id?: number;
  attachments?: number;
}

/**
 * Event names an EVENT packet may not carry: they mean something to the client or server
 * socket, or to Node's EventEmitter.
 *
 * @example
 * RESERVED_EVENTS.has('disconnect'); // true
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

/**
 * Whether `type` is one of the seven packet types.
 *
 * @example
 * isPacketType(5); // true
 */
export function isPacketType(type: unknown): type is PacketType {
  return typeof type === 'number' && Number.isInteger(type) && type >= PacketType.CONNECT && type <= PacketType.BINARY_ACK;
}

/**
 * Whether `data` is a payload the protocol allows for `type` (`undefined` means no payload):
 * CONNECT an object or nothing, DISCONNECT nothing, CONNECT_ERROR a string, an object or nothing,
 * EVENT a non-empty array whose first item is a number or a non-reserved event name, ACK an array.
 *
 * @example
 * isPayloadValid(PacketType.EVENT, ['connect']); // false: reserved name
 */
export function isPayloadValid(type: PacketType, data: unknown): boolean {
  switch (type) {
    case PacketType.CONNECT:
      return data === undefined || isObject(data);
    case PacketType.DISCONNECT:
      return data === undefined;
    case PacketType.CONNECT_ERROR:
      return data === undefined || typeof data === 'string' || isObject(data);
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT: {
      if (!Array.isArray(data)) return false;
      const name: unknown = data[0];
      return typeof name === 'number' || (typeof name === 'string' && !RESERVED_EVENTS.has(name));
    }
    case PacketType.ACK:
    case PacketType.BINARY_ACK:
      return Array.isArray(data);
    default:
      return false;
  }
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
