/**
 * Malformed and oversized input of every kind closes only the offending connection: the process,
 * the HTTP server and every other client carry on.
 *
 * Each test attacks with the raw protocol (a `ws` websocket or `fetch` long-polling) while three
 * well-behaved `socket.io-client` bystanders (websocket, polling, polling upgraded to websocket)
 * stay connected, and then checks:
 *  (a) the attacker's connection was closed by the server, with the expected reason;
 *  (b) every bystander is still connected and still gets an acknowledged round trip;
 *  (c) the HTTP server still answers, and no session leaked (`engine.clientsCount` is back to the
 *      number of bystanders).
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { RealtimeServer, type DisconnectReason, type EngineCloseReason, type RealtimeOptions } from '../framework/index.ts';
import { setLogSink, type LogSink } from '../framework/util/logger.ts';
import { RawPolling, RawWebSocket, SEP, WAIT, http, pause, rawRequest, rawTcp, until, within } from './support/raw-client.ts';

const MAX_PAYLOAD = 10_000;

interface LogLine {
  level: string;
  scope: string;
  message: string;
  extra: unknown[];
}

interface Bystander {
  name: string;
  socket: ClientSocket;
  /** Every `disconnect` the bystander saw (there must be none). */
  disconnects: string[];
}

const placeholder = (num: number) => ({ _placeholder: true, num });

/** One server under attack, its bystanders, and the attackers of the current test. */
class Fixture {
  /** Why each Engine.IO session ended, by sid (seen through the session's listener). */
  readonly engineReasons = new Map<string, EngineCloseReason>();
  /** Why each namespace socket of `/` disconnected, by Engine.IO sid. */
  readonly socketReasons = new Map<string, DisconnectReason>();
  readonly bystanders: Bystander[] = [];
  /**
   * Error and warning lines logged while the fixture runs. Malformed input is the peer's fault and
   * must be logged at debug level only: an error line per bad packet would let any client flood the logs.
   */
  readonly loudLogs: LogLine[] = [];
  private restoreSink: LogSink | null = null;
  private readonly attackers = new Set<RawWebSocket | RawPolling>();

  private constructor(
    readonly server: Server,
    readonly io: RealtimeServer,
    readonly port: number,
  ) {}

