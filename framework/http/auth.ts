import type { Request, Response } from 'express';
import { findCookie } from '../realtime/index.ts';
import { renameSession, revokeLogin } from '../sessions/index.ts';
import { contextOf } from './context.ts';
import { signValue, unsignValue } from './cookies.ts';
import type { UserId } from './users.ts';

/** The express-session cookie (signed with cookie-signature, `s:` prefix). */
export const SESSION_COOKIE = 'session_id';
/** The signed login cookie; it counts only while the session it was issued with confirms it. */
export const LOGIN_COOKIE = 'logged_in';

const USER = Symbol('mojo.user');

/**
 * The logged-in user of `req`, or null: the signed `logged_in` cookie must be valid under one of
 * the secrets AND the session must still record that login (so a logged-out or revoked cookie,
 * or one copied to another browser, counts for nothing).
 */
export function currentUser(req: Request): UserId | null {
  const cached = (req as Request & { [USER]?: UserId | null })[USER];
  if (cached !== undefined) return cached;
  const { config } = contextOf(req);
  const claimed = unsignValue(findCookie(req.headers.cookie, LOGIN_COOKIE), config.cookieSecret);
  const user = claimed !== null && req.session?.userId === claimed ? claimed : null;
  (req as Request & { [USER]?: UserId | null })[USER] = user;
  return user;
}

/**
 * Logs `userId` in on this browser: a new session id (no fixation), the login recorded in the
 * session, and the signed `logged_in` cookie.
 * @example await login(req, res, user.id);
 */
export async function login(req: Request, res: Response, userId: UserId): Promise<void> {
  const { config, users } = contextOf(req);
  // Whoever was logged in on this browser before is not any more, on its open tabs included.
  const previous = req.session.userId;
  const before = req.sessionID;
  if (previous !== undefined) revokeLogin(previous, before);
  await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
  renameSession(before, req.sessionID);
  req.session.userId = userId;
  await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
  users.recordLogin(userId);
  res.cookie(LOGIN_COOKIE, signValue(userId, config.cookieSecret), {
    httpOnly: true,
    sameSite: 'lax',
    secure: config.session.secure,
    maxAge: config.session.maxAgeDays * 86_400_000,
    encode: String,
  });
  (req as Request & { [USER]?: UserId | null })[USER] = userId;
}

/**
 * Logs this browser out: the session forgets the login, the cookie is cleared, and this
 * session's realtime connections leave `LOGGED_IN_SESSIONS` at once.
 * @example await logout(req, res);
 */
export async function logout(req: Request, res: Response): Promise<void> {
  const userId = req.session?.userId;
  if (userId !== undefined) {
    revokeLogin(userId, req.sessionID);
    delete req.session.userId;
    await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
  }
  res.clearCookie(LOGIN_COOKIE, { httpOnly: true, sameSite: 'lax' });
  (req as Request & { [USER]?: UserId | null })[USER] = null;
}
