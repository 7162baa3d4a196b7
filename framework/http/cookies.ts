import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cookieSignature from 'cookie-signature';
import { findCookie } from '../realtime/connection-info.ts';

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

/**
 * Signed values already verified, per list of secrets: a client reconnecting presents the same
 * cookies again, and an HMAC (OpenSSL's setup of it, mostly) is most of what a realtime
 * connection's identity costs. Only a cookie whose signature checked out is remembered, so a
 * forged one always takes the full check. Oldest entries go first past the bound.
 */
const verified = new WeakMap<readonly string[], { secrets: string[]; values: Map<string, string> }>();
/** At most this many cookies remembered per list of secrets (about 170 bytes each). */
export const MAX_VERIFIED_COOKIES = 32_768;

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
  const signed = SIGNED_PREFIX + cookieSignature.sign(value, secret);
  // Signed here, so it verifies: the client presenting it next (a realtime connection) skips the HMAC.
  remember(verifiedUnder(secrets), signed);
  return signed;
}

/** A middleware as express runs it. */
type Middleware<Req extends IncomingMessage, Res extends ServerResponse> = (req: Req, res: Res, next: (err?: unknown) => void) => void;

/** The Set-Cookie header before express-session's headers listener ran, or this when unknown. */
const UNSEEN = Symbol('unseen');

/**
 * `sessionMiddleware` (express-session's, whose cookie is `name`, signed with `secrets`), which
 * also remembers the cookie it sets on a response, as {@link signValue} remembers what it signs:
 * the realtime connection a page opens right after loading (with the cookie just set) then
 * skips the HMAC. express-session sets its cookie from a `writeHead` wrapper; one wrapper around
 * it reads the headers before, one inside it after: only a cookie added there (the header's last
 * one), naming the request's own session (`req.sessionID`) in the signed format, is remembered,
 * and nothing when `writeHead` was handed headers of its own. What runs in between is
 * express-session's listener, and app code only if express-session calls it (a session value's
 * `toJSON`): such code writing a session cookie of its own there is trusted as express-session is.
 *
 * @example
 * app.use(rememberSessionCookies(session({ name: 'session_id', secret: [...secrets], store }), 'session_id', secrets));
 */
export function rememberSessionCookies<Req extends IncomingMessage, Res extends ServerResponse>(
  sessionMiddleware: Middleware<Req, Res>,
  name: string,
  secrets: readonly string[],
): Middleware<Req, Res> {
  return (req, res, next) => {
    const response: ServerResponse = res;
    let before: unknown = UNSEEN;
    const writeHead = response.writeHead as (...args: unknown[]) => ServerResponse;
    response.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
      const sessionId = (req as IncomingMessage & { sessionID?: unknown }).sessionID;
      const after = this.getHeader('Set-Cookie');
      if (before !== UNSEEN && after !== before && typeof sessionId === 'string') rememberSetCookie(after, name, sessionId, secrets);
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    sessionMiddleware(req, res, (err) => {
      const sessionWriteHead = response.writeHead as (...args: unknown[]) => ServerResponse;
      response.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
        // Headers handed to writeHead itself (on-headers takes anything after the status and an
        // optional message) are set in between: then what changed is not known.
        before = args.length === 1 || (args.length === 2 && typeof args[1] === 'string') ? this.getHeader('Set-Cookie') : UNSEEN;
        return sessionWriteHead.apply(this, args);
      } as ServerResponse['writeHead'];
      next(err);
    });
  };
}

/** Remembers the last cookie of a Set-Cookie header if it is `name` and `sessionId` signed. */
function rememberSetCookie(header: number | string | string[] | undefined, name: string, sessionId: string, secrets: readonly string[]): void {
  if (header === undefined) return;
  // express-session appends its cookie to those set before: it is the last one, or not there.
  const entry = Array.isArray(header) ? header[header.length - 1] : String(header);
  // Its first pair is the cookie; the attributes after it are not looked at.
  const value = entry?.startsWith(`${name}=`) ? findCookie(entry, name) : undefined;
  if (value === undefined) return;
  const signedPart = SIGNED_PREFIX + sessionId + '.';
  if (value.length === signedPart.length + SIGNATURE_LENGTH && value.startsWith(signedPart) && !value.includes('.', signedPart.length)) {
    remember(verifiedUnder(secrets), value);
  }
}

/**
 * The value of a cookie made by {@link signValue} under ANY of `secrets` (so a rotated-out secret
 * still verifies while it is listed), or null. Takes the cookie value as the cookie parser hands
 * it over (already URI-decoded). Never throws: a missing, malformed or forged cookie is simply
 * an anonymous visitor. Accepts exactly what cookie-signature's `unsign` accepts (express-session
 * reads the same cookie), comparing signatures in constant time. Cookies that verified are
 * remembered (up to {@link MAX_VERIFIED_COOKIES} per list of secrets), so a client presenting the
 * same cookie again skips the HMAC; a change to the list starts the memory afresh.
 *
 * @example
 * unsignValue(req.cookies.logged_in, config.cookieSecret) ?? 'anonymous';
 */
export function unsignValue(raw: string | undefined, secrets: readonly string[]): string | null {
  if (typeof raw !== 'string' || !raw.startsWith(SIGNED_PREFIX)) return null;
  const cache = verifiedUnder(secrets);
  const known = cache.get(raw);
  if (known !== undefined) return known;
  const value = verify(raw, secrets);
  if (value !== null) remember(cache, raw);
  return value;
}

/** The full check of {@link unsignValue}: the format, then the signature under each secret. */
function verify(raw: string, secrets: readonly string[]): string | null {
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

/**
 * The cache of cookies verified under exactly `secrets`: keyed by the list, and dropped when the
 * list's contents changed since (a secret rotated out no longer vouches for anything).
 */
function verifiedUnder(secrets: readonly string[]): Map<string, string> {
  let entry = verified.get(secrets);
  if (entry === undefined || !sameList(entry.secrets, secrets)) {
    entry = { secrets: [...secrets], values: new Map() };
    verified.set(secrets, entry);
  }
  return entry.values;
}

/** @internal How many verified cookies are remembered under `secrets` (for tests). */
export function rememberedCookies(secrets: readonly string[]): number {
  const entry = verified.get(secrets);
  return entry !== undefined && sameList(entry.secrets, secrets) ? entry.values.size : 0;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Remembers a verified cookie under a private copy of its text (the raw one is often a slice of a whole Cookie header). */
function remember(cache: Map<string, string>, raw: string): void {
  if (cache.size >= MAX_VERIFIED_COOKIES) cache.delete(cache.keys().next().value!);
  // JSON round-trips any string exactly, lone surrogates included, into a string of its own.
  const key = JSON.parse(JSON.stringify(raw)) as string;
  cache.set(key, key.slice(SIGNED_PREFIX.length, key.lastIndexOf('.')));
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
