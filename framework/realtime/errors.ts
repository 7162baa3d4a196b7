/**
 * The realtime layer's error registry: why a namespace socket disconnects, and the programmer
 * errors this layer throws.
 */

/** Why a namespace socket was disconnected (what `socket.on('disconnect', (reason) => ...)` gets). */
export type DisconnectReason =
  /** the client closed the transport or its connection dropped */
  | 'transport close'
  /** the transport failed (broken socket, overlapping polls, a frame over `maxPayload`) */
  | 'transport error'
  /** the client sent something that is not a valid packet */
  | 'parse error'
  /** the client did not answer pings */
  | 'ping timeout'
  /** the client was too slow to read its output (`maxBufferedBytes`) */
  | 'buffer overflow'
  /** the client left this namespace (`socket.disconnect()` on the client) */
  | 'client namespace disconnect'
  /** the server removed the socket from this namespace (`socket.disconnect()`) */
  | 'server namespace disconnect'
  /** the server closed the whole connection (`socket.disconnect(true)`, `client.close()`) */
  | 'forced server close'
  /** the server closed the underlying Engine.IO session */
  | 'forced close'
  /** the server is shutting down */
  | 'server shutting down'
  /** user code handling this connection threw; the whole connection was closed */
  | 'handler error';

export type RealtimeErrorCode = 'ERR_REALTIME_OPTION' | 'ERR_NAMESPACE_NAME' | 'ERR_RESERVED_EVENT' | 'ERR_ACK_TIMEOUT' | 'ERR_NOT_CONNECTED';

export const REALTIME_ERRORS: Readonly<Record<RealtimeErrorCode, string>> = {
  ERR_REALTIME_OPTION: 'a realtime server option is unknown or has a value it cannot take',
  ERR_NAMESPACE_NAME: 'a namespace name must start with "/" and contain no "," or "?"',
  ERR_RESERVED_EVENT: 'the event name is reserved by the protocol and cannot be emitted',
  ERR_ACK_TIMEOUT: 'the client did not acknowledge in time',
  ERR_NOT_CONNECTED: 'the socket is disconnected; nothing was sent',
};

/** An error of the realtime layer; `code` is one of {@link REALTIME_ERRORS}. */
export class RealtimeError extends Error {
  constructor(
    readonly code: RealtimeErrorCode,
    message: string = REALTIME_ERRORS[code],
  ) {
    super(`${code}: ${message}`);
    this.name = 'RealtimeError';
  }
}
