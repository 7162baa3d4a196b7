import { SocketConnection, type ConnectionInfo, type DisconnectReason, type EventMap, type RealtimeServer } from '../realtime/index.ts';
import { createLogger } from '../util/logger.ts';
import { CURRENT_SESSIONS, LOGGED_IN_SESSIONS, registryCluster, type SessionId, type UserId } from './registry.ts';

const log = createLogger('sessions');

/** Who a connection belongs to, read from its handshake cookies. */
export interface Identity {
  /** The session id of a validly signed `session_id` cookie the store knows, else null. */
  readonly sessionId: SessionId | null;
  /** The user id of a validly signed `logged_in` cookie that the session still confirms, else null. */
  readonly userId: UserId | null;
}

/**
 * Reads a handshake's cookies (`info.getCookie`, which reads one without parsing the rest) into
 * an {@link Identity}; the HTTP layer provides it at start.
 */
export type IdentityResolver = (info: ConnectionInfo) => Identity | Promise<Identity>;

const NOBODY: Identity = Object.freeze({ sessionId: null, userId: null });
const resolvers = new WeakMap<RealtimeServer, IdentityResolver>();
let warned = false;

/** Installs how the connections of `io` learn who they are (done by the Mojo application at start). */
export function setIdentityResolver(io: RealtimeServer, resolver: IdentityResolver | null): void {
  if (resolver) resolvers.set(io, resolver);
  else resolvers.delete(io);
}

type DefaultEvents = Record<string, (...args: any[]) => void>;

/**
 * The base class of an app's `SocketConnectionHandler`: a `SocketConnection` that knows its
 * visitor. Before `onOpen` it reads the signed `session_id` and `logged_in` cookies; once open it
 * is in `CURRENT_SESSIONS` (by `sessionId`) and, when the session confirms the login, in
 * `LOGGED_IN_SESSIONS` (by `userId`). A forged, expired or revoked cookie registers nothing. On
 * close it is removed; a logout over HTTP removes it from `LOGGED_IN_SESSIONS` at once.
 * @example
 * export class SocketConnectionHandler extends MojoSocketHandler {
 *   @event('say') say(text: string) {
 *     if (!this.userId) return { error: 'log in first' };
 *     LOGGED_IN_SESSIONS.emit('said', { user: this.userId, text });
 *   }
 * }
 */
export class MojoSocketHandler<Emits extends EventMap = DefaultEvents> extends SocketConnection<Emits> {
  /** The visitor's HTTP session id, or null for a visitor without a valid session cookie. */
  sessionId: SessionId | null = null;
  /** The logged-in user's id, or null. */
  userId: UserId | null = null;

  /** @internal */
  override prepareOpen(): void | Promise<void> {
    const resolver = resolvers.get(this.nsp.server);
    if (!resolver) {
      if (!warned) log.warn('MojoSocketHandler used without a Mojo application: connections are anonymous');
      warned = true;
      return;
    }
    const identity = resolver(this.info);
    if (identity instanceof Promise) return identity.then((found) => this.adopt(found));
    this.adopt(identity);
  }

  /** @internal */
  override afterOpen(): void {
    if (this.sessionId !== null) CURRENT_SESSIONS.add(this.sessionId, this);
    if (this.userId !== null) LOGGED_IN_SESSIONS.add(this.userId, this);
  }

  /** @internal */
  override handleClose(reason: DisconnectReason): void {
    if (!this.connected) return;
    if (this.sessionId !== null) CURRENT_SESSIONS.delete(this.sessionId, this);
    if (this.userId !== null) LOGGED_IN_SESSIONS.delete(this.userId, this);
    super.handleClose(reason);
  }

  private adopt(identity: Identity = NOBODY): void {
    this.sessionId = identity.sessionId;
    this.userId = identity.sessionId === null ? null : identity.userId;
  }
}

/**
 * Moves the connections of session `from` to its new id `to` in `CURRENT_SESSIONS` (login gives a
 * browser a new session id; its open tabs stay reachable under the new one).
 */
export function renameSession(from: SessionId, to: SessionId): number {
  registryCluster()?.publishRename(from, to);
  return renameLocalSession(from, to);
}

/** @internal {@link renameSession} on this process only (what other nodes' messages ask for). */
export function renameLocalSession(from: SessionId, to: SessionId): number {
  const moved = CURRENT_SESSIONS.drop(from);
  for (const member of moved) {
    (member as MojoSocketHandler).sessionId = to;
    CURRENT_SESSIONS.add(to, member);
  }
  return moved.length;
}

/**
 * Ends `userId`'s login on the connections of session `sessionId` (every tab of that browser):
 * they leave `LOGGED_IN_SESSIONS` at once and their `userId` becomes null. Called on logout.
 */
export function revokeLogin(userId: UserId, sessionId: SessionId): number {
  registryCluster()?.publishRevoke(userId, sessionId);
  return revokeLocalLogin(userId, sessionId);
}

/** @internal {@link revokeLogin} on this process only (what other nodes' messages ask for). */
export function revokeLocalLogin(userId: UserId, sessionId: SessionId): number {
  const dropped = LOGGED_IN_SESSIONS.drop(userId, (member) => (member as MojoSocketHandler).sessionId === sessionId);
  for (const member of dropped) (member as MojoSocketHandler).userId = null;
  return dropped.length;
}
