/**
 * Shared helpers for the Mojo application tests: the fixture project (`test/fixtures/project`)
 * running on 127.0.0.1 port 0, a small browser (a cookie jar over `fetch` that follows no
 * redirects), the stock `socket.io-client` carrying that browser's cookies, and promise helpers
 * that time out. Everything a test starts (apps, clients, temp dirs, log sinks) is undone after
 * each test, and the registries are checked to be empty again, so a file always exits by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'node:test';
import { io as ioClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { CURRENT_SESSIONS, LOGGED_IN_SESSIONS, MojoApplication, setLogSink, type LogSink, type MojoConfig } from 'mojo-ts';
import { TIMEOUT, connected, expectNoEvent, nextEvent, waitFor, withTimeout } from './wait.ts';

export type { ClientSocket };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

// Debug apps turn the log up to `info` unless MOJO_LOG is set; keep test output to warnings.
process.env.MOJO_LOG ??= 'warn';

/** The fixture project: apps Probe (templates, static, channel) and Lobby (channel only). */
export const FIXTURE_ROOT = fileURLToPath(new URL('../fixtures/project/', import.meta.url));

export { TIMEOUT, connected, expectNoEvent, nextEvent, waitFor, withTimeout };

/** The password every test user gets. */
export const PASSWORD = 'correct horse battery';

export interface RunningApp {
  readonly mojo: MojoApplication;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Closes the application (idempotent). */
  close(): Promise<void>;
}

const apps = new Set<RunningApp>();
const clients = new Set<ClientSocket>();
const dirs = new Set<string>();
let restoreSink: LogSink | null = null;

/** The settings every test app starts from; `config` overrides them key by key. */
export function testConfig(config: MojoConfig = {}): MojoConfig {
  return { debug: false, cookieSecret: 'test-secret', installedApps: ['Probe', 'Lobby'], database: 'sqlite::memory:', ...config };
}

/** The fixture project (or `root`) as a running MojoApplication on 127.0.0.1, port 0. */
export async function startApp(config: MojoConfig = {}, root = FIXTURE_ROOT): Promise<RunningApp> {
  const mojo = await MojoApplication.create({ root, config: testConfig(config) });
  const { port } = await mojo.listen(0, '127.0.0.1');
  let closing: Promise<void> | null = null;
  const app: RunningApp = {
    mojo,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closing ??= (async () => {
        apps.delete(app);
        await mojo.close();
      })()),
  };
  apps.add(app);
  return app;
}

/** A fresh temporary folder, removed after the test. */
export function tempDir(prefix = 'mojo-app-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Registers user `name` with {@link PASSWORD} through the framework's UserStore. */
export async function createUser(app: RunningApp, name: string): Promise<void> {
  await app.mojo.context.users.create(name, PASSWORD);
}

/** Collects log lines instead of printing them, until the end of the test. */
export function captureLogs(): string[] {
  const lines: string[] = [];
  const previous = setLogSink((level, scope, message, extra) => {
    lines.push(`${level} [${scope}] ${message} ${extra.map((e) => (e instanceof Error ? e.stack : String(e))).join(' ')}`);
  });
  restoreSink ??= previous;
  return lines;
}

/**
 * A cookie jar: keeps what `set-cookie` headers set (and forgets what they expire), sends it back
 * as one `Cookie` header. Values are kept exactly as the server wrote them (URI-encoded or not).
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  delete(name: string): void {
    this.cookies.delete(name);
  }

  /** A copy: another browser tab, or an attacker who stole every cookie. */
  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [name, value] of this.cookies) copy.set(name, value);
    return copy;
  }

  /** Takes in the response's `set-cookie` headers. */
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', val = ''] = attribute.split('=').map((s) => s.trim());
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export interface RequestOptions {
  method?: string;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  headers?: Record<string, string>;
}

/** A browser on one Mojo application: a cookie jar, requests that keep cookies, realtime tabs. */
export class Browser {
  constructor(
    public app: RunningApp,
    readonly jar: CookieJar = new CookieJar(),
  ) {}

