export { EngineServer, parseQuery, type EngineServerEvents } from './engine-server.ts';
export { EngineSocket, type EngineHandshake, type EngineSocketListener, type Sid } from './engine-socket.ts';
export { EngineError, EngineHttpError, ENGINE_ERRORS, ENGINE_HTTP_ERROR_MESSAGES, type EngineCloseReason, type EngineErrorCode } from './errors.ts';
export { ENGINE_DEFAULTS, ENGINE_SCHEMA, type AllowedOrigins, type AllowRequest, type EngineOptions, type TransportName } from './options.ts';
export { EnginePacketType, encodePayload, decodePayload, type WirePacket } from './packet.ts';
export { PreparedPacket } from './transports/websocket.ts';
