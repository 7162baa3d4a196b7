/**
 * The Socket.IO parser's error registry. Every invalid packet the decoder (or an unencodable
 * packet the encoder) meets throws a {@link ProtocolError} with one of these codes; the
 * realtime layer answers any of them by closing the Engine.IO connection, as the reference
 * server does.
 */

export type ProtocolErrorCode =
  | 'ERR_PACKET_TYPE'
  | 'ERR_ATTACHMENTS'
  | 'ERR_TOO_MANY_ATTACHMENTS'
  | 'ERR_NAMESPACE'
  | 'ERR_ACK_ID'
  | 'ERR_PAYLOAD'
  | 'ERR_UNEXPECTED_BINARY'
  | 'ERR_UNEXPECTED_TEXT'
  | 'ERR_PLACEHOLDER'
  | 'ERR_TOO_DEEP';

/**
 * What each code means.
 *
 * @example
 * PROTOCOL_ERRORS.ERR_ACK_ID; // 'the ack id is not a non-negative safe integer'
 */
export const PROTOCOL_ERRORS: Readonly<Record<ProtocolErrorCode, string>> = {
  ERR_PACKET_TYPE: 'the packet type is not one of 0 to 6',
  ERR_ATTACHMENTS: 'a binary packet does not start with an attachment count followed by "-"',
  ERR_TOO_MANY_ATTACHMENTS: 'a binary packet announces more attachments than maxAttachments',
  ERR_NAMESPACE: 'the namespace is not a string starting with "/" and free of ","',
  ERR_ACK_ID: 'the ack id is not a non-negative safe integer',
  ERR_PAYLOAD: 'the payload is not valid JSON, or not the shape its packet type requires',
  ERR_UNEXPECTED_BINARY: 'a binary attachment arrived while no binary packet was waiting for one',
  ERR_UNEXPECTED_TEXT: 'a text packet arrived while a binary packet was still waiting for attachments',
  ERR_PLACEHOLDER: 'an attachment placeholder has a "num" that is not an index of a received attachment',
  ERR_TOO_DEEP: 'the data is nested too deeply (or is circular) to be encoded or reconstructed',
};

/**
 * An invalid Socket.IO packet; `code` is one of {@link PROTOCOL_ERRORS}.
 *
 * @example
 * try { decoder.add('9'); } catch (err) { if (err instanceof ProtocolError) console.log(err.code); } // ERR_PACKET_TYPE
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    detail: string = PROTOCOL_ERRORS[code],
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ProtocolError';
  }
}
