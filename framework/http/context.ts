import type { Request } from 'express';
import type { ResolvedConfig } from '../config.ts';
import type { Store } from 'express-session';
import type { SessionData } from 'express-session';
import type { UserStore } from './users.ts';

declare module 'express-session' {
  interface SessionData {
    /** The user this session is logged in as; a `logged_in` cookie counts only while it matches. */
    userId?: string;
    /** The session's CSRF token. */
    csrfToken?: string;
  }
}

/** What every request of a Mojo application can reach. */
export interface MojoContext {
  readonly config: ResolvedConfig;
  /** The project's root folder. */
  readonly root: string;
  readonly users: UserStore;
  readonly sessions: MojoSessionStore;
}

/** What a realtime connection needs of its visitor's session: that it is live, and its login. */
export interface LiveSession {
  /** The user the session is logged in as (`SessionData.userId` when it is a string), else null. */
  readonly userId: string | null;
}

/** Where sessions live (SQLite by default, Redis with `redis` in the config). */
export interface MojoSessionStore extends Store {
  /** The session `sid`, or null when unknown or expired (synchronous for SQLite). */
  getSession(sid: string): SessionData | null | Promise<SessionData | null>;
  /**
   * The session `sid` reduced to its login, or null when unknown or expired: what every realtime
   * connection asks on open, so a store answers it without rebuilding the whole session when it can.
   */
  getLiveSession(sid: string): LiveSession | null | Promise<LiveSession | null>;
  close(): void;
}

/** The Mojo context of the application serving `req`. */
export function contextOf(req: Request): MojoContext {
  const context = req.app.locals.mojo as MojoContext | undefined;
  if (!context) throw new Error('this request is not served by a Mojo application (app.locals.mojo is missing)');
  return context;
}