  static async start(options: RealtimeOptions = {}): Promise<Fixture> {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('alive');
    });
    const io = new RealtimeServer({
      maxPayload: MAX_PAYLOAD,
      maxAttachments: 10,
      // No heartbeat inside a test's lifetime: an attacker is closed for what it sent, not for a
      // missed pong. pingTimeout also bounds how long a server-closed idle polling session lingers.
      pingInterval: 20_000,
      pingTimeout: 1_000,
      connectTimeout: 5_000,
      ...options,
    }).attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fixture = new Fixture(server, io, (server.address() as AddressInfo).port);
    const previous = setLogSink((level, scope, message, extra) => {
      if (level === 'error' || level === 'warn') fixture.loudLogs.push({ level, scope, message, extra });
      else previous(level, scope, message, extra);
    });
    fixture.restoreSink = previous;

    io.engine.on('connection', (conn) => {
      // The RealtimeServer's own 'connection' listener ran first and installed its Client.
      const listener = conn.listener!;
      const onClose = listener.onClose.bind(listener);
      listener.onClose = (reason) => {
        fixture.engineReasons.set(conn.id, reason);
        onClose(reason);
      };
    });
    io.on('connection', (socket) => {
      const sid = socket.conn.id;
      socket.on('disconnect', (reason: DisconnectReason) => fixture.socketReasons.set(sid, reason));
      socket.on('echo', (...args: unknown[]) => {
        const ack = args.pop() as (...reply: unknown[]) => void;
        ack(...args);
      });
      socket.on('boom', () => {
        throw new Error('boom');
      });
      socket.on('boom-async', async () => {
        await Promise.resolve();
        throw new Error('boom-async');
      });
    });

    await fixture.addBystander('websocket', ['websocket']);
    await fixture.addBystander('polling', ['polling']);
    await fixture.addBystander('upgraded', ['polling', 'websocket']);
    return fixture;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Socket.IO endpoint for polling requests. */
  get base(): string {
    return `${this.origin}/socket.io/`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/socket.io/?EIO=4&transport=websocket`;
  }

  async addBystander(name: string, transports: ('polling' | 'websocket')[]): Promise<Bystander> {
    const socket = ioClient(this.origin, { forceNew: true, reconnection: false, transports });
    const bystander: Bystander = { name, socket, disconnects: [] };
    this.bystanders.push(bystander);
    socket.on('disconnect', (reason) => bystander.disconnects.push(reason));
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      }),
      WAIT,
      `bystander ${name} to connect`,
    );
    if (transports.length > 1) {
      const engine = socket.io.engine;
      if (engine.transport.name !== 'websocket') {
        await within(new Promise<void>((resolve) => engine.once('upgrade', () => resolve())), WAIT, `bystander ${name} to upgrade`);
      }
    }
    return bystander;
  }

  /** A new raw websocket session (tracked, so it is cleaned up whatever happens). */
  async wsAttacker(): Promise<RawWebSocket> {
    const raw = await RawWebSocket.open(this.wsUrl);
    this.attackers.add(raw);
    return raw;
  }

  /** A new raw polling session (tracked). */
  async pollAttacker(): Promise<RawPolling> {
    const raw = await RawPolling.open(this.base);
    this.attackers.add(raw);
    return raw;
  }

  /** Why the session `sid` ended (waits for it to end). */
  async reasonOf(sid: string): Promise<EngineCloseReason> {
    await until(() => this.engineReasons.has(sid), WAIT, `session ${sid} to end on the server`);
    return this.engineReasons.get(sid)!;
  }

  /** (a) for websocket: the server closed the attacker, for `reason`. */
  async expectWsClosed(raw: RawWebSocket, reason?: EngineCloseReason): Promise<void> {
    await raw.waitClose();
    if (reason !== undefined) assert.equal(await this.reasonOf(raw.sid), reason, `close reason of websocket session ${raw.sid}`);
    assert.equal(this.io.engine.clients.has(raw.sid), false, 'the closed websocket session is still registered');
  }

  /** (a) for polling: the session is gone (a GET with its sid gets 400 code 1), for `reason`. */
  async expectPollingGone(raw: RawPolling, reason?: EngineCloseReason): Promise<void> {
    const answer = await raw.get();
    assert.equal(answer.status, 400, `GET after the attack answered ${answer.status} ${answer.body}`);
    assert.deepEqual(JSON.parse(answer.body), { code: 1, message: 'Session ID unknown' });
    if (reason !== undefined) assert.equal(await this.reasonOf(raw.sid), reason, `close reason of polling session ${raw.sid}`);
  }

  /** (b) and (c): bystanders connected and answering, HTTP alive, no leaked session. */
  async expectUnaffected(): Promise<void> {
    await until(
      () => this.io.engine.clientsCount === this.bystanders.length,
      WAIT,
      `engine.clientsCount to return to ${this.bystanders.length} (it is ${this.io.engine.clientsCount})`,
    );
    await Promise.all(
      this.bystanders.map(async ({ name, socket, disconnects }) => {
        assert.deepEqual(disconnects, [], `bystander ${name} was disconnected`);
        assert.equal(socket.connected, true, `bystander ${name} is not connected`);
        assert.ok(this.io.engine.clients.has(socket.io.engine.id!), `bystander ${name}'s session is gone from the server`);
        const payload = { from: name, n: Math.random() };
        const reply = await within(socket.timeout(WAIT).emitWithAck('echo', payload), WAIT + 500, `bystander ${name}'s echo`);
        assert.deepEqual(reply, payload, `bystander ${name}'s echo came back wrong`);
      }),
    );
    const alive = await http(`${this.origin}/health`);
    assert.equal(alive.status, 200);
    assert.equal(alive.body, 'alive');
    assert.deepEqual(
      this.loudLogs.map(({ level, scope, message }) => `${level} [${scope}] ${message}`),
      [],
      'malformed input was logged above debug level',
    );
  }

  /** Resolves when the HTTP server has handed a request matching `match` to its handlers. */
  nextRequest(match: (req: IncomingMessage) => boolean): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const onRequest = (req: IncomingMessage) => {
          if (!match(req)) return;
          this.server.off('request', onRequest);
          resolve();
        };
        // Added after the engine's own listener, so it runs once the engine has seen the request.
        this.server.on('request', onRequest);
      }),
      WAIT,
      'a request to reach the server',
    );
  }

  /** Ends every attacker still around (after a failed assertion, say). */
  cleanupAttackers(): void {
    for (const attacker of this.attackers) {
      if (attacker instanceof RawWebSocket) attacker.terminate();
      else attacker.abort();
    }
    this.attackers.clear();
  }

  async stop(): Promise<void> {
    this.cleanupAttackers();
    for (const { socket } of this.bystanders) {
      socket.off('disconnect');
      socket.disconnect();
    }
    this.io.close();
    this.server.closeAllConnections();
    try {
      await within(new Promise<void>((resolve) => this.server.close(() => resolve())), WAIT, 'the HTTP server to close');
    } finally {
      if (this.restoreSink) setLogSink(this.restoreSink);
      this.restoreSink = null;
    }
  }
}

/** Engine.IO records of a polling body: text as is, binary as `b` + base64. */
const pollingBody = (frames: readonly (string | Buffer)[]) =>
  frames.map((frame) => (typeof frame === 'string' ? frame : 'b' + frame.toString('base64'))).join(SEP);

