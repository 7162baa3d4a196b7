export { CURRENT_SESSIONS, LOGGED_IN_SESSIONS, SessionRegistry, ConnectionGroup, localAdapter, setRegistryCluster, registryCluster, type RegistryCluster, type RegistryAdapter, type SessionId, type UserId, type Member } from './registry.ts';
export { MojoSocketHandler, setIdentityResolver, revokeLogin, renameSession, revokeLocalLogin, renameLocalSession, type Identity, type IdentityResolver } from './mojo-socket-handler.ts';
export { RedisCluster, ClusterAdapter, type RedisClusterOptions } from './redis-cluster.ts';
