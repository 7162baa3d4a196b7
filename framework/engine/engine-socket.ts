import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { Deadlines, type Scheduled } from '../util/deadlines.ts';
import { createLogger } from '../util/logger.ts';
import type { EngineCloseReason } from './errors.ts';
import type { ResolvedEngineOptions } from './options.ts';
import { EnginePacketType, decodePayload, isTextPacket, type WirePacket } from './packet.ts';
import { PollingTransport, type BodyProblem, type PollingTransportListener } from './transports/polling.ts';
import { PreparedPacket, WebSocketTransport } from './transports/websocket.ts';

const log = createLogger('engine');

/** An Engine.IO session id. Never the same thing as a Socket.IO socket id. */
export type Sid = string;

/** What the layers above may know of the request that opened a session. */
export interface EngineHandshake {
  /** The opening request's headers (empty when the server was told not to keep them). */
  readonly headers: IncomingHttpHeaders;
  /** The opening request's query parameters (first value of each). */
  readonly query: Readonly<Record<string, string>>;
  /** The peer's IP address. */
  readonly address: string;
  /** Whether the request came over TLS. */
  readonly secure: boolean;
  /** The opening request's URL. */
  readonly url: string;
  /** When the session opened (ms since the epoch). */
  readonly time: number;
}

export type EngineReadyState = 'open' | 'closing' | 'closed';

/** Callbacks of the layer above; plain fields rather than an EventEmitter keep each session small. */
export interface EngineSocketListener {
  onMessage(data: string | Buffer): void;
  onClose(reason: EngineCloseReason): void;
}

/** Whatever the server must give a session: its options, its heartbeat queues and a way to forget it. */
export interface EngineSocketOwner {
  readonly options: ResolvedEngineOptions;
  readonly counters: { packetsSent: number; packetsReceived: number };
  /** Sessions waiting to be pinged (`pingInterval`), and sessions waiting for a pong (`pingTimeout`): see {@link heartbeatQueues}. */
  readonly heartbeats: { readonly pings: Deadlines<EngineSocket>; readonly pongs: Deadlines<EngineSocket> };
  /** Held GETs with nothing to send, answered with a noop after `maxPollDuration`; null when that is 0 (off). See {@link heldPollQueue}. */
  readonly heldPolls: Deadlines<PollingTransport> | null;
  forget(socket: EngineSocket): void;
}

/**
 * One Engine.IO session: a transport (polling, later maybe websocket), the heartbeat, the
 * upgrade, and the output buffer while no transport can take data.
 */
export class EngineSocket implements PollingTransportListener, Scheduled {
  readyState: EngineReadyState = 'open';
  transport: PollingTransport | WebSocketTransport;
  /** The layer above; set right after the server announces the session. */
  listener: EngineSocketListener | null = null;
  /** A websocket that is probing to replace polling. */
  private probe: WebSocketTransport | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  /** Output waiting for the next GET (polling, or while upgrading); null while empty. */
  private buffer: WirePacket[] | null = null;
  private bufferedBytes = 0;
  private flushScheduled = false;
  /** Only for a polling session closing gracefully; the heartbeat waits in the owner's queues. */
  private timer: NodeJS.Timeout | null = null;
  private awaitingPong = false;
  /** @internal Links of the heartbeat queue this session waits in (see {@link Deadlines}). */
  deadlineAt = 0;
  /** @internal */
  deadlinePrev: Scheduled | null = null;
  /** @internal */
  deadlineNext: Scheduled | null = null;
  /** @internal */
  deadlines: Deadlines<EngineSocket> | null = null;
  private closingReason: EngineCloseReason | null = null;

  constructor(
    readonly id: Sid,
    private readonly owner: EngineSocketOwner,
    transport: PollingTransport | WebSocketTransport,
    readonly handshake: EngineHandshake,
  ) {
    this.transport = transport;
    if (transport.name === 'websocket') this.bindWebSocket(transport);
    else transport.listener = this;
    owner.heartbeats.pings.add(this);
  }

  /** The open packet: exactly the keys the protocol lists, in its order. */
  openPacket(): string {
    return openPacketOf(this.id, this.transport.name, this.owner.options);
  }

  /** Sends one message: a string as a text packet, a Buffer as a binary one. */
  send(data: string | Buffer): void {
    this.write(typeof data === 'string' ? EnginePacketType.MESSAGE + data : data);
  }

  /** Sends a message encoded once for many sessions (see {@link PreparedPacket}). */
  sendPrepared(prepared: PreparedPacket): void {
    if (this.readyState !== 'open') return;
    const transport = this.transport;
    if (transport.name === 'websocket') {
      this.owner.counters.packetsSent++;
      transport.sendPrepared(prepared);
      this.checkBackpressure(transport);
    } else {
      this.write(prepared.packet);
    }
  }

