/**
 * The Engine.IO layer's error registry: the HTTP error codes and bodies the reference server
 * answers with (clients and the compliance suites read them), the reasons a session closes,
 * and the programmer errors this layer throws.
 */

/** Codes of the JSON body `{"code":N,"message":"..."}` of a refused HTTP request. */
export const EngineHttpError = {
  UNKNOWN_TRANSPORT: 0,
  UNKNOWN_SID: 1,
  BAD_HANDSHAKE_METHOD: 2,
  BAD_REQUEST: 3,
  FORBIDDEN: 4,
  UNSUPPORTED_PROTOCOL_VERSION: 5,
} as const;
export type EngineHttpError = (typeof EngineHttpError)[keyof typeof EngineHttpError];

export const ENGINE_HTTP_ERROR_MESSAGES: Readonly<Record<EngineHttpError, string>> = {
  0: 'Transport unknown',
  1: 'Session ID unknown',
  2: 'Bad handshake method',
  3: 'Bad request',
  4: 'Forbidden',
  5: 'Unsupported protocol version',
};

/** Why an Engine.IO session ended. */
export type EngineCloseReason =
  /** the client closed the transport or sent a close packet */
  | 'transport close'
  /** the transport failed: a broken socket, an overlapping poll, a frame over `maxPayload` */
  | 'transport error'
  /** the client sent something that is not an Engine.IO packet */
  | 'parse error'
  /** the client did not answer a ping within `pingTimeout` */
  | 'ping timeout'
  /** the client did not read fast enough: its unsent data passed `maxBufferedBytes` */
  | 'buffer overflow'
  /** the server closed this session */
  | 'forced close'
  /** the server itself is closing */
  | 'server shutting down';

export type EngineErrorCode = 'ERR_ENGINE_OPTION' | 'ERR_ENGINE_ATTACHED' | 'ERR_ENGINE_CLOSED';

export const ENGINE_ERRORS: Readonly<Record<EngineErrorCode, string>> = {
  ERR_ENGINE_OPTION: 'an Engine.IO option is unknown or has a value it cannot take',
  ERR_ENGINE_ATTACHED: 'the server is already attached to an HTTP server',
  ERR_ENGINE_CLOSED: 'the server was closed and cannot be used again',
};

/** A programmer error of the Engine.IO layer; `code` is one of {@link ENGINE_ERRORS}. */
export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'EngineError';
  }
}
