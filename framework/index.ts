/**
 * The public surface of mojo-ts. Apps import from here and nowhere else.
 */
export {
  SocketConnection,
  event,
  ConnectionInfo,
  SocketRouter,
  SocketServer,
  StatsCollector,
  UnknownEvent,
  RealtimeServer,
  Namespace,
  Socket,
  BroadcastOperator,
  RealtimeError,
  REALTIME_ERRORS,
} from './realtime/index.ts';
export type { RouterSettings, SocketServerOptions, StatsSnapshot, EventOptions, EventMap, ConnectionClass, RecoveryOptions } from './realtime/index.ts';
export type { RealtimeOptions, DisconnectReason, Handshake, Middleware, Room, SocketId, AckCallback } from './realtime/index.ts';
export { EngineServer, EngineSocket, EngineError, ENGINE_ERRORS } from './engine/index.ts';
export type { EngineOptions, EngineCloseReason, AllowedOrigins, AllowRequest, Sid } from './engine/index.ts';
export { ProtocolError, PROTOCOL_ERRORS } from './protocol/index.ts';
export { createLogger, setLogLevel, getLogLevel, setLogSink, type LogLevel, type LogSink } from './util/logger.ts';
