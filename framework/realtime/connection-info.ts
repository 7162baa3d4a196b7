import type { IncomingHttpHeaders } from 'node:http';

/**
 * What `onOpen` learns of a connection (TornadIO2's `ConnectionInfo`): the client's address, the
 * handshake's query, cookies and headers, and the CONNECT payload. Every endpoint of a client sees
 * the same handshake (TornadIO2 PR #56).
 * @example onOpen(info: ConnectionInfo) { if (!info.getCookie('session_id')) return false; }
 */
export class ConnectionInfo {
  private parsedCookies: Readonly<Record<string, string>> | null = null;

  constructor(
    /** The client's IP address. */
    readonly ip: string,
    /** Query parameters of the handshake request. */
    readonly query: Readonly<Record<string, string>>,
    /** Headers of the handshake request. */
    readonly headers: IncomingHttpHeaders,
    /** The CONNECT payload (socket.io-client's `auth` option). */
    readonly auth: Readonly<Record<string, unknown>>,
    /** The endpoint (namespace) this connection is for. */
    readonly path: string,
  ) {}

  /** Cookies sent with the handshake, by name. */
  get cookies(): Readonly<Record<string, string>> {
    return (this.parsedCookies ??= parseCookies(this.headers.cookie));
  }

  /** A query parameter, or `fallback` when absent. */
  getArgument(name: string): string | undefined;
  getArgument(name: string, fallback: string): string;
  getArgument(name: string, fallback?: string): string | undefined {
    return Object.prototype.hasOwnProperty.call(this.query, name) ? this.query[name] : fallback;
  }

  /** A cookie's value, or `fallback` when absent. */
  getCookie(name: string): string | undefined;
  getCookie(name: string, fallback: string): string;
  getCookie(name: string, fallback?: string): string | undefined {
    const cookies = this.parsedCookies;
    // One cookie is read without parsing the others (what every Mojo connection does on open).
    if (cookies === null) return findCookie(this.headers.cookie, name) ?? fallback;
    return Object.prototype.hasOwnProperty.call(cookies, name) ? cookies[name] : fallback;
  }
}

/** Parses a `Cookie` header; malformed pairs are skipped, the first of repeated names wins. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = Object.create(null);
  if (!header) return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (!name || name in cookies) continue;
    cookies[name] = cookieValue(pair.slice(eq + 1));
  }
  return cookies;
}

/**
 * The cookie `name` of a `Cookie` header, or undefined: `parseCookies(header)[name]` without
 * decoding, or building an object for, the other cookies.
 * @example findCookie('theme=dark; session_id=s%3Aabc.sig', 'session_id'); // 's:abc.sig'
 */
export function findCookie(header: string | undefined, name: string): string | undefined {
  if (!header || name === '' || !header.includes(name)) return undefined;
  // The next "=" is looked up again only once `start` has passed it: one pass over the header.
  let eq = -1;
  for (let start = 0; start < header.length; ) {
    if (eq < start) eq = header.indexOf('=', start);
    if (eq === -1) return undefined;
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    if (eq > start && eq < end && header.slice(start, eq).trim() === name) return cookieValue(header.slice(eq + 1, end));
    start = end + 1;
  }
  return undefined;
}

/** A cookie's raw value: trimmed, unquoted, URI-decoded when it decodes. */
function cookieValue(raw: string): string {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
