/**
 * The websocket handshake: the usual request is answered by our own code (acceptPlainHandshake),
 * every other by ws. Either way the response must be byte for byte what ws itself answers, and the
 * websocket must behave as one ws made.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { EngineServer } from '../framework/engine/index.ts';
import { SessionWebSocket, acceptPlainHandshake } from '../framework/engine/transports/websocket.ts';
import { WAIT, within } from './support/raw-client.ts';
import { frame } from './support/ws-frame.ts';

const MAX_PAYLOAD = 1000;
const PATH = '/engine.io/?EIO=4&transport=websocket';

function request(headers: Record<string, string>, method = 'GET'): string {
  const lines = [`${method} ${PATH} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return lines.join('\r\n') + '\r\n\r\n';
}

const PLAIN = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' };

/** Sends `payload` and returns the response head, and the bytes after it once `enough` says so (or the socket closed). */
function exchange(port: number, payload: string | Buffer, enough: (rest: Buffer) => boolean = () => true): Promise<{ head: string; rest: Buffer; closed: boolean }> {
  const socket = connect(port, '127.0.0.1', () => socket.write(payload));
  let data = Buffer.alloc(0);
  return within(
    new Promise<{ head: string; rest: Buffer; closed: boolean }>((resolve, reject) => {
      const done = (closed: boolean) => {
        const end = data.indexOf('\r\n\r\n');
        resolve(end === -1 ? { head: data.toString('latin1'), rest: Buffer.alloc(0), closed } : { head: data.subarray(0, end + 4).toString('latin1'), rest: data.subarray(end + 4), closed });
      };
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const end = data.indexOf('\r\n\r\n');
        if (end !== -1 && enough(data.subarray(end + 4))) done(false);
      });
      socket.on('error', reject);
      socket.on('close', () => done(true));
    }),
    WAIT,
    'a handshake answer',
  ).finally(() => socket.destroy());
}