/** A Socket.IO-level attack: the Engine.IO messages (with their leading `4`) to send. */
interface SocketIoCase {
  name: string;
  frames: (string | Buffer)[];
  /** Join `/` first. */
  connected: boolean;
}

const BIN = Buffer.from([1, 2, 3]);
const deep = (levels: number, inner: string) => '['.repeat(levels) + inner + ']'.repeat(levels);

const SOCKET_IO_CASES: SocketIoCase[] = [
  { name: 'an empty Socket.IO packet (4)', frames: ['4'], connected: true },
  { name: 'an unknown packet type (47)', frames: ['47'], connected: true },
  { name: 'an unknown packet type (4x)', frames: ['4x'], connected: true },
  { name: 'an unknown packet type before CONNECT (4abc)', frames: ['4abc'], connected: false },
  { name: 'bad JSON (42[)', frames: ['42['], connected: true },
  { name: 'an object as EVENT payload (42{})', frames: ['42{}'], connected: true },
  { name: 'a string as EVENT payload (42"str")', frames: ['42"str"'], connected: true },
  { name: 'an empty EVENT array (42[])', frames: ['42[]'], connected: true },
  { name: 'an object as event name (42[{}])', frames: ['42[{}]'], connected: true },
  { name: 'null as event name (42[null])', frames: ['42[null]'], connected: true },
  ...['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'].map((event) => ({
    name: `the reserved event name "${event}"`,
    frames: [`42["${event}"]`],
    connected: true,
  })),
  { name: 'a non-numeric ack id (42abc["x"])', frames: ['42abc["x"]'], connected: true },
  { name: 'an ack id over Number.MAX_SAFE_INTEGER', frames: ['429999999999999999999["echo","x"]'], connected: true },
  { name: 'a negative ack id (42-1["x"])', frames: ['42-1["x"]'], connected: true },
  { name: 'a namespace that swallows the payload (42/["x"])', frames: ['42/["x"]'], connected: true },
  { name: 'an ACK without payload (43)', frames: ['43'], connected: true },
  { name: 'an ACK with an object payload (430{})', frames: ['430{}'], connected: true },
  { name: 'a DISCONNECT with a payload (41["x"])', frames: ['41["x"]'], connected: true },
  { name: 'a CONNECT_ERROR from the client (44{})', frames: ['44{"message":"x"}'], connected: true },
  {
    name: 'too many attachments (4511-[...] over maxAttachments 10)',
    frames: [`4511-["echo",${JSON.stringify(placeholder(0))}]`],
    connected: true,
  },
  { name: 'an absurd attachment count', frames: ['459999999999999999999999-["echo"]'], connected: true },
  { name: 'a binary packet without attachment count (45["x"])', frames: ['45["x"]'], connected: true },
  { name: 'a binary frame when no attachment is expected', frames: [BIN], connected: true },
  {
    name: 'a binary frame after the announced attachments arrived',
    frames: [`451-["nobody-listens",${JSON.stringify(placeholder(0))}]`, BIN, BIN],
    connected: true,
  },
  {
    name: 'a text packet while attachments are pending',
    frames: [`452-["echo",${JSON.stringify(placeholder(0))},${JSON.stringify(placeholder(1))}]`, BIN, '42["echo","x"]'],
    connected: true,
  },
  {
    name: 'a placeholder with an out-of-range num',
    frames: [`451-["nobody-listens",${JSON.stringify(placeholder(1))}]`, BIN],
    connected: true,
  },
  {
    name: 'a placeholder with a negative num',
    frames: [`451-["nobody-listens",${JSON.stringify(placeholder(-1))}]`, BIN],
    connected: true,
  },
  {
    name: 'a placeholder with an attachment count of 0',
    frames: [`450-["nobody-listens",${JSON.stringify(placeholder(0))}]`],
    connected: true,
  },
  {
    name: 'a placeholder nested deeper than the decoder follows',
    frames: [`451-["nobody-listens",${deep(1100, JSON.stringify(placeholder(0)))}]`, BIN],
    connected: true,
  },
  { name: 'an EVENT before CONNECT', frames: ['42["echo","x"]'], connected: false },
  { name: 'an ACK before CONNECT', frames: ['430["x"]'], connected: false },
  { name: 'an EVENT for a namespace never joined (42/nope,["x"])', frames: ['42/nope,["x"]'], connected: true },
  { name: 'an EVENT after leaving the namespace (41 then 42)', frames: ['41', '42["echo","x"]'], connected: true },
  { name: 'a second CONNECT to the same namespace', frames: ['40'], connected: true },
  { name: 'a CONNECT with a string payload (40"x")', frames: ['40"x"'], connected: false },
  { name: 'a CONNECT with an array payload (40[1])', frames: ['40[1]'], connected: false },
  { name: 'a CONNECT with null payload (40null)', frames: ['40null'], connected: false },
  { name: 'a CONNECT with bad JSON (40{)', frames: ['40{'], connected: false },
];

