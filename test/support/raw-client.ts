/**
 * Raw Engine.IO v4 / Socket.IO v5 clients for tests that must send what no well-behaved client
 * would: a websocket speaking frames as given, and a long-polling session driven by `fetch`.
 * Every wait is bounded: a helper that waits rejects after its timeout instead of hanging.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';

/** The record separator of polling payloads (protocol v4). */
export const SEP = '\x1e';

/** Default bound on every wait, in ms. */
export const WAIT = 2000;

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `check()` is true (checked every 10 ms), rejects after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A short bounded pause, only to show that something did NOT happen. */
export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Headers;
}

/** `fetch` that always reads the body and never waits longer than `ms`. */
export async function http(url: string, init: RequestInit = {}, ms = WAIT): Promise<HttpAnswer> {
  const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms);
  const res = await fetch(url, { ...init, signal });
  const body = await res.text();
  return { status: res.status, body, headers: res.headers };
}

export interface RawHttpAnswer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

/**
 * A request made with node:http, for what `fetch` will not send (a URL over the header limit,
 * a body sent in chunks). Resolves with the answer, or rejects if the socket breaks first.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: readonly (string | Buffer)[] } = {},
  ms = WAIT,
): Promise<RawHttpAnswer> {
  return within(
    new Promise<RawHttpAnswer>((resolve, reject) => {
      const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      for (const chunk of options.chunks ?? []) req.write(chunk);
      req.end();
    }),
    ms,
    `${options.method ?? 'GET'} ${url.slice(0, 80)}`,
  );
}

/**
 * Writes `payload` on a bare TCP connection and resolves with everything the server wrote back
 * before it closed the connection.
 */
export function rawTcp(port: number, payload: string | Buffer, ms = WAIT): Promise<string> {
  const socket = connect(port, '127.0.0.1', () => socket.write(payload));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return within(
    new Promise<string>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    }),
    ms,
    'the server to answer and close a raw TCP connection',
  ).finally(() => socket.destroy());
}

type Frame = string | Buffer;

/** Parses an open packet `0{...}` and returns its JSON. */
export function parseOpen(packet: string): { sid: string; upgrades: string[]; pingInterval: number; pingTimeout: number; maxPayload: number } {
  if (!packet.startsWith('0')) throw new Error(`expected an open packet, got ${JSON.stringify(packet.slice(0, 80))}`);
  return JSON.parse(packet.slice(1));
}

/**
 * A websocket that speaks the raw protocol. Messages are queued as they arrive (ws may deliver
 * several in one tick), so none is missed between two `next()` calls.
 */
