import * as wsModule from 'ws';
import WebSocket from 'ws';
import type { EngineSocket } from '../engine-socket.ts';
import type { WirePacket } from '../packet.ts';

/**
 * The websockets our server accepts (ws's `WebSocket` option): a declared field for the session
 * a websocket serves lets shared listener functions find it, where a property added later would
 * change the object's shape and allocate on every connection.
 */
export class SessionWebSocket extends WebSocket {
  /** @internal The session this websocket is the transport of (set when bound). */
  session: EngineSocket | null = null;
}

/**
 * A message encoded once for many recipients (a broadcast). The websocket frame is built on first
 * use and then written as the same bytes to every websocket client, so a broadcast to N clients
 * costs one encode and one frame, not N.
 */
export class PreparedPacket {
  /** Header and payload of the websocket frame, built lazily. */
  frame: Buffer[] | undefined = undefined;

  constructor(readonly packet: WirePacket) {}
}

interface WsSender {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
  _state?: number;
}

interface WsInternals {
  _sender?: WsSender;
  _extensions?: Record<string, unknown>;
}

interface WsSenderClass {
  frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
}

// ws exports its frame builder (`Sender`) but its type definitions do not declare it.
const Sender = (wsModule as unknown as { Sender?: WsSenderClass }).Sender;

const TEXT = Object.freeze({ binary: false });
const BINARY = Object.freeze({ binary: true });

/** One Engine.IO websocket transport: one packet per frame, binary messages as binary frames. */
export class WebSocketTransport {
  readonly name = 'websocket' as const;

  constructor(readonly ws: SessionWebSocket) {}

  get writable(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes handed to the socket but not yet written to the network. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(packet: WirePacket): void {
    this.ws.send(packet, typeof packet === 'string' ? TEXT : BINARY);
  }

  sendPrepared(prepared: PreparedPacket): void {
    const internals = this.ws as unknown as WsInternals;
    const sender = internals._sender;
    // Writing a pre-built frame is only sound when ws has nothing queued and no extension
    // (permessage-deflate) rewrites frames; otherwise fall back to a normal send.
    if (!Sender || !sender || sender._state !== 0 || typeof sender.sendFrame !== 'function' || hasExtensions(internals)) {
      this.send(prepared.packet);
      return;
    }
    prepared.frame ??= frameOf(prepared.packet);
    sender.sendFrame(prepared.frame);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function hasExtensions(internals: WsInternals): boolean {
  const extensions = internals._extensions;
  if (!extensions) return false;
  for (const _ in extensions) return true;
  return false;
}

function frameOf(packet: WirePacket): Buffer[] {
  const binary = typeof packet !== 'string';
  return Sender!.frame(binary ? packet : Buffer.from(packet), {
    fin: true,
    rsv1: false,
    opcode: binary ? 2 : 1,
    mask: false,
    readOnly: false,
  });
}
