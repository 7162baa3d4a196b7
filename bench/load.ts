/**
 * The load generator: raw Engine.IO 4 / Socket.IO 5 clients written on `node:net`, so that the
 * client side costs as little as possible and is never what limits a measurement.
 * - websocket clients: the HTTP upgrade written by hand, frames parsed in place, client frames
 *   masked with a zero key (a valid key that makes masking free), messages recognised by their
 *   first bytes instead of being decoded;
 * - long-polling clients: two keep-alive HTTP/1.1 connections each (one GET held, one POST);
 * - every socket goes to 127.0.0.1, from source addresses 127.0.0.2–9 (more ephemeral ports).
 *
 * It is driven by the orchestrator (bench/run.ts): one JSON command per line on stdin, one JSON
 * answer per line on stdout. It exits when stdin closes. Every wait is bounded.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { NAMESPACE, PAYLOAD } from './constants.ts';

const HOST = '127.0.0.1';
const SOURCE_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RS = '\x1e';

const PAYLOAD_JSON = JSON.stringify(PAYLOAD);
const CONNECT_PACKET = `40${NAMESPACE},`;
const ECHO_PACKET = `42${NAMESPACE},["echo",${PAYLOAD_JSON}]`;
const FANOUT_PACKET = `42${NAMESPACE},["fanout",${PAYLOAD_JSON}]`;
/** Byte offset of the first letter of the event name in `42/BenchSocket,["…`. */
const EVENT_NAME_AT = `42${NAMESPACE},["`.length;

// ---- websocket framing ----------------------------------------------------------------------------

/** A masked client text frame; the zero masking key leaves the payload as it is. */
function textFrame(payload: string): Buffer {
  const length = Buffer.byteLength(payload);
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + 4 + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.writeUInt32BE(0, head);
  frame.write(payload, head + 4, 'utf8');
  return frame;
}

function controlFrame(opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  payload.copy(frame, 6);
  return frame;
}

const PONG_FRAME = textFrame('3');
const CONNECT_FRAME = textFrame(CONNECT_PACKET);
const ECHO_FRAME = textFrame(ECHO_PACKET);
const FANOUT_FRAME = textFrame(FANOUT_PACKET);
const CLOSE_FRAME = controlFrame(0x8, Buffer.from([0x03, 0xe8]));

const enum WsState {
  Upgrading,
  Open,
  Joined,
  Closed,
}

/** What a websocket client tells the generator. */
interface WsEvents {
  onJoined(client: WsClient): void;
  onFailed(client: WsClient, why: string): void;
  onClosed(client: WsClient): void;
  onFanout(client: WsClient): void;
  onEcho(client: WsClient): void;
}

/** One raw websocket client joining the benchmark namespace. */
class WsClient {
  state = WsState.Upgrading;
  /** Bytes of an incomplete frame (or of the upgrade answer) from the last chunk. */
  private rest: Buffer | null = null;
  /** An echo of this client is on its way back. */
  echoing = false;
  echoSentAt = 0;
  readonly socket: Socket;

