import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import cookieSignature from 'cookie-signature';

/** Marks a signed value, as express-session writes its cookie (`s:<value>.<signature>`). */
const SIGNED_PREFIX = 's:';

/**
 * Length of a signature: the base64 of a 32-byte HMAC-SHA256 is 44 characters ending in one `=`,
 * which cookie-signature (express-session's signer) strips.
 */
const SIGNATURE_LENGTH = 43;

/** The HMAC key of each secret, made once: building it from the string on every call is most of an unsign. */
const keys = new Map<string, KeyObject>();
/** Secrets come from the config, so a handful at most; the bound only guards against a caller passing fresh ones. */
const MAX_KEYS = 64;

/** Scratch space for the timing-safe compare (synchronous, so one pair serves every call). */
const expectedBytes = Buffer.alloc(SIGNATURE_LENGTH);
const givenBytes = Buffer.alloc(SIGNATURE_LENGTH);

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
  // cookie-signature, the signer express-session uses for its cookie, writes the format.
  return SIGNED_PREFIX + cookieSignature.sign(value, secret);
}

/**
 * The value of a cookie made by {@link signValue} under ANY of `secrets` (so a rotated-out secret
 * still verifies while it is listed), or null. Takes the cookie value as the cookie parser hands
 * it over (already URI-decoded). Never throws: a missing, malformed or forged cookie is simply
 * an anonymous visitor. Accepts exactly what cookie-signature's `unsign` accepts (express-session
 * reads the same cookie), comparing signatures in constant time.
 *
 * @example
 * unsignValue(req.cookies.logged_in, config.cookieSecret) ?? 'anonymous';
 */
export function unsignValue(raw: string | undefined, secrets: readonly string[]): string | null {
  if (typeof raw !== 'string' || !raw.startsWith(SIGNED_PREFIX)) return null;
  const dot = raw.lastIndexOf('.');
  // The signature has no dot, so the last one ends the value (which may hold dots of its own).
  if (dot < SIGNED_PREFIX.length || raw.length - dot - 1 !== SIGNATURE_LENGTH) return null;
  // A non-ASCII character is several UTF-8 bytes: the write stops short of filling the buffer,
  // or fills it with a byte no base64 signature has. Either way nothing of an earlier call is compared.
  if (givenBytes.write(raw.slice(dot + 1), 0, SIGNATURE_LENGTH, 'utf8') !== SIGNATURE_LENGTH) return null;
  const value = raw.slice(SIGNED_PREFIX.length, dot);
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret === '') continue;
    expectedBytes.write(signatureOf(value, keyOf(secret)), 0, SIGNATURE_LENGTH, 'latin1');
    if (timingSafeEqual(expectedBytes, givenBytes)) return value;
  }
  return null;
}

/** cookie-signature's signature of `value` (base64 HMAC-SHA256 without its `=` padding), with a key made once. */
function signatureOf(value: string, key: KeyObject): string {
  return createHmac('sha256', key).update(value).digest('base64').slice(0, SIGNATURE_LENGTH);
}

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    // A string secret is its UTF-8 bytes, as createHmac takes it.
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    keys.set(secret, key);
  }
  return key;
}
