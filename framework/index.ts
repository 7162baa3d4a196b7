/**
 * The public surface of mojo-ts. Apps import from here and nowhere else.
 */
export { defineConfig, resolveConfig, ConfigError, type MojoConfig, type ResolvedConfig, type MojoSocketOptions } from './config.ts';
export { MojoApplication, channelOf, type MojoApplicationOptions } from './apps/index.ts';
export { MojoRequestHandler, HttpError, login, logout, currentUser, UserStore, UserError, type User, type AppInfo } from './http/index.ts';
export { CURRENT_SESSIONS, LOGGED_IN_SESSIONS, SessionRegistry, ConnectionGroup, MojoSocketHandler, type SessionId, type UserId, type RegistryAdapter, type Identity } from './sessions/index.ts';
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
