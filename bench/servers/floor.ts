/**
 * The floor: a bare `ws` server that speaks just enough Engine.IO 4 / Socket.IO 5 over websocket
 * for the benchmark's namespace and events, with no abstraction in between. What any server must
 * do is here (open packet, CONNECT reply, JSON decode and encode, heartbeat); nothing else is.
 * - one class of state per connection (ws's own socket subclass), no closures per connection;
 * - a broadcast is encoded once into one Buffer and handed to `ws.send` of every member;
 * - the heartbeat is one 1 s sweep over all connections, not a timer each;
 * - websocket only: no long-polling, no upgrade, no recovery, no rooms.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_PAYLOAD, NAMESPACE, PING_INTERVAL, PING_TIMEOUT } from '../constants.ts';
import { serveControl } from './control.ts';

const CONNECT = `40${NAMESPACE},`;
const EVENT = `42${NAMESPACE},`;
const ACK = `43${NAMESPACE},`;
const OPEN_TAIL = `","upgrades":[],"pingInterval":${PING_INTERVAL},"pingTimeout":${PING_TIMEOUT},"maxPayload":${MAX_PAYLOAD}}`;
const TEXT = { binary: false };

class FloorSocket extends WebSocket {
  joined = false;
  awaitingPong = false;
  /** When the next ping is due, or (awaiting a pong) when the client is given up on. */
  due = 0;
}

const members = new Set<FloorSocket>();
const everyone = new Set<FloorSocket>();

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const self = this as FloorSocket;
  const text = isBinary ? '' : data.toString();
  const type = text.charCodeAt(0);
  if (type === 0x33 /* 3 pong */ && text.length === 1) {
    if (self.awaitingPong) {
      self.awaitingPong = false;
      self.due = Date.now() + PING_INTERVAL;
    }
    return;
  }
  if (type !== 0x34 /* 4 message */) {
    self.terminate();
    return;
  }
  if (text.startsWith(CONNECT) || text === CONNECT.slice(0, -1)) {
    if (self.joined) return self.terminate();
    self.joined = true;
    members.add(self);
    self.send(`${CONNECT}{"sid":"${randomUUID()}"}`);
    return;
  }
  if (text.startsWith(`41${NAMESPACE}`)) {
    self.joined = false;
    members.delete(self);
    return;
  }
  if (!self.joined || !text.startsWith(EVENT)) {
    self.terminate();
    return;
  }
  // 42/BenchSocket,<ack id digits>[...]
  let at = EVENT.length;
  while (at < text.length && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39) at++;
  const id = text.slice(EVENT.length, at);
  let args: unknown;
  try {
    args = JSON.parse(text.slice(at));
  } catch {
    self.terminate();
    return;
  }
  if (!Array.isArray(args) || typeof args[0] !== 'string') return self.terminate();
  const name = args[0];
  if (name === 'echo') {
    self.send(EVENT + JSON.stringify(args));
  } else if (name === 'fanout') {
    const frame = Buffer.from(EVENT + JSON.stringify(args));
    for (const member of members) member.send(frame, TEXT);
  } else if (name === 'ack' && id !== '') {
    self.send(ACK + id + JSON.stringify(args.slice(1)));
  }
}

function onClose(this: WebSocket): void {
  members.delete(this as FloorSocket);
  everyone.delete(this as FloorSocket);
}

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_PAYLOAD, WebSocket: FloorSocket });

http.on('upgrade', (req, socket, head) => {
  const url = req.url ?? '';
  if (!url.startsWith('/socket.io/?') || !url.includes('EIO=4') || !url.includes('transport=websocket')) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const client = ws as FloorSocket;
    client.due = Date.now() + PING_INTERVAL;
    everyone.add(client);
    client.on('message', onMessage);
    client.on('close', onClose);
    client.on('error', () => client.terminate());
    client.send(`0{"sid":"${randomUUID()}${OPEN_TAIL}`);
  });
});

// One sweep a second: ping who is due, drop who did not answer the last ping in time.
setInterval(() => {
  const now = Date.now();
  for (const client of everyone) {
    if (client.due > now) continue;
    if (client.awaitingPong) {
      client.terminate();
      continue;
    }
    client.awaitingPong = true;
    client.due = now + PING_TIMEOUT;
    client.send('2');
  }
}, 1000);

http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  serveControl(typeof address === 'object' && address ? address.port : 0, 'floor');
});