  /** Writes a raw Engine.IO packet. */
  write(packet: WirePacket): void {
    if (this.readyState !== 'open') return;
    this.owner.counters.packetsSent++;
    const transport = this.transport;
    if (transport.name === 'websocket') {
      transport.send(packet);
      this.checkBackpressure(transport);
      return;
    }
    (this.buffer ??= []).push(packet);
    this.bufferedBytes += packet.length;
    if (this.bufferedBytes > this.owner.options.maxBufferedBytes) {
      this.end('buffer overflow');
      return;
    }
    if (transport.writable && !this.flushScheduled) {
      // Everything written in this tick leaves in one response.
      this.flushScheduled = true;
      queueMicrotask(() => this.flushPolling());
    }
  }

  /**
   * Closes the session from the server side: what is buffered still goes out first.
   * @example socket.close()
   */
  close(reason: Extract<EngineCloseReason, 'forced close' | 'server shutting down'> = 'forced close'): void {
    if (this.readyState !== 'open') return;
    const transport = this.transport;
    if (reason === 'forced close' && transport.name === 'polling' && !transport.writable && !this.probe) {
      // Wait (briefly) for the client's next GET, so it gets what is buffered and learns the
      // session is over. A shutting-down server does not wait: the next poll gets 400.
      this.readyState = 'closing';
      this.clearTimer();
      this.closingReason = reason;
      this.timer = setTimeout(closeLater, this.owner.options.pingTimeout, this, reason);
      this.timer.unref();
      return;
    }
    this.end(reason);
  }

