/**
 * The Socket.IO v5 packet encoder and decoder: pure functions and a per-connection decoder,
 * no I/O. The realtime layer feeds Engine.IO messages in and sends what `encodePacket` returns.
 */
export { PacketType, RESERVED_EVENTS, isPacketType, isPayloadValid, type Packet } from './packet.ts';
export { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { MAX_DEPTH, isBinary, hasBinary, toBuffer, deconstruct, reconstruct, type Placeholder } from './binary.ts';
export { encodePacket, encodeTextPacket } from './encoder.ts';
export { Decoder, announcesAttachments, decodeText, type DecoderOptions } from './decoder.ts';
