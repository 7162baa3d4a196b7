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
    const cookies = this.cookies;
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
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}
