import cookieSignature from 'cookie-signature';

/** Marks a signed value, as express-session writes its cookie (`s:<value>.<signature>`). */
const SIGNED_PREFIX = 's:';

/**
 * Signs `value` with the first of `secrets`, in the express-session cookie format, so one
 * cookie format serves the session cookie, the login cookie and the realtime layer that reads both.
 * Throws if there is no secret to sign with (a programmer error: config guarantees one).
 *
 * @example
 * signValue('alice', ['new-secret', 'old-secret']); // 's:alice.<HMAC-SHA256 of "alice" under new-secret>'
 */
export function signValue(value: string, secrets: readonly string[]): string {
  const secret = secrets[0];
  if (secret === undefined || secret === '') throw new TypeError('signValue needs at least one non-empty secret');
  return SIGNED_PREFIX + cookieSignature.sign(value, secret);
}

/**
 * The value of a cookie made by {@link signValue} under ANY of `secrets` (so a rotated-out secret
 * still verifies while it is listed), or null. Takes the cookie value as the cookie parser hands
 * it over (already URI-decoded). Never throws: a missing, malformed or forged cookie is simply
 * an anonymous visitor.
 *
 * @example
 * unsignValue(req.cookies.logged_in, config.cookieSecret) ?? 'anonymous';
 */
export function unsignValue(raw: string | undefined, secrets: readonly string[]): string | null {
  if (typeof raw !== 'string' || !raw.startsWith(SIGNED_PREFIX)) return null;
  const signed = raw.slice(SIGNED_PREFIX.length);
  if (!signed.includes('.')) return null;
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret === '') continue;
    try {
      const value = cookieSignature.unsign(signed, secret);
      if (value !== false) return value;
    } catch {
      // cookie-signature throws only on non-string input; treat it as a forged cookie.
    }
  }
  return null;
}
