import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session's CSRF token, created on first use. Put it in forms as `_csrf`. */
export function csrfToken(req: Request): string {
  return (req.session.csrfToken ??= randomBytes(24).toString('base64url'));
}

/**
 * Refuses (403) any state-changing request whose `_csrf` form field or `X-CSRF-Token` header does
 * not match the session's token: another site cannot make a visitor's browser post for them.
 */
export function verifyCsrf(req: Request, _res: Response, next: NextFunction): void {
  if (SAFE_METHODS.has(req.method)) {
    next();
    return;
  }
  const expected = req.session?.csrfToken;
  const body = req.body as Record<string, unknown> | undefined;
  const given = (typeof body?._csrf === 'string' ? body._csrf : undefined) ?? req.get('x-csrf-token');
  if (!expected || !given || !same(expected, given)) {
    next(new HttpError(403, 'The form expired or did not come from this site; reload the page and try again'));
    return;
  }
  next();
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