  /** A request to `path`; redirects are not followed (`redirect: 'manual'`). */
  async request(pathname: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const res = await fetch(this.app.url + pathname, {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT),
    });
    this.jar.store(res);
    return res;
  }

  /** GET `path` and its body as text. */
  async page(pathname: string, headers?: Record<string, string>): Promise<{ status: number; body: string; res: Response }> {
    const res = await this.request(pathname, { headers });
    return { status: res.status, body: await res.text(), res };
  }

  /** The CSRF token of the page at `path`: its `<meta name="csrf-token">` or hidden `_csrf` input. */
  async csrf(pathname = '/probe/login'): Promise<string> {
    const { status, body } = await this.page(pathname, { accept: 'text/html' });
    if (status !== 200) throw new Error(`GET ${pathname} answered ${status}, expected a page with a CSRF token`);
    return csrfFrom(body);
  }

  /** What the server makes of this browser: its session id, user, and the registries' keys. */
  async state(): Promise<{ sessionId: string; currentUser: string | null; current: string[]; loggedIn: string[] }> {
    const res = await this.request('/probe/state');
    if (res.status !== 200) throw new Error(`GET /probe/state answered ${res.status}`);
    return (await res.json()) as { sessionId: string; currentUser: string | null; current: string[]; loggedIn: string[] };
  }

  /** Logs in through the fixture's login form (CSRF token included); returns the response. */
  async login(username: string, password = PASSWORD): Promise<Response> {
    const _csrf = await this.csrf('/probe/login');
    return this.request('/probe/login', { form: { _csrf, username, password } });
  }

  /** Logs out through the fixture's logout handler (CSRF token from a fresh page). */
  async logout(): Promise<Response> {
    const _csrf = await this.csrf('/probe/login');
    return this.request('/probe/logout', { form: { _csrf } });
  }

  /** A realtime tab on app `channel` (`/<App>Socket`) carrying this browser's cookies, connected. */
  tab(app = 'Probe', options: ClientOptions = {}): Promise<ClientSocket> {
    return connected(socket(`${this.app.url}/${app}Socket`, this.jar, options));
  }
}

/** The CSRF token in a page: `<meta name="csrf-token" content>` or `<input name="_csrf" value>`. */
export function csrfFrom(html: string): string {
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error(`no CSRF token in the page: ${html.slice(0, 200)}`);
  return token;
}

/**
 * A stock socket.io-client for `url` (`<app url>/<App>Socket`) sending `jar`'s cookies with the
 * handshake: its own connection, no reconnection, websocket only unless `options` say otherwise.
 * Disconnected after the test.
 */
export function socket(url: string, jar: CookieJar | null, options: ClientOptions = {}): ClientSocket {
  const cookie = jar?.header();
  const client = ioClient(url, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    timeout: TIMEOUT,
    autoUnref: true,
    ...(cookie ? { extraHeaders: { cookie } } : {}),
    ...options,
  });
  clients.add(client);
  return client;
}

/** Who the server thinks `client` is (the fixture channels' `whoami` event). */
export function whoami(client: ClientSocket): Promise<{ sessionId: string | null; userId: string | null; channel: string }> {
  return withTimeout(new Promise((resolve) => client.emit('whoami', resolve)), 'ack of "whoami"');
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A GET with `rawPath` sent byte for byte (fetch and URL would normalise `..` and `%2e`). */
export function rawGet(app: RunningApp, rawPath: string): Promise<RawResponse> {
  const { hostname, port } = new URL(app.url);
  return withTimeout(
    new Promise<RawResponse>((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, path: rawPath, method: 'GET', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    `GET ${rawPath}`,
  );
}

/** Disconnects every client, closes every app, removes temp dirs; checks the registries emptied. */
export async function cleanup(): Promise<void> {
  for (const client of clients) client.disconnect();
  clients.clear();
  await Promise.all([...apps].map((app) => app.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
  if (restoreSink) setLogSink(restoreSink);
  restoreSink = null;
  try {
    await waitFor(() => CURRENT_SESSIONS.size === 0 && LOGGED_IN_SESSIONS.size === 0, 'the registries to empty once every app closed', 1000);
  } catch (err) {
    const left = `CURRENT_SESSIONS ${JSON.stringify([...CURRENT_SESSIONS.keys()])}, LOGGED_IN_SESSIONS ${JSON.stringify([...LOGGED_IN_SESSIONS.keys()])}`;
    CURRENT_SESSIONS.clear();
    LOGGED_IN_SESSIONS.clear();
    throw new Error(`${(err as Error).message}; left: ${left}`);
  }
}

afterEach(cleanup);
