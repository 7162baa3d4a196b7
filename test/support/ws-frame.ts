/** Websocket frames as a client sends them, for tests that speak the wire format directly. */

export interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  rsv?: number;
  /** The 4 mask bytes; null sends the frame unmasked (a client must mask). */
  mask?: readonly number[] | null;
  /** Length encoding: the shortest (default), or forced 16-bit (126) or 64-bit (127). */
  lengthBits?: 7 | 16 | 64;
}

/** The bytes of one websocket frame as a client would send it (masked unless told otherwise). */
export function frame({ opcode, payload, fin = true, rsv = 0, mask = [0x11, 0x22, 0x33, 0x44], lengthBits }: FrameSpec): Buffer {
  const length = payload.length;
  const bits = lengthBits ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (bits === 7) head.push(maskBit | length);
  else if (bits === 16) head.push(maskBit | 126, length >> 8, length & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
  if (mask) head.push(...mask);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from(head), body]);
}