export class RawWebSocket {
  readonly ws: WebSocket;
  sid = '';
  closeCode: number | null = null;
  private readonly queue: Frame[] = [];
  private readonly waiters: Array<(frame: Frame) => void> = [];
  private readonly closed: Promise<number>;
  /** Errors the client side saw (a refused upgrade, a reset). */
  readonly errors: Error[] = [];

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame: Frame = isBinary ? data : data.toString('utf8');
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.queue.push(frame);
    });
    this.ws.on('error', (err) => this.errors.push(err));
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code: number) => {
        this.closeCode = code;
        resolve(code);
      });
    });
  }

  /** Opens a websocket session at `url` and reads its open packet. */
  static async open(url: string, ms = WAIT): Promise<RawWebSocket> {
    const raw = new RawWebSocket(url);
    try {
      const first = await raw.next(ms);
      if (typeof first !== 'string') throw new Error('the first frame was binary, not the open packet');
      raw.sid = parseOpen(first).sid;
      return raw;
    } catch (err) {
      raw.terminate();
      throw err;
    }
  }

  /**
   * Opens an upgrade websocket for an existing polling session (`url` carries its `sid`): no open
   * packet comes on it, so this only waits for the websocket handshake.
   */
  static async openProbe(url: string, ms = WAIT): Promise<RawWebSocket> {
    const raw = new RawWebSocket(url);
    const sid = new URL(url).searchParams.get('sid');
    raw.sid = sid ?? '';
    try {
      await within(
        new Promise<void>((resolve, reject) => {
          raw.ws.once('open', () => resolve());
          raw.ws.once('close', (code: number) => reject(new Error(`the probe websocket closed (code ${code}) before opening`)));
        }),
        ms,
        'the probe websocket to open',
      );
      return raw;
    } catch (err) {
      raw.terminate();
      throw err;
    }
  }

  /**
   * Tries to open a websocket the server should refuse at the HTTP level; resolves with the status
   * and body of its answer.
   */
  static refused(url: string, ms = WAIT): Promise<{ status: number; body: string }> {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    return within(
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.on('open', () => {
          ws.terminate();
          reject(new Error(`the websocket upgrade to ${url} was accepted`));
        });
        ws.on('unexpected-response', (req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
        });
      }),
      ms,
      `a refused upgrade at ${url.slice(0, 80)}`,
    ).finally(() => ws.terminate());
  }

  /**
   * Opens a websocket the server should accept and then close (a second upgrade for a session,
   * say); resolves with whether it opened, the frames it got before the close and the close code.
   */
  static acceptedThenClosed(url: string, ms = WAIT): Promise<{ opened: boolean; frames: Frame[]; code: number }> {
    const ws = new WebSocket(url);
    const frames: Frame[] = [];
    let opened = false;
    ws.on('open', () => (opened = true));
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => frames.push(isBinary ? data : data.toString('utf8')));
    return within(
      new Promise<{ opened: boolean; frames: Frame[]; code: number }>((resolve) => ws.once('close', (code: number) => resolve({ opened, frames, code }))),
      ms,
      `the server to close the websocket at ${url.slice(0, 80)}`,
    ).finally(() => ws.terminate());
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one frame: a string as text, a Buffer as binary (or as text with `{ binary: false }`). */
  send(frame: Frame, options: { binary?: boolean } = {}): void {
    this.ws.send(frame, { binary: options.binary ?? typeof frame !== 'string' });
  }

  /** The next frame, skipping server pings (answered with a pong). */
  async next(ms = WAIT): Promise<Frame> {
    for (;;) {
      const frame = await this.nextRaw(ms);
      if (frame === '2') {
        if (this.isOpen) this.ws.send('3');
        continue;
      }
      return frame;
    }
  }

  private nextRaw(ms: number): Promise<Frame> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    let waiter!: (frame: Frame) => void;
    const promise = new Promise<Frame>((resolve) => {
      waiter = resolve;
      this.waiters.push(resolve);
    });
    return within(
      Promise.race([promise, this.closed.then((code) => Promise.reject(new Error(`the websocket closed (code ${code}) while a frame was awaited`)))]),
      ms,
      'the next websocket frame',
    ).finally(() => {
      const at = this.waiters.indexOf(waiter);
      if (at !== -1) this.waiters.splice(at, 1);
    });
  }

  /** Joins namespace `nsp` (`40` or `40/nsp,`) and resolves with the Socket.IO socket id. */
  async connect(nsp = '/', ms = WAIT): Promise<string> {
    const prefix = nsp === '/' ? '40' : `40${nsp},`;
    this.send(prefix);
    const reply = await this.next(ms);
    if (typeof reply !== 'string' || !reply.startsWith(prefix + '{')) throw new Error(`expected ${prefix}{"sid":...}, got ${String(reply).slice(0, 80)}`);
    return (JSON.parse(reply.slice(prefix.length)) as { sid: string }).sid;
  }

  /** Resolves with the close code once the server has closed this websocket. */
  waitClose(ms = WAIT): Promise<number> {
    return within(this.closed, ms, `the server to close websocket session ${this.sid}`);
  }

  terminate(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** A long-polling session driven by `fetch`. */
export class RawPolling {
  private readonly pending = new Set<AbortController>();

  private constructor(
    readonly base: string,
    readonly sid: string,
  ) {}

  /** Opens a polling session: the handshake GET, whose body must be the open packet. */
  static async open(base: string, ms = WAIT): Promise<RawPolling> {
    const answer = await http(`${base}?EIO=4&transport=polling`, {}, ms);
    if (answer.status !== 200) throw new Error(`polling handshake answered ${answer.status}: ${answer.body}`);
    return new RawPolling(base, parseOpen(answer.body).sid);
  }

  get url(): string {
    return `${this.base}?EIO=4&transport=polling&sid=${encodeURIComponent(this.sid)}`;
  }

  /** A GET (long poll); abort it with `abort()` if it is expected to hang. */
  get(ms = WAIT): Promise<HttpAnswer> {
    const controller = new AbortController();
    this.pending.add(controller);
    return http(this.url, { signal: controller.signal }, ms).finally(() => this.pending.delete(controller));
  }

  post(body: string | Buffer, headers: Record<string, string> = {}, ms = WAIT): Promise<HttpAnswer> {
    return http(this.url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers } }, ms);
  }

  /** Joins namespace `/` (POST `40`, then a GET returning `40{"sid":...}`). */
  async connect(ms = WAIT): Promise<string> {
    const posted = await this.post('40', {}, ms);
    if (posted.status !== 200 || posted.body !== 'ok') throw new Error(`POST 40 answered ${posted.status}: ${posted.body}`);
    const answer = await this.get(ms);
    if (answer.status !== 200 || !answer.body.startsWith('40{')) throw new Error(`expected 40{"sid":...}, got ${answer.status} ${answer.body.slice(0, 80)}`);
    return (JSON.parse(answer.body.split(SEP)[0]!.slice(2)) as { sid: string }).sid;
  }

  /** Aborts every GET still waiting. */
  abort(): void {
    for (const controller of this.pending) controller.abort();
    this.pending.clear();
  }
}