  /** Ends the session now; `fromClient` means the client asked for it (its close packet). */
  end(reason: EngineCloseReason, fromClient = false): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.clearTimer();
    this.dropProbe();
    const transport = this.transport;
    if (transport.name === 'polling') {
      if (transport.writable) {
        // A pending GET learns the outcome: a noop when the client closed, else the close packet.
        transport.flush(fromClient ? [EnginePacketType.NOOP] : [...(this.buffer ?? []), EnginePacketType.CLOSE]);
      }
    } else if (reason === 'transport error' || reason === 'parse error' || reason === 'buffer overflow' || reason === 'ping timeout') {
      transport.terminate();
    } else {
      transport.close();
    }
    this.buffer = null;
    this.bufferedBytes = 0;
    this.owner.forget(this);
    if (log.debugEnabled) log.debug(`session ${this.id} closed: ${reason}`);
    const listener = this.listener;
    this.listener = null;
    listener?.onClose(reason);
  }

  /** Bytes of output not yet on the network (websocket) or not yet fetched (polling). */
  get bufferedAmount(): number {
    return this.transport.name === 'websocket' ? this.transport.bufferedAmount : this.bufferedBytes;
  }

  // ---- input ----------------------------------------------------------------------------------

  /** One packet from the active transport. */
  receive(packet: WirePacket): void {
    if (this.readyState !== 'open') return;
    this.owner.counters.packetsReceived++;
    if (typeof packet !== 'string') {
      this.listener?.onMessage(packet);
      return;
    }
    switch (packet.charCodeAt(0)) {
      case 0x34 /* 4 message */:
        this.listener?.onMessage(packet.slice(1));
        return;
      case 0x33 /* 3 pong */:
        if (this.awaitingPong) {
          this.awaitingPong = false;
          this.owner.heartbeats.pings.add(this);
        }
        return;
      case 0x31 /* 1 close */:
        this.end('transport close', true);
        return;
      case 0x36 /* 6 noop */:
        return;
      default:
        // A ping from the client is the wrong direction in v4; anything else is not a packet here.
        this.end(isTextPacket(packet) && packet.charCodeAt(0) === 0x32 ? 'transport error' : 'parse error');
    }
  }

  // ---- polling --------------------------------------------------------------------------------

  /** A GET or POST of this session's polling transport. */
  onPollingRequest(req: IncomingMessage, res: ServerResponse): void {
    const transport = this.transport;
    if (transport.name !== 'polling') {
      // Upgraded already: polling with this sid is over (reference: TRANSPORT_MISMATCH).
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":3,"message":"Bad request"}');
      return;
    }
    if (req.method === 'GET') this.onPoll(transport, req, res);
    else this.onData(transport, req, res);
  }

  private onPoll(transport: PollingTransport, req: IncomingMessage, res: ServerResponse): void {
    if (!transport.hold(req, res)) {
      // A second concurrent GET is a broken client: refuse it and end the session.
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":3,"message":"Bad request"}');
      this.end('transport error');
      return;
    }
    if (this.readyState === 'closing') {
      this.finishClosing();
    } else if (this.probe) {
      // Upgrading: release the client's poll so it can complete the switch.
      transport.flush([EnginePacketType.NOOP]);
    } else if (this.buffer !== null) {
      this.flushPolling();
    } else {
      this.owner.heldPolls?.add(transport);
    }
  }

  private onData(transport: PollingTransport, req: IncomingMessage, res: ServerResponse): void {
    if (transport.posting) {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":3,"message":"Bad request"}');
      this.end('transport error');
      return;
    }
    if (req.headers['content-type'] === 'application/octet-stream') {
      // Protocol v4 sends binary as base64 text; a raw binary body is not a v4 client.
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":3,"message":"Bad request"}');
      this.end('parse error');
      return;
    }
    transport.readPost(req, res, this.owner.options.maxPayload);
  }

  /** @internal The held GET's connection went away: the session ends (see {@link PollingTransport.hold}). */
  onPollAborted(): void {
    this.end('transport close');
  }

  /** @internal A POST of the polling transport `transport` was read, or could not be. */
  onPostBody(transport: PollingTransport, res: ServerResponse, body: string, problem: BodyProblem | undefined): void {
    if (problem === 'too large') {
      res.writeHead(413, { Connection: 'close' }).end();
      this.end('transport error');
      return;
    }
    if (problem === 'aborted') {
      this.end('transport close');
      return;
    }
    const packets = decodePayload(body);
    if (!packets) {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":3,"message":"Bad request"}');
      this.end('parse error');
      return;
    }
    // Answer first: a close packet in the body ends the session, but the POST itself succeeded.
    transport.ok(res);
    for (const packet of packets) {
      if (this.readyState !== 'open') break;
      this.receive(packet);
    }
  }

  private flushPolling(): void {
    this.flushScheduled = false;
    const transport = this.transport;
    const packets = this.buffer;
    if (transport.name !== 'polling' || !transport.writable || packets === null || this.readyState !== 'open') return;
    this.buffer = null;
    this.bufferedBytes = 0;
    transport.flush(packets);
  }

  private finishClosing(): void {
    this.end(this.closingReason ?? 'forced close');
  }

  // ---- websocket and upgrade ---------------------------------------------------------------------

  private bindWebSocket(transport: WebSocketTransport): void {
    // Shared listener functions find their session through the websocket: no closures (and no
    // captured context) per connection.
    const ws = transport.ws;
    ws.session = this;
    ws.on('message', onWsMessage);
    // ws emits 'close' exactly once: `on` spares the wrapper `once` would make per connection.
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
  }

  /** @internal A frame from the active websocket. */
  fromWebSocket(ws: WebSocketTransport['ws'], data: Buffer, isBinary: boolean): void {
    if (this.transport.name !== 'websocket' || this.transport.ws !== ws) return;
    this.receive(isBinary ? data : data.toString('utf8'));
  }

  /** @internal The active websocket closed or failed. */
  webSocketEnded(ws: WebSocketTransport['ws'], reason: 'transport close' | 'transport error'): void {
    if (this.transport.name === 'websocket' && this.transport.ws === ws) this.end(reason);
  }

  /** A websocket that wants to take over this polling session (`2probe`, `3probe`, `5`). */
  beginUpgrade(probe: WebSocketTransport): void {
    if (this.probe || this.transport.name !== 'polling' || this.readyState !== 'open') {
      // Upgraded already, or another probe is under way: the reference server accepts the
      // websocket and closes it at once, leaving the session as it is.
      probe.close();
      return;
    }
    this.probe = probe;
    const ws = probe.ws;
    this.probeTimer = setTimeout(() => {
      log.debug(`session ${this.id}: upgrade timed out`);
      this.dropProbe();
    }, this.owner.options.upgradeTimeout);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString('utf8');
      if (text === '2probe') {
        probe.send('3probe');
        const polling = this.transport;
        if (polling.name === 'polling' && polling.writable) polling.flush([EnginePacketType.NOOP]);
      } else if (text === EnginePacketType.UPGRADE && this.readyState === 'open') {
        ws.off('message', onMessage);
        ws.off('close', onProbeClosed);
        this.completeUpgrade(probe);
      } else {
        this.dropProbe();
      }
    };
    const onProbeClosed = () => {
      if (this.probe === probe) this.dropProbe();
    };
    ws.on('message', onMessage);
    ws.once('close', onProbeClosed);
    ws.on('error', () => {
      if (this.probe === probe) this.dropProbe();
    });
  }

  private completeUpgrade(probe: WebSocketTransport): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.probe = null;
    const polling = this.transport;
    if (polling.name === 'polling' && polling.writable) polling.flush([EnginePacketType.NOOP]);
    this.transport = probe;
    this.bindWebSocket(probe);
    const pending = this.buffer ?? [];
    this.buffer = null;
    this.bufferedBytes = 0;
    for (const packet of pending) probe.send(packet);
    log.debug(`session ${this.id} upgraded to websocket`);
  }

  private dropProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    const probe = this.probe;
    this.probe = null;
    probe?.close();
  }

  // ---- heartbeat ------------------------------------------------------------------------------

  /** @internal `pingInterval` passed since the last pong (or the open): ping, and wait for the pong. */
  ping(): void {
    this.awaitingPong = true;
    this.write(EnginePacketType.PING);
    if (this.readyState === 'open') this.owner.heartbeats.pongs.add(this);
  }

  /** Stops the heartbeat and the graceful-close timer. */
  private clearTimer(): void {
    this.deadlines?.remove(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private checkBackpressure(transport: WebSocketTransport): void {
    if (transport.bufferedAmount > this.owner.options.maxBufferedBytes) this.end('buffer overflow');
  }
}

/** Everything after the sid of the open packet, per options and transport: built once, not per connection. */
const openTails = new WeakMap<ResolvedEngineOptions, { polling: string; websocket: string }>();

function openPacketOf(sid: Sid, transport: 'polling' | 'websocket', options: ResolvedEngineOptions): string {
  let tails = openTails.get(options);
  if (!tails) {
    const { pingInterval, pingTimeout, maxPayload, allowUpgrades, transports } = options;
    const tail = (upgrades: string[]) => JSON.stringify({ sid: '', upgrades, pingInterval, pingTimeout, maxPayload }).slice('{"sid":""'.length);
    tails = { polling: tail(allowUpgrades && transports.includes('websocket') ? ['websocket'] : []), websocket: tail([]) };
    openTails.set(options, tails);
  }
  // A sid is URL-safe base64: nothing in it needs escaping inside the JSON string.
  return `${EnginePacketType.OPEN}{"sid":"${sid}"${tails[transport]}`;
}

// ws types listeners' `this` as its base class; ours are all SessionWebSockets (the server's WebSocket option).
type AnyWebSocket = WebSocket;

function onWsMessage(this: AnyWebSocket, data: Buffer, isBinary: boolean): void {
  const ws = this as WebSocketTransport['ws'];
  ws.session?.fromWebSocket(ws, data, isBinary);
}

function onWsClose(this: AnyWebSocket): void {
  const ws = this as WebSocketTransport['ws'];
  ws.session?.webSocketEnded(ws, 'transport close');
}

function onWsError(this: AnyWebSocket, err: Error): void {
  const ws = this as WebSocketTransport['ws'];
  log.debug(`session ${ws.session?.id ?? '?'} websocket error: ${err.message}`);
  ws.session?.webSocketEnded(ws, 'transport error');
}

/**
 * The heartbeat of every session of one server, on two timers: a session waits `pingInterval`
 * in `pings`, is pinged, and waits `pingTimeout` in `pongs`; its pong moves it back to `pings`,
 * a missing one ends it ('ping timeout').
 */
export function heartbeatQueues(options: Pick<ResolvedEngineOptions, 'pingInterval' | 'pingTimeout'>): EngineSocketOwner['heartbeats'] {
  return {
    pings: new Deadlines<EngineSocket>(options.pingInterval, pingDue),
    pongs: new Deadlines<EngineSocket>(options.pingTimeout, pongMissing),
  };
}

// Module-level callbacks take the session as an argument: no closure per session.
function pingDue(socket: EngineSocket): void {
  socket.ping();
}

function pongMissing(socket: EngineSocket): void {
  socket.end('ping timeout');
}

/**
 * The queue of held GETs of one server (`maxPollDuration`, or null when it is 0). A transport
 * leaves it when its GET is answered or goes away; one still there when due gets a noop, so the
 * client polls again. A held GET costs no timer of its own, and nothing keeps its response once
 * answered (a timer per GET kept each for the whole duration).
 */
export function heldPollQueue(options: Pick<ResolvedEngineOptions, 'maxPollDuration'>): Deadlines<PollingTransport> | null {
  return options.maxPollDuration > 0 ? new Deadlines<PollingTransport>(options.maxPollDuration, releasePoll) : null;
}

function releasePoll(transport: PollingTransport): void {
  transport.flush([EnginePacketType.NOOP]);
}

function closeLater(socket: EngineSocket, reason: EngineCloseReason): void {
  socket.end(reason);
}