describe('malformed input closes only the offending connection', () => {
  let fx: Fixture;
  before(async () => {
    fx = await Fixture.start();
  });
  afterEach(() => fx.cleanupAttackers());
  after(async () => {
    await fx?.stop();
  });

  it('has three healthy bystanders to begin with', async () => {
    assert.equal(fx.io.engine.clientsCount, 3);
    assert.deepEqual(
      fx.bystanders.map(({ socket }) => socket.io.engine.transport.name),
      ['websocket', 'polling', 'websocket'],
    );
    await fx.expectUnaffected();
  });

  describe('Engine.IO level, websocket', () => {
    for (const [label, frame, reason] of [
      ['an unknown packet type (9x)', '9x', 'parse error'],
      ['a packet that is no packet (abc)', 'abc', 'parse error'],
      ['an empty text frame', '', 'parse error'],
      ['an open packet from the client (0)', '0', 'parse error'],
      ['a client ping (2, the wrong direction in v4)', '2', 'transport error'],
    ] as const) {
      it(`closes on ${label}`, async () => {
        const raw = await fx.wsAttacker();
        await raw.connect();
        raw.send(frame);
        await fx.expectWsClosed(raw, reason);
        await fx.expectUnaffected();
      });
    }

    it('closes on a text frame over maxPayload', async () => {
      const raw = await fx.wsAttacker();
      await raw.connect();
      raw.send('42["echo","' + 'x'.repeat(MAX_PAYLOAD) + '"]');
      await fx.expectWsClosed(raw, 'transport error');
      assert.ok(raw.closeCode === 1009 || raw.closeCode === 1006, `close code ${raw.closeCode}`);
      await fx.expectUnaffected();
    });

    it('closes on a binary frame over maxPayload', async () => {
      const raw = await fx.wsAttacker();
      raw.send(Buffer.alloc(MAX_PAYLOAD + 1));
      await fx.expectWsClosed(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('closes on a text frame that is not UTF-8', async () => {
      const raw = await fx.wsAttacker();
      await raw.connect();
      raw.send(Buffer.from([0x34, 0x32, 0xff, 0xfe]), { binary: false });
      await fx.expectWsClosed(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('keeps a session whose sid a second websocket tries to upgrade, and closes that websocket', async () => {
      const raw = await fx.wsAttacker();
      await raw.connect();
      const intruder = await RawWebSocket.acceptedThenClosed(`${fx.wsUrl}&sid=${encodeURIComponent(raw.sid)}`);
      assert.equal(intruder.opened, true, 'the second websocket should be accepted, then closed');
      assert.equal(intruder.frames.length, 0, `the intruder was sent ${JSON.stringify(intruder.frames)}`);
      assert.equal(raw.isOpen, true, 'the original websocket was closed');
      raw.send('421["echo","still here"]');
      assert.equal(await raw.next(), '431["still here"]');
      raw.terminate();
      await fx.expectUnaffected();
    });
  });

  describe('Engine.IO level, upgrade probes', () => {
    for (const [label, frame] of [
      ['a text frame that is not 2probe', 'abc'],
      ['a binary frame', Buffer.from([1, 2, 3])],
      ['a frame over maxPayload', 'x'.repeat(MAX_PAYLOAD + 1)],
    ] as const) {
      it(`closes a probe websocket that sends ${label}, and its polling session carries on`, async () => {
        const raw = await fx.pollAttacker();
        await raw.connect();
        const probe = await RawWebSocket.openProbe(`${fx.wsUrl}&sid=${encodeURIComponent(raw.sid)}`);
        probe.send(frame);
        await probe.waitClose();
        assert.equal(fx.io.engine.clients.get(raw.sid)?.transport.name, 'polling');
        // The polling session still works: an acknowledged event, then a clean close.
        assert.equal((await raw.post('421["echo","after probe"]')).body, 'ok');
        assert.equal((await raw.get()).body, '431["after probe"]');
        assert.equal((await raw.post('1')).body, 'ok');
        assert.equal(await fx.reasonOf(raw.sid), 'transport close');
        await fx.expectUnaffected();
      });
    }
  });

  describe('HTTP level', () => {
    it('answers 400 to bytes that are not HTTP', async () => {
      const answer = await rawTcp(fx.port, 'GARBAGE\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 /);
      await fx.expectUnaffected();
    });

    it('answers 400 to a websocket upgrade without Sec-WebSocket-Key', async () => {
      const answer = await rawTcp(
        fx.port,
        'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.equal(fx.io.engine.clientsCount, fx.bystanders.length);
      await fx.expectUnaffected();
    });

    it('answers a websocket upgrade with an unsupported version', async () => {
      const answer = await rawTcp(
        fx.port,
        'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n',
      );
      assert.match(answer, /^HTTP\/1\.1 (400|426) /);
      await fx.expectUnaffected();
    });
  });

  describe('Engine.IO level, polling', () => {
    for (const [label, body] of [
      ['abc', 'abc'],
      ['4a\\x1ezz', `4a${SEP}zz`],
      ['bad base64 (b***)', 'b***'],
      ['an empty body', ''],
      ['an empty record (4a\\x1e)', `4a${SEP}`],
      ['an unknown packet type (9)', '9'],
    ] as const) {
      it(`answers 400 to a POST of ${label} and ends the session`, async () => {
        const raw = await fx.pollAttacker();
        const answer = await raw.post(body);
        assert.equal(answer.status, 400);
        assert.deepEqual(JSON.parse(answer.body), { code: 3, message: 'Bad request' });
        await fx.expectPollingGone(raw, 'parse error');
        await fx.expectUnaffected();
      });
    }

    it('ends the session on a client ping (2) in a POST', async () => {
      const raw = await fx.pollAttacker();
      const answer = await raw.post('2');
      assert.equal(answer.status, 200);
      await fx.expectPollingGone(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('answers 400 to an application/octet-stream POST and ends the session', async () => {
      const raw = await fx.pollAttacker();
      const answer = await raw.post(Buffer.from([4, 1, 2, 3]), { 'Content-Type': 'application/octet-stream' });
      assert.equal(answer.status, 400);
      await fx.expectPollingGone(raw, 'parse error');
      await fx.expectUnaffected();
    });

    it('answers 413 to a body over maxPayload (Content-Length) and ends the session', async () => {
      const raw = await fx.pollAttacker();
      const answer = await raw.post('4' + 'x'.repeat(MAX_PAYLOAD * 2));
      assert.equal(answer.status, 413);
      await fx.expectPollingGone(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('answers 413 to a chunked body that grows over maxPayload and ends the session', async () => {
      const raw = await fx.pollAttacker();
      const chunk = 'x'.repeat(4_000);
      let status: number | 'reset';
      try {
        status = (
          await rawRequest(raw.url, {
            method: 'POST',
            headers: { 'Content-Type': 'text/plain' },
            chunks: ['4', chunk, chunk, chunk, chunk],
          })
        ).status;
      } catch {
        status = 'reset'; // the server may hang up while the rest of the body is still on its way
      }
      assert.ok(status === 413 || status === 'reset', `unexpected answer ${status}`);
      await fx.expectPollingGone(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('answers 400 to a second concurrent GET and ends the session', async () => {
      const raw = await fx.pollAttacker();
      const held = fx.nextRequest((req) => req.method === 'GET' && req.url!.includes(raw.sid));
      const first = raw.get();
      await held;
      const second = await raw.get();
      assert.equal(second.status, 400);
      assert.deepEqual(JSON.parse(second.body), { code: 3, message: 'Bad request' });
      const firstAnswer = await first;
      assert.equal(firstAnswer.status, 200);
      assert.equal(firstAnswer.body, '1', 'the held GET should learn the session is closed');
      await fx.expectPollingGone(raw, 'transport error');
      await fx.expectUnaffected();
    });

    it('answers 400 to a second concurrent POST and ends the session', async () => {
      const raw = await fx.pollAttacker();
      await raw.connect();
      // A POST whose body never finishes: declared 100 bytes, 10 sent.
      const received = fx.nextRequest((req) => req.method === 'POST' && req.url!.includes(raw.sid));
      const slow = httpRequest(raw.url, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Content-Length': '100' }, agent: false });
      slow.on('error', () => {});
      slow.write('42["echo",');
      try {
        await received;
        const second = await raw.post('42["echo","x"]');
        assert.equal(second.status, 400);
        assert.deepEqual(JSON.parse(second.body), { code: 3, message: 'Bad request' });
        await fx.expectPollingGone(raw, 'transport error');
      } finally {
        slow.destroy();
      }
      await fx.expectUnaffected();
    });

    it('ends the session when a POST breaks off before its body is complete', async () => {
      const raw = await fx.pollAttacker();
      await raw.connect();
      const received = fx.nextRequest((req) => req.method === 'POST' && req.url!.includes(raw.sid));
      const cut = httpRequest(raw.url, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Content-Length': '100' }, agent: false });
      cut.on('error', () => {});
      cut.write('42["echo",');
      await received;
      cut.destroy();
      assert.equal(await fx.reasonOf(raw.sid), 'transport close');
      await fx.expectPollingGone(raw);
      await fx.expectUnaffected();
    });

    it('reads a body that arrives in several chunks, a character split between two of them', async () => {
      const raw = await fx.pollAttacker();
      await raw.connect();
      const body = Buffer.from('421["echo","Zoë ☃"]');
      const split = body.indexOf(0xe2) + 1; // inside the three bytes of ☃
      const answer = await rawRequest(raw.url, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        chunks: [body.subarray(0, 5), body.subarray(5, split), body.subarray(split)],
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'ok');
      assert.equal((await raw.get()).body, '431["Zoë ☃"]');
      assert.equal((await raw.post('1')).body, 'ok');
      assert.equal(await fx.reasonOf(raw.sid), 'transport close');
      await fx.expectUnaffected();
    });

    it('ends the session when a held GET is aborted', async () => {
      const raw = await fx.pollAttacker();
      const received = fx.nextRequest((req) => req.method === 'GET' && req.url!.includes(raw.sid));
      const held = raw.get().catch((err: Error) => err);
      await received;
      raw.abort();
      assert.ok((await held) instanceof Error);
      // Wait for the server to notice the abort: a GET sent before that would be a second concurrent GET.
      assert.equal(await fx.reasonOf(raw.sid), 'transport close');
      await fx.expectPollingGone(raw);
      await fx.expectUnaffected();
    });
  });

  describe('Engine.IO level, refused requests', () => {
    it('answers 400 code 1 to a GET or POST with an unknown sid', async () => {
      for (const method of ['GET', 'POST']) {
        const answer = await http(`${fx.base}?EIO=4&transport=polling&sid=nope`, { method, body: method === 'POST' ? '40' : undefined });
        assert.equal(answer.status, 400, method);
        assert.equal(answer.headers.get('content-type'), 'application/json');
        assert.deepEqual(JSON.parse(answer.body), { code: 1, message: 'Session ID unknown' });
      }
      await fx.expectUnaffected();
    });

    for (const [label, query, method, code, message] of [
      ['EIO=3', 'EIO=3&transport=polling', 'GET', 5, 'Unsupported protocol version'],
      ['EIO=abc', 'EIO=abc&transport=polling', 'GET', 5, 'Unsupported protocol version'],
      ['no EIO', 'transport=polling', 'GET', 5, 'Unsupported protocol version'],
      ['an unknown transport', 'EIO=4&transport=carrier-pigeon', 'GET', 0, 'Transport unknown'],
      ['no transport', 'EIO=4', 'GET', 0, 'Transport unknown'],
      ['transport=websocket without an upgrade', 'EIO=4&transport=websocket', 'GET', 3, 'Bad request'],
      ['a POST handshake', 'EIO=4&transport=polling', 'POST', 2, 'Bad handshake method'],
      ['a huge query string', `EIO=3&transport=polling&junk=${'%zz'.repeat(2_500)}&${'a=1&'.repeat(500)}`, 'GET', 5, 'Unsupported protocol version'],
      ['an empty sid', 'EIO=4&transport=polling&sid=', 'GET', 1, 'Session ID unknown'],
      ['sid=__proto__', 'EIO=4&transport=polling&sid=__proto__', 'GET', 1, 'Session ID unknown'],
    ] as const) {
      it(`answers 400 code ${code} to ${label}`, async () => {
        const answer = await http(`${fx.base}?${query}`, { method, body: method === 'POST' ? '40' : undefined });
        assert.equal(answer.status, 400);
        assert.equal(answer.headers.get('content-type'), 'application/json');
        assert.deepEqual(JSON.parse(answer.body), { code, message });
        await fx.expectUnaffected();
      });
    }

    it('answers a URL over the HTTP header limit without harm', async () => {
      const answer = await rawRequest(`${fx.base}?EIO=4&transport=polling&junk=${'x'.repeat(20_000)}`);
      assert.equal(answer.status, 431);
      await fx.expectUnaffected();
    });

    for (const [label, query, message] of [
      ['an unknown sid', 'EIO=4&transport=websocket&sid=nope', 'Session ID unknown'],
      ['EIO=3', 'EIO=3&transport=websocket', 'Unsupported protocol version'],
      ['no EIO', 'transport=websocket', 'Unsupported protocol version'],
      ['transport=polling', 'EIO=4&transport=polling', 'Bad request'],
      ['an unknown transport', 'EIO=4&transport=nope', 'Transport unknown'],
    ] as const) {
      it(`refuses a websocket upgrade with ${label}`, async () => {
        const answer = await RawWebSocket.refused(`ws://127.0.0.1:${fx.port}/socket.io/?${query}`);
        assert.equal(answer.status, 400);
        assert.equal(answer.body, message);
        await fx.expectUnaffected();
      });
    }
  });

  describe('Socket.IO level', () => {
    for (const { name, frames, connected } of SOCKET_IO_CASES) {
      it(`closes a websocket on ${name}`, async () => {
        const raw = await fx.wsAttacker();
        if (connected) await raw.connect();
        for (const frame of frames) raw.send(frame);
        await fx.expectWsClosed(raw, 'parse error');
        await fx.expectUnaffected();
      });

      it(`ends a polling session on ${name}`, async () => {
        const raw = await fx.pollAttacker();
        if (connected) await raw.connect();
        const answer = await raw.post(pollingBody(frames));
        // The Engine.IO payload itself is valid: the POST succeeds, then the packet ends the session.
        assert.equal(answer.status, 200);
        assert.equal(answer.body, 'ok');
        await fx.expectPollingGone(raw, 'parse error');
        await fx.expectUnaffected();
      });
    }

    it('answers a held GET with the close packet when a POST carries a malformed packet', async () => {
      const raw = await fx.pollAttacker();
      await raw.connect();
      const received = fx.nextRequest((req) => req.method === 'GET' && req.url!.includes(raw.sid));
      const held = raw.get();
      await received;
      assert.equal((await raw.post('42[')).body, 'ok');
      const answer = await held;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, '1', 'the held GET should learn the session is closed');
      await fx.expectPollingGone(raw, 'parse error');
      await fx.expectUnaffected();
    });

    it('leaves a connection open after a CONNECT to an unknown namespace (spec), and answers 44', async () => {
      const raw = await fx.wsAttacker();
      raw.send('40/nope,');
      assert.equal(await raw.next(), '44/nope,{"message":"Invalid namespace"}');
      await raw.connect();
      raw.send('421["echo",1]');
      assert.equal(await raw.next(), '431[1]');
      raw.terminate();
      await fx.expectUnaffected();
    });

    it('closes a client whose deeply nested arguments cannot be echoed back, and only that client', async () => {
      const raw = await fx.wsAttacker();
      await raw.connect();
      // Valid JSON within maxPayload, but deeper than the encoder follows (MAX_DEPTH 1000): the
      // echo handler's ack throws while encoding the reply.
      raw.send(`421["echo",${deep(1100, '')}]`);
      await fx.expectWsClosed(raw);
      assert.equal(fx.socketReasons.get(raw.sid), 'handler error');
      // This one is logged as a handler error (the handler's ack threw): take it out of the check.
      const logged = fx.loudLogs.splice(0);
      assert.equal(logged.length, 1, JSON.stringify(logged.map((line) => line.message)));
      assert.match(String(logged[0]!.extra[0]), /ERR_TOO_DEEP/);
      await fx.expectUnaffected();
    });

    it('still serves a valid binary round trip on the attacked server', async () => {
      const raw = await fx.wsAttacker();
      await raw.connect();
      raw.send(`451-7["echo",${JSON.stringify(placeholder(0))}]`);
      raw.send(BIN);
      assert.equal(await raw.next(), `461-7[${JSON.stringify(placeholder(0))}]`);
      assert.deepEqual(await raw.next(), BIN);
      raw.terminate();
      await fx.expectUnaffected();
    });
  });

  describe('handlers that throw', () => {
    let restore: LogSink | null = null;
    const logged: LogLine[] = [];
    before(() => {
      restore = setLogSink((level, scope, message, extra) => logged.push({ level, scope, message, extra }));
    });
    after(() => {
      if (restore) setLogSink(restore);
    });

    for (const [event, transports] of [
      ['boom', ['websocket']],
      ['boom', ['polling']],
      ['boom-async', ['websocket']],
    ] as const) {
      it(`a throwing '${event}' handler closes only that client (${transports[0]}) and is logged with its stack`, async () => {
        logged.length = 0;
        const victim = ioClient(fx.origin, { forceNew: true, reconnection: false, transports: [...transports] });
        try {
          await within(new Promise<void>((resolve, reject) => victim.once('connect', () => resolve()).once('connect_error', reject)), WAIT, 'the victim to connect');
          const sid = victim.io.engine.id!;
          const disconnected = within(new Promise<string>((resolve) => victim.once('disconnect', resolve)), WAIT, 'the victim to be disconnected');
          victim.emit(event);
          const reason = await disconnected;
          assert.ok(reason === 'transport close' || reason === 'transport error', `victim saw ${reason}`);
          await until(() => fx.socketReasons.has(sid), WAIT, 'the server socket to disconnect');
          assert.equal(fx.socketReasons.get(sid), 'handler error');
          await until(() => logged.length > 0, WAIT, 'the error to be logged');
          const entry = logged.find((line) => line.level === 'error');
          assert.ok(entry, `no error logged: ${JSON.stringify(logged)}`);
          const err = entry.extra.find((value): value is Error => value instanceof Error);
          assert.ok(err, 'the error itself was not passed to the logger');
          assert.equal(err.message, event);
          assert.match(err.stack ?? '', new RegExp(`Error: ${event}\\n\\s+at `), 'the stack was not logged');
          assert.match(err.stack ?? '', /malformed\.test\.ts/);
        } finally {
          victim.disconnect();
        }
        await fx.expectUnaffected();
      });
    }
  });

  describe('a flood of malformed connections', () => {
    it('closes 60 concurrent attackers of every kind, leaks no session, and keeps the bystanders', async () => {
      const wsFrames: (string | Buffer)[][] = [['9x'], ['2'], ['42['], ['42["connect"]'], ['4511-["x"]'], [BIN], ['42/nope,["x"]'], ['40"x"'], ['x'.repeat(MAX_PAYLOAD + 1)]];
      const pollBodies = ['abc', `4a${SEP}zz`, 'b***', '42[', '42{}', '43', `bAQID`];
      const attacks: Promise<void>[] = [];
      for (let i = 0; i < 60; i++) {
        if (i % 2 === 0) {
          const frames = wsFrames[(i / 2) % wsFrames.length]!;
          attacks.push(
            (async () => {
              const raw = await fx.wsAttacker();
              if (i % 4 === 0) await raw.connect();
              for (const frame of frames) raw.send(frame);
              await raw.waitClose();
            })(),
          );
        } else {
          const body = pollBodies[((i - 1) / 2) % pollBodies.length]!;
          attacks.push(
            (async () => {
              const raw = await fx.pollAttacker();
              if (i % 4 === 1) await raw.connect();
              await raw.post(body);
              const answer = await raw.get();
              assert.equal(answer.status, 400);
            })(),
          );
        }
      }
      // Sessions that open and vanish mid-way: a websocket dropped right after its open packet.
      for (let i = 0; i < 10; i++) attacks.push(fx.wsAttacker().then((raw) => raw.terminate()));
      await within(Promise.all(attacks), 8_000, 'the flood');
      await fx.expectUnaffected();
      assert.equal(fx.io.engine.clientsCount, fx.bystanders.length);
      assert.equal(fx.io.sockets.sockets.size, fx.bystanders.length, 'namespace sockets leaked');
    });
  });
});

describe('a connection that never sends CONNECT (connectTimeout 200 ms)', () => {
  let fx: Fixture;
  before(async () => {
    fx = await Fixture.start({ connectTimeout: 200, pingTimeout: 300 });
  });
  afterEach(() => fx.cleanupAttackers());
  after(async () => {
    await fx?.stop();
  });

  it('closes a websocket after connectTimeout', async () => {
    const started = Date.now();
    const raw = await fx.wsAttacker();
    await fx.expectWsClosed(raw, 'forced close');
    const took = Date.now() - started;
    assert.ok(took >= 150, `closed after ${took} ms, before connectTimeout`);
    await fx.expectUnaffected();
  });

  it('closes a websocket that only sent CONNECTs to unknown namespaces', async () => {
    const raw = await fx.wsAttacker();
    raw.send('40/nope,');
    assert.equal(await raw.next(), '44/nope,{"message":"Invalid namespace"}');
    await fx.expectWsClosed(raw, 'forced close');
    await fx.expectUnaffected();
  });

  it('answers a held GET with a close packet after connectTimeout', async () => {
    const raw = await fx.pollAttacker();
    const held = await raw.get();
    assert.equal(held.status, 200);
    assert.equal(held.body, '1');
    await fx.expectPollingGone(raw, 'forced close');
    await fx.expectUnaffected();
  });

  it('ends an idle polling session (no GET held) after connectTimeout', async () => {
    const raw = await fx.pollAttacker();
    await pause(250); // past connectTimeout, no request in flight
    const last = await raw.get(); // the session learns it is over…
    assert.equal(last.body, '1');
    await fx.expectPollingGone(raw); // …and is gone for the next request
    await fx.expectUnaffected(); // the session is forgotten within pingTimeout
    assert.equal(await fx.reasonOf(raw.sid), 'forced close');
  });

  it(
    'answers the next GET of an idle polling session it closed with the close packet, then forgets it',
    async () => {
      const raw = await fx.pollAttacker();
      await until(() => fx.io.engine.clients.get(raw.sid)?.readyState !== 'open', WAIT, 'connectTimeout to close the session');
      const next = await raw.get();
      try {
        assert.equal(next.status, 200, `the next GET answered ${next.status} ${next.body}`);
        assert.equal(next.body, '1');
        assert.equal(fx.io.engine.clients.has(raw.sid), false, 'the session outlived the GET that learned of its end');
      } finally {
        // Whatever the outcome, let the session end before the next test counts sessions.
        await until(() => !fx.io.engine.clients.has(raw.sid), WAIT, 'the session to be forgotten');
      }
    },
  );

  it('keeps a connection that joined in time', async () => {
    const raw = await fx.wsAttacker();
    await raw.connect();
    await pause(300); // past connectTimeout: nothing must happen
    assert.equal(raw.isOpen, true);
    raw.send('421["echo","late"]');
    assert.equal(await raw.next(), '431["late"]');
    raw.terminate();
    await fx.expectUnaffected();
  });
});
