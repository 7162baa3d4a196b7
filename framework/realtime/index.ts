export { RealtimeServer, type RealtimeOptions } from './realtime-server.ts';
export { Namespace, type ConnectionListener, type ConnectRefusal, type Middleware } from './namespace.ts';
export { Socket } from './socket.ts';
export { Client } from './client.ts';
export { BroadcastOperator } from './broadcast-operator.ts';
export { InMemoryAdapter, type BroadcastTarget } from './adapter.ts';
export { RealtimeError, REALTIME_ERRORS, type DisconnectReason, type RealtimeErrorCode } from './errors.ts';
export type { AckCallback, Handshake, Listener, Room, SocketId } from './types.ts';
