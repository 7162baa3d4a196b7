/**
 * Engine.IO v4 packets on the wire. A text packet is kept as one string, its type digit first
 * (`4hello`), so the hot path never builds packet objects; a binary message is a bare Buffer.
 */
export const EnginePacketType = {
  OPEN: '0',
  CLOSE: '1',
  PING: '2',
  PONG: '3',
  MESSAGE: '4',
  UPGRADE: '5',
  NOOP: '6',
} as const;
export type EnginePacketType = (typeof EnginePacketType)[keyof typeof EnginePacketType];

/** A packet ready for a transport: `"<type><data>"`, or the bytes of a binary message. */
export type WirePacket = string | Buffer;

/** Polling payloads separate records with the ASCII record separator (protocol v4). */
export const RECORD_SEPARATOR = '\x1e';

/**
 * Joins packets into one long-polling body; binary messages travel as `b` + base64.
 * @example encodePayload(['4hello', Buffer.from([1, 2])]) // '4hello\x1ebAQI='
 */
export function encodePayload(packets: readonly WirePacket[]): string {
  if (packets.length === 1) return encodeRecord(packets[0]!);
  let body = '';
  for (let i = 0; i < packets.length; i++) {
    if (i > 0) body += RECORD_SEPARATOR;
    body += encodeRecord(packets[i]!);
  }
  return body;
}

function encodeRecord(packet: WirePacket): string {
  return typeof packet === 'string' ? packet : 'b' + packet.toString('base64');
}

/**
 * Splits a long-polling body into packets, or returns `null` when any record is malformed
 * (empty, or a type outside 0–6): the protocol gives no way to skip a bad record.
 * @example decodePayload('4a\x1e4b') // ['4a', '4b']
 */
export function decodePayload(body: string): WirePacket[] | null {
  const records = body.split(RECORD_SEPARATOR);
  const packets: WirePacket[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (record.charCodeAt(0) === 0x62 /* b */) {
      const base64 = record.slice(1);
      if (!BASE64.test(base64)) return null;
      packets[i] = Buffer.from(base64, 'base64');
    } else if (isTextPacket(record)) {
      packets[i] = record;
    } else {
      return null;
    }
  }
  return packets;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** True when `data` starts with a known packet type digit. */
export function isTextPacket(data: string): boolean {
  const code = data.charCodeAt(0);
  return code >= 0x30 && code <= 0x36;
}
