export { CURRENT_SESSIONS, LOGGED_IN_SESSIONS, SessionRegistry, ConnectionGroup, localAdapter, type RegistryAdapter, type SessionId, type UserId, type Member } from './registry.ts';
export { MojoSocketHandler, setIdentityResolver, revokeLogin, renameSession, type Identity, type IdentityResolver } from './mojo-socket-handler.ts';