describe('websocket handshake', () => {
  let engine: EngineServer;
  let ours: Server;
  let reference: Server;
  let wss: WebSocketServer;
  let ourPort = 0;
  let referencePort = 0;
  /** How many upgrades went through ws's own handshake code. */
  let throughWs = 0;

  before(async () => {
    engine = new EngineServer({ path: '/engine.io/', maxPayload: MAX_PAYLOAD, transports: ['websocket'] });
    ours = createServer();
    engine.attach(ours);
    const inner = (engine as unknown as { wss: WebSocketServer }).wss;
    const original = inner.handleUpgrade.bind(inner);
    inner.handleUpgrade = ((...args: Parameters<WebSocketServer['handleUpgrade']>) => {
      throughWs++;
      original(...args);
    }) as WebSocketServer['handleUpgrade'];
    engine.on('connection', (socket) => {
      socket.listener = { onMessage: (message) => socket.send(message), onClose() {} };
    });
    // ws as our engine configures it, answering the same requests on its own.
    wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    reference = createServer();
    reference.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => wss.handleUpgrade(req, socket, head, () => {}));
    await Promise.all([new Promise<void>((r) => ours.listen(0, '127.0.0.1', r)), new Promise<void>((r) => reference.listen(0, '127.0.0.1', r))]);
    ourPort = (ours.address() as AddressInfo).port;
    referencePort = (reference.address() as AddressInfo).port;
  });

  after(async () => {
    engine.close();
    ours.closeAllConnections();
    reference.closeAllConnections();
    wss.close();
    await Promise.all([new Promise((r) => ours.close(r)), new Promise((r) => reference.close(r))]);
  });

  for (const [label, headers, fast] of [
    ['the usual request', PLAIN, true],
    ['version 8', { ...PLAIN, 'Sec-WebSocket-Version': '8' }, true],
    ['`Upgrade: WebSocket`', { ...PLAIN, Upgrade: 'WebSocket' }, true],
    ['an offered extension (none is accepted)', { ...PLAIN, 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }, true],
    ['offered subprotocols (ws picks the first)', { ...PLAIN, 'Sec-WebSocket-Protocol': 'chat, superchat' }, false],
  ] as const) {
    it(`answers ${label} as ws does, then sends the open packet`, async () => {
      const before = throughWs;
      const expected = await exchange(referencePort, request(headers));
      assert.match(expected.head, /^HTTP\/1\.1 101 /);
      const answer = await exchange(ourPort, request(headers), (rest) => rest.length >= 2 && rest.length >= 2 + rest[1]!);
      assert.equal(answer.head, expected.head);
      assert.equal(answer.rest[0], 0x81, 'a text frame');
      assert.match(answer.rest.subarray(2, 2 + answer.rest[1]!).toString(), /^0\{"sid":"/);
      assert.equal(throughWs - before, fast ? 0 : 1, fast ? 'answered without ws' : 'answered by ws');
    });
  }

  for (const [label, payload] of [
    ['a bad key', request({ ...PLAIN, 'Sec-WebSocket-Key': 'short==' })],
    ['no key', request({ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' })],
    ['version 12', request({ ...PLAIN, 'Sec-WebSocket-Version': '12' })],
    ['an empty subprotocol list', request({ ...PLAIN, 'Sec-WebSocket-Protocol': ',' })],
  ] as const) {
    it(`refuses ${label} as ws does`, async () => {
      const expected = await exchange(referencePort, payload, () => false);
      const answer = await exchange(ourPort, payload, () => false);
      assert.match(expected.head, /^HTTP\/1\.1 4\d\d /);
      assert.equal(answer.head, expected.head);
      assert.deepEqual([answer.rest.toString(), answer.closed], [expected.rest.toString(), expected.closed]);
    });
  }

  it('gives the websocket the server options: echoes a message, closes 1009 on one over maxPayload', async () => {
    const socket = connect(ourPort, '127.0.0.1');
    let data = Buffer.alloc(0);
    const received = (test: (bytes: Buffer) => boolean) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => {
            if (test(data)) {
              socket.off('data', onData);
              resolve();
            }
          };
          const onData = (chunk: Buffer) => {
            data = Buffer.concat([data, chunk]);
            check();
          };
          socket.on('data', onData);
          check();
        }),
        WAIT,
        'frames',
      );
    try {
      socket.write(request(PLAIN));
      await received((bytes) => bytes.includes('0{"sid"'));
      data = Buffer.alloc(0);
      socket.write(frame({ opcode: 0x1, payload: Buffer.from('4hello') }));
      await received((bytes) => bytes.length >= 8);
      assert.deepEqual([...data.subarray(0, 8)], [0x81, 6, ...Buffer.from('4hello')]);
      data = Buffer.alloc(0);
      // Over maxPayload: 127-length header announcing MAX_PAYLOAD + 1 bytes.
      const header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(MAX_PAYLOAD + 1, 2);
      socket.write(header.subarray(0, 8));
      await received((bytes) => bytes.length >= 4);
      assert.deepEqual([data[0], data.readUInt16BE(2)], [0x88, 1009]);
    } finally {
      socket.destroy();
    }
  });
});

/**
 * acceptPlainHandshake against ws itself, on two ws servers set up alike: what each leaves
 * behind (the websocket's, its reader's and writer's fields, the socket's listeners) and what the
 * client gets, for requests it takes and requests it leaves to ws.
 */
describe('acceptPlainHandshake against ws', () => {
  type Mode = 'ours' | 'ws';
  const servers: Record<Mode, WebSocketServer> = {
    ours: new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false, WebSocket: SessionWebSocket }),
    ws: new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false, WebSocket: SessionWebSocket }),
  };
  let mode: Mode = 'ws';
  /** What the last upgrade left on the server side. */
  let left: { fast: boolean; state: string; thrown: string } = { fast: false, state: '', thrown: '' };
  let http: Server;
  let port = 0;

  /** The plain fields of an object: numbers, strings, booleans, null and undefined. */
  function fields(object: object): Record<string, unknown> {
    return Object.fromEntries(Object.entries(object).filter(([, v]) => v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v)));
  }

  function stateOf(ws: WebSocket, socket: Duplex): string {
    const inner = ws as unknown as { _receiver: object; _sender: object; _extensions: object; _autoPongComplete?: unknown };
    return JSON.stringify({
      websocket: fields(ws),
      className: ws.constructor.name,
      extensions: Object.keys(inner._extensions),
      autoPong: typeof inner._autoPongComplete,
      receiver: fields(inner._receiver),
      sender: fields(inner._sender),
      socket: Object.fromEntries(socket.eventNames().map((e) => [String(e), socket.listeners(e).map((f) => f.name)])),
      timeout: (socket as Duplex & { timeout?: number }).timeout,
      websocketListeners: ws.eventNames().map(String),
    });
  }

  before(async () => {
    http = createServer();
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const wss = servers[mode];
      left = { fast: false, state: '', thrown: '' };
      const opened = (ws: WebSocket) => {
        left.state = stateOf(ws, socket);
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      };
      try {
        const ws = mode === 'ours' ? acceptPlainHandshake(wss, req, socket, head) : null;
        left.fast = ws !== null;
        if (ws) opened(ws);
        else wss.handleUpgrade(req, socket, head, opened);
      } catch (err) {
        left.thrown = (err as Error).message;
        socket.destroy();
      }
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as AddressInfo).port;
  });

  after(async () => {
    servers.ours.close();
    servers.ws.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  /**
   * Sends `payload`; once a 101 comes back, a ping and a text frame "end", and waits for the
   * echo of "end" (or for the server to close). Returns every byte received.
   */
  function talk(payload: Buffer): Promise<string> {
    const socket = connect(port, '127.0.0.1', () => socket.write(payload));
    let data = Buffer.alloc(0);
    let upgraded = false;
    const END = Buffer.from([0x81, 3, ...Buffer.from('end')]);
    return within(
      new Promise<string>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => {
          data = Buffer.concat([data, chunk]);
          if (!upgraded && data.includes('\r\n\r\n') && data.subarray(0, 12).toString() === 'HTTP/1.1 101') {
            upgraded = true;
            socket.write(Buffer.concat([frame({ opcode: 0x9, payload: Buffer.from('p') }), frame({ opcode: 0x1, payload: Buffer.from('end') })]));
          }
          if (upgraded && data.includes(END)) resolve(data.toString('latin1'));
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(data.toString('latin1')));
      }),
      WAIT,
      'the server to answer',
    ).finally(() => socket.destroy());
  }

  const request = (lines: readonly string[], method = 'GET') => Buffer.from(`${method} /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`);
  const BASE = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'];
  const withHeader = (name: string, ...values: string[]) => [...BASE.filter((l) => !l.startsWith(`${name}:`)), ...values.map((v) => `${name}: ${v}`)];

  for (const [label, payload, fast] of [
    ['the usual request', request(BASE), true],
    ['lower-case header names', request(BASE.map((l) => l.replace(/^[^:]+/, (name) => name.toLowerCase()))), true],
    ['version 8', request(withHeader('Sec-WebSocket-Version', '8')), true],
    ['version 013 (left to ws)', request(withHeader('Sec-WebSocket-Version', '013')), false],
    ['a first frame and a ping in the request packet', Buffer.concat([request(BASE), frame({ opcode: 0x1, payload: Buffer.from('hi') }), frame({ opcode: 0x9, payload: Buffer.from('q') })]), true],
    ['a subprotocol (left to ws)', request([...BASE, 'Sec-WebSocket-Protocol: chat']), false],
    ['`Upgrade: websocket, foo` (refused)', request(withHeader('Upgrade', 'websocket, foo')), false],
    ['a key of 23 characters (refused)', request(withHeader('Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQx=')), false],
    ['HEAD (refused)', request(BASE, 'HEAD'), false],
    ['POST (refused)', request([...BASE, 'Content-Length: 0'], 'POST'), false],
  ] as const) {
    it(`leaves the same websocket and answers the same for ${label}`, async () => {
      mode = 'ws';
      const expected = await talk(payload);
      const expectedState = left;
      mode = 'ours';
      const answer = await talk(payload);
      assert.equal(answer, expected);
      assert.deepEqual({ ...left, fast: undefined }, { ...expectedState, fast: undefined });
      assert.equal(left.fast, fast, fast ? 'answered without ws' : 'left to ws');
    });
  }

  it("leaves a server with a 'headers' listener or its own shouldHandle to ws", async () => {
    const addHeader = (headers: string[]) => headers.push('X-Extra: 1');
    servers.ours.on('headers', addHeader);
    try {
      mode = 'ours';
      assert.match(await talk(request(BASE)), /\r\nX-Extra: 1\r\n/);
      assert.equal(left.fast, false);
    } finally {
      servers.ours.off('headers', addHeader);
    }
    servers.ours.shouldHandle = () => false;
    try {
      assert.match(await talk(request(BASE)), /^HTTP\/1\.1 400 /);
      assert.equal(left.fast, false);
    } finally {
      delete (servers.ours as Partial<WebSocketServer>).shouldHandle;
    }
  });

  it('leaves a closing server to ws (503)', async () => {
    const open = { ...servers };
    const make = () => new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false, WebSocket: SessionWebSocket });
    servers.ours = make();
    servers.ws = make();
    servers.ours.close();
    servers.ws.close();
    try {
      mode = 'ws';
      const expected = await talk(request(BASE));
      mode = 'ours';
      assert.match(expected, /^HTTP\/1\.1 503 /);
      assert.equal(await talk(request(BASE)), expected);
      assert.equal(left.fast, false);
    } finally {
      Object.assign(servers, open);
    }
  });

  it('takes no socket a websocket already reads (ws throws for that misconfiguration)', async () => {
    const wss = servers.ours;
    const second = new Promise<SessionWebSocket | null>((resolve) => {
      http.once('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => resolve(acceptPlainHandshake(wss, req, socket, head)));
    });
    mode = 'ours';
    await talk(request(BASE));
    assert.equal(left.fast, true);
    assert.equal(await second, null);
  });
});