  constructor(
    readonly index: number,
    port: number,
    cookie: string | undefined,
    private readonly events: WsEvents,
  ) {
    const socket = (this.socket = connect({ host: HOST, port, localAddress: SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length] }));
    socket.setNoDelay(true);
    socket.on('connect', () => {
      socket.write(
        `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => this.closed());
  }

  send(frame: Buffer): void {
    if (this.state !== WsState.Closed) this.socket.write(frame);
  }

  /** Sends `ack` with ack id `id`. */
  sendAck(id: number): void {
    this.send(textFrame(`42${NAMESPACE},${id}["ack",${PAYLOAD_JSON}]`));
  }

  /** Closes politely: Engine.IO close packet, websocket close frame, end. */
  close(): void {
    if (this.state === WsState.Closed) return;
    this.state = WsState.Closed;
    this.socket.write(textFrame('1'));
    this.socket.end(CLOSE_FRAME);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private fail(why: string): void {
    if (this.state === WsState.Closed) return;
    const wasJoined = this.state === WsState.Joined;
    this.state = WsState.Closed;
    this.socket.destroy();
    if (wasJoined) this.events.onClosed(this);
    else this.events.onFailed(this, why);
  }

  private closed(): void {
    this.fail('connection closed');
  }

  private onData(chunk: Buffer): void {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    if (this.state === WsState.Upgrading) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        this.rest = buf;
        return;
      }
      if (buf.toString('latin1', 9, 12) !== '101') {
        this.fail(`upgrade refused: ${buf.toString('latin1', 0, Math.min(end, 200))}`);
        return;
      }
      this.state = WsState.Open;
      buf = buf.subarray(end + 4);
    }
    let at = 0;
    const size = buf.length;
    while (size - at >= 2) {
      const b1 = buf[at + 1]!;
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (size - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        head = 4;
      } else if (length === 127) {
        if (size - at < 10) break;
        length = buf.readUInt32BE(at + 6) + buf.readUInt32BE(at + 2) * 2 ** 32;
        head = 10;
      }
      if (b1 & 0x80) head += 4; // servers never mask; tolerate it anyway (payload ignored below if so)
      if (size - at < head + length) break;
      this.onFrame(buf[at]! & 0x0f, buf, at + head, at + head + length);
      if (this.state === WsState.Closed) return;
      at += head + length;
    }
    if (at < size) this.rest = buf.subarray(at);
  }

  private onFrame(opcode: number, buf: Buffer, start: number, end: number): void {
    if (opcode === 0x8) {
      this.fail('close frame');
      return;
    }
    if (opcode === 0x9) {
      this.send(controlFrame(0xa, buf.subarray(start, end)));
      return;
    }
    if (opcode !== 0x1 || end === start) return;
    switch (buf[start]) {
      case 0x34 /* 4 message */:
        switch (buf[start + 1]) {
          case 0x32 /* 2 EVENT */: {
            const first = buf[start + EVENT_NAME_AT];
            if (first === 0x66 /* f */) this.events.onFanout(this);
            else if (first === 0x65 /* e */) this.events.onEcho(this);
            return;
          }
          case 0x33 /* 3 ACK */:
            this.events.onEcho(this);
            return;
          case 0x30 /* 0 CONNECT */:
            if (this.state === WsState.Open) {
              this.state = WsState.Joined;
              this.events.onJoined(this);
            }
            return;
          case 0x34 /* 4 CONNECT_ERROR */:
            this.fail(`connect_error: ${buf.toString('utf8', start, end)}`);
            return;
        }
        return;
      case 0x32 /* 2 ping */:
        if (end - start === 1) this.send(PONG_FRAME);
        return;
      case 0x30 /* 0 open */:
        this.send(CONNECT_FRAME);
        return;
      case 0x31 /* 1 close */:
        this.fail('engine close packet');
        return;
    }
  }
}

// ---- HTTP/1.1 keep-alive connections -----------------------------------------------------------------

interface HttpAnswer {
  status: number;
  head: string;
  body: string;
}

/** One keep-alive HTTP/1.1 connection doing one request at a time; reconnects when the server closes it. */
class HttpConnection {
  private socket: Socket | null = null;
  private rest: Buffer | null = null;
  private waiting: { resolve: (answer: HttpAnswer) => void; reject: (err: Error) => void } | null = null;

  constructor(
    private readonly port: number,
    private readonly localAddress: string,
  ) {}

  request(method: 'GET' | 'POST', path: string, cookie: string | undefined, body?: string): Promise<HttpAnswer> {
    if (this.waiting) return Promise.reject(new Error('HttpConnection: one request at a time'));
    const socket = this.socket ?? this.open();
    const headers =
      `${method} ${path} HTTP/1.1\r\nHost: ${HOST}:${this.port}\r\nConnection: keep-alive\r\n` +
      (cookie ? `Cookie: ${cookie}\r\n` : '') +
      (body === undefined ? '' : `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`);
    return new Promise<HttpAnswer>((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(headers + '\r\n' + (body ?? ''));
    });
  }

  destroy(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): Socket {
    const socket = connect({ host: HOST, port: this.port, localAddress: this.localAddress });
    socket.setNoDelay(true);
    this.socket = socket;
    this.rest = null;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const gone = (err?: Error) => {
      if (this.socket === socket) this.socket = null;
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.reject(err ?? new Error('connection closed before the answer'));
    };
    socket.on('error', gone);
    socket.on('close', () => gone());
    return socket;
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = buf;
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return;
    const head = buf.toString('latin1', 0, end);
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!lengthMatch) {
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const close = buf.indexOf('\r\n0\r\n\r\n', end);
        if (close === -1) return;
        this.rest = null;
        this.answer(head, dechunk(buf.subarray(end + 4, close + 2)));
        return;
      }
      this.rest = null;
      this.answer(head, '');
      return;
    }
    const length = Number(lengthMatch[1]);
    if (buf.length < end + 4 + length) return;
    const rest = buf.length > end + 4 + length ? buf.subarray(end + 4 + length) : null;
    this.rest = rest;
    this.answer(head, buf.toString('utf8', end + 4, end + 4 + length));
  }

  private answer(head: string, body: string): void {
    const waiting = this.waiting;
    this.waiting = null;
    if (/\r\nconnection:\s*close/i.test(head)) this.destroy();
    waiting?.resolve({ status: Number(head.slice(9, 12)), head, body });
  }
}

function dechunk(data: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const eol = data.indexOf('\r\n', at);
    const size = parseInt(data.toString('latin1', at, eol), 16);
    if (!size) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts).toString('utf8');
}

// ---- long-polling clients --------------------------------------------------------------------------------

/** One Engine.IO long-polling session joined to the namespace, doing `ack` round trips one after another. */
class PollingClient {
  private readonly get: HttpConnection;
  private readonly post: HttpConnection;
  private sid = '';
  private queue: string[] = [];
  private posting = false;
  private nextAckId = 0;
  private waitingAck = -1;
  running = false;
  stopped = false;
  roundTrips = 0;
  /** The first thing that went wrong, if anything did. */
  error: Error | null = null;
  private joined!: () => void;
  readonly ready: Promise<void>;
  private reject!: (err: Error) => void;

  constructor(
    index: number,
    port: number,
    private readonly cookie: string | undefined,
  ) {
    const address = SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length]!;
    this.get = new HttpConnection(port, address);
    this.post = new HttpConnection(port, address);
    this.ready = new Promise<void>((resolve, reject) => {
      this.joined = resolve;
      this.reject = reject;
    });
    this.ready.catch(() => undefined);
    this.start().catch((err: Error) => this.failed(err));
  }

  /** Starts the round trips (one `ack` emit in flight at a time). */
  go(): void {
    this.running = true;
    this.emitAck();
  }

  private failed(err: Error): void {
    this.error ??= err;
    this.reject(err);
  }

  stop(): void {
    this.running = false;
    this.stopped = true;
    this.get.destroy();
    this.post.destroy();
  }

  private get url(): string {
    return `/socket.io/?EIO=4&transport=polling&sid=${this.sid}`;
  }

  private async start(): Promise<void> {
    const open = await this.get.request('GET', '/socket.io/?EIO=4&transport=polling', this.cookie);
    if (open.status !== 200 || !open.body.startsWith('0{')) throw new Error(`polling handshake answered ${open.status} ${open.body.slice(0, 100)}`);
    this.sid = (JSON.parse(open.body.slice(1)) as { sid: string }).sid;
    this.enqueue(CONNECT_PACKET);
    this.poll();
  }

  private poll(): void {
    if (this.stopped) return;
    this.get.request('GET', this.url, this.cookie).then(
      (answer) => {
        if (this.stopped) return;
        if (answer.status !== 200) {
          this.failed(new Error(`poll answered ${answer.status} ${answer.body.slice(0, 100)}`));
          return;
        }
        for (const record of answer.body.split(RS)) this.onPacket(record);
        this.poll();
      },
      (err: Error) => {
        if (!this.stopped) this.failed(err);
      },
    );
  }

  private onPacket(packet: string): void {
    const type = packet.charCodeAt(0);
    if (type === 0x32 /* 2 ping */) {
      this.enqueue('3');
    } else if (type === 0x34 /* 4 */) {
      const kind = packet.charCodeAt(1);
      if (kind === 0x30 /* CONNECT */) this.joined();
      else if (kind === 0x34 /* CONNECT_ERROR */) this.failed(new Error(`connect_error: ${packet}`));
      else if (kind === 0x33 /* ACK */ && this.waitingAck !== -1 && packet.startsWith(`43${NAMESPACE},${this.waitingAck}[`)) {
        this.waitingAck = -1;
        if (this.running) {
          this.roundTrips++;
          this.emitAck();
        }
      }
    } else if (type === 0x31 /* 1 close */) {
      this.failed(new Error('the server closed the polling session'));
    }
  }

  private emitAck(): void {
    const id = this.nextAckId++;
    this.waitingAck = id;
    this.enqueue(`42${NAMESPACE},${id}["ack",${PAYLOAD_JSON}]`);
  }

  private enqueue(packet: string): void {
    this.queue.push(packet);
    this.flush();
  }

  private flush(): void {
    if (this.posting || this.queue.length === 0 || this.stopped) return;
    const body = this.queue.join(RS);
    this.queue = [];
    this.posting = true;
    this.post.request('POST', this.url, this.cookie, body).then(
      (answer) => {
        this.posting = false;
        if (answer.status !== 200) {
          this.failed(new Error(`POST answered ${answer.status} ${answer.body.slice(0, 100)}`));
          return;
        }
        this.flush();
      },
      (err: Error) => {
        this.posting = false;
        if (!this.stopped) this.failed(err);
      },
    );
  }
}

// ---- the generator ---------------------------------------------------------------------------------------

type Command =
  | { cmd: 'cookies'; port: number; count: number; path: string }
  | { cmd: 'connect'; port: number; count: number; concurrency: number; rewindCookies?: boolean }
  | { cmd: 'broadcast'; count: number }
  | { cmd: 'echo'; count: number; concurrency: number }
  | { cmd: 'polling'; port: number; clients: number; warmupMs: number; ms: number }
  | { cmd: 'status' }
  | { cmd: 'close' };

/** How long any one step may take before the generator gives up on it. */
const STEP_TIMEOUT = 120_000;

function bounded<T>(what: string, ms: number, body: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    body(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

class LoadGenerator implements WsEvents {
  /** Joined websocket clients, in the order they joined. */
  private clients: WsClient[] = [];
  /** Cookies got from the server (Mojo app): one per client to connect, used in order. */
  private cookies: string[] = [];
  private cookieAt = 0;
  private dropped = 0;
  private lastFailure = '';
  private failures = 0;
  private nextIndex = 0;
  private fanoutsReceived = 0;
  private onProgress: (() => void) | null = null;
  private echoesDone = 0;
  private latencies: number[] = [];

  onJoined(client: WsClient): void {
    this.clients.push(client);
    this.onProgress?.();
  }

  onFailed(_client: WsClient, why: string): void {
    this.lastFailure = why;
    this.failures++;
    this.onProgress?.();
  }

  onClosed(client: WsClient): void {
    this.dropped++;
    this.lastFailure = 'a joined client was closed by the server';
    const at = this.clients.indexOf(client);
    if (at !== -1) this.clients.splice(at, 1);
    this.onProgress?.();
  }

  onFanout(): void {
    this.fanoutsReceived++;
    if (this.fanoutsReceived >= this.clients.length) this.onProgress?.();
  }

  onEcho(client: WsClient): void {
    if (!client.echoing) return;
    client.echoing = false;
    this.latencies.push(performance.now() - client.echoSentAt);
    this.echoesDone++;
    this.onProgress?.();
  }

  /** One GET per future client: each gets its own `session_id` cookie (the Mojo app). */
  async fetchCookies(port: number, count: number, path: string): Promise<Record<string, number>> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const lanes = Math.min(32, count);
    const cookies: string[] = new Array(count);
    let next = 0;
    const lane = async (index: number) => {
      const connection = new HttpConnection(port, SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length]!);
      try {
        while (next < count) {
          const mine = next++;
          const answer = await connection.request('GET', path, undefined);
          const cookie = /\r\nset-cookie:\s*(session_id=[^;\r\n]+)/i.exec(answer.head)?.[1];
          if (answer.status !== 200 || !cookie) throw new Error(`GET ${path} answered ${answer.status} without a session_id cookie`);
          cookies[mine] = cookie;
        }
      } finally {
        connection.destroy();
      }
    };
    await bounded('fetching session cookies', STEP_TIMEOUT, (resolve, reject) => {
      Promise.all(Array.from({ length: lanes }, (_, i) => lane(i))).then(() => resolve(undefined), reject);
    });
    this.cookies.push(...cookies);
    return { ms: performance.now() - started, loaderCpuMs: cpuMs(cpu) };
  }

  /** Uses the cookies again from the first (clients coming back carry the cookies they had). */
  rewindCookies(): void {
    this.cookieAt = 0;
  }

  /** Opens `count` more websocket clients, `concurrency` at a time; resolves when all joined. */
  async connect(port: number, count: number, concurrency: number): Promise<Record<string, number>> {
    const target = this.clients.length + count;
    const started = performance.now();
    const cpu = process.cpuUsage();
    const failuresBefore = this.failures;
    let opened = 0;
    await bounded<void>(`connecting ${count} clients`, STEP_TIMEOUT, (resolve, reject) => {
      const pump = () => {
        if (this.failures > failuresBefore) {
          reject(new Error(`a client could not connect: ${this.lastFailure}`));
          return;
        }
        if (this.clients.length >= target) {
          resolve();
          return;
        }
        while (opened < count && opened - (this.clients.length - (target - count)) < concurrency) {
          const cookie = this.cookies.length > 0 ? this.cookies[this.cookieAt++] : undefined;
          if (this.cookies.length > 0 && cookie === undefined) {
            reject(new Error('ran out of session cookies'));
            return;
          }
          new WsClient(this.nextIndex++, port, cookie, this);
          opened++;
        }
      };
      this.onProgress = pump;
      pump();
    }).finally(() => {
      this.onProgress = null;
    });
    return { ms: performance.now() - started, loaderCpuMs: cpuMs(cpu), joined: this.clients.length };
  }

  /** `count` broadcasts, one after another: each is sent once and awaited until every client has it. */
  async broadcast(count: number): Promise<Record<string, number>> {
    const sender = this.clients[0];
    if (!sender) throw new Error('no client to broadcast from');
    const started = performance.now();
    const cpu = process.cpuUsage();
    const walls: number[] = [];
    for (let i = 0; i < count; i++) {
      const one = performance.now();
      this.fanoutsReceived = 0;
      await bounded<void>(`broadcast ${i + 1} reaching ${this.clients.length} clients`, 30_000, (resolve, reject) => {
        this.onProgress = () => {
          if (this.dropped > 0) reject(new Error(`a client was dropped during the broadcast: ${this.lastFailure}`));
          else if (this.fanoutsReceived >= this.clients.length) resolve();
        };
        sender.send(FANOUT_FRAME);
      }).finally(() => {
        this.onProgress = null;
      });
      walls.push(performance.now() - one);
    }
    return { ms: performance.now() - started, loaderCpuMs: cpuMs(cpu), deliveries: count * this.clients.length, medianWallMs: median(walls) };
  }

  /** `count` echo round trips spread over every client, `concurrency` of them in flight at once. */
  async echo(count: number, concurrency: number): Promise<Record<string, number>> {
    const clients = this.clients;
    if (clients.length === 0) throw new Error('no client to echo with');
    const started = performance.now();
    const cpu = process.cpuUsage();
    this.echoesDone = 0;
    this.latencies = [];
    let sent = 0;
    let cursor = 0;
    const inFlight = Math.min(concurrency, clients.length);
    const sendOne = (): boolean => {
      for (let tries = 0; tries < clients.length; tries++) {
        const client = clients[cursor]!;
        cursor = (cursor + 1) % clients.length;
        if (client.echoing) continue;
        client.echoing = true;
        client.echoSentAt = performance.now();
        client.send(ECHO_FRAME);
        sent++;
        return true;
      }
      return false;
    };
    await bounded<void>(`${count} echoes`, STEP_TIMEOUT, (resolve, reject) => {
      this.onProgress = () => {
        if (this.dropped > 0) {
          reject(new Error(`a client was dropped during the echoes: ${this.lastFailure}`));
          return;
        }
        if (this.echoesDone >= count) {
          resolve();
          return;
        }
        while (sent < count && sent - this.echoesDone < inFlight && sendOne());
      };
      this.onProgress();
    }).finally(() => {
      this.onProgress = null;
    });
    const ms = performance.now() - started;
    const sorted = this.latencies.sort((a, b) => a - b);
    return {
      ms,
      loaderCpuMs: cpuMs(cpu),
      perSecond: (count / ms) * 1000,
      p50Ms: sorted[Math.floor(sorted.length * 0.5)] ?? NaN,
      p99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? NaN,
    };
  }

  /** `clients` long-polling sessions doing `ack` round trips; counts those completed in `ms` after a warm-up. */
  async polling(port: number, clients: number, warmupMs: number, ms: number): Promise<Record<string, number>> {
    const sessions = Array.from({ length: clients }, (_, i) => new PollingClient(i, port, this.cookies.length > 0 ? this.cookies[this.cookieAt++] : undefined));
    try {
      await bounded('polling sessions joining', 30_000, (resolve, reject) => {
        Promise.all(sessions.map((s) => s.ready)).then(resolve, reject);
      });
      for (const s of sessions) s.go();
      await new Promise((resolve) => setTimeout(resolve, warmupMs));
      const before = sessions.reduce((sum, s) => sum + s.roundTrips, 0);
      const cpu = process.cpuUsage();
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      const done = sessions.reduce((sum, s) => sum + s.roundTrips, 0) - before;
      const elapsed = performance.now() - started;
      const failed = sessions.find((s) => s.error);
      if (failed) throw new Error(`a polling session failed: ${failed.error!.message}`);
      if (done === 0) throw new Error('no polling round trip completed');
      return { roundTrips: done, ms: elapsed, perSecond: (done / elapsed) * 1000, loaderCpuMs: cpuMs(cpu) };
    } finally {
      for (const s of sessions) s.stop();
    }
  }

  status(): Record<string, number> {
    return { joined: this.clients.length, dropped: this.dropped, failures: this.failures };
  }

  close(): void {
    for (const client of this.clients) client.close();
    this.clients = [];
  }

  destroyAll(): void {
    for (const client of this.clients) client.destroy();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const generator = new LoadGenerator();

async function run(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'cookies':
      return generator.fetchCookies(command.port, command.count, command.path);
    case 'connect':
      if (command.rewindCookies) generator.rewindCookies();
      return generator.connect(command.port, command.count, command.concurrency);
    case 'broadcast':
      return generator.broadcast(command.count);
    case 'echo':
      return generator.echo(command.count, command.concurrency);
    case 'polling':
      return generator.polling(command.port, command.clients, command.warmupMs, command.ms);
    case 'status':
      return generator.status();
    case 'close':
      generator.close();
      return {};
  }
}

// Commands run one at a time, in order; each answer is one line.
let chain = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  chain = chain.then(async () => {
    try {
      const result = await run(JSON.parse(line) as Command);
      process.stdout.write(JSON.stringify({ ok: result }) + '\n');
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
    }
  });
});
lines.on('close', () => {
  generator.destroyAll();
  process.exit(0);
});
process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\n');
