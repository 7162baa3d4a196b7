import type { IncomingHttpHeaders } from 'node:http';

/** A namespace socket's id (sent to the client in the CONNECT reply). Not an Engine.IO sid. */
export type SocketId = string;
/** A room name. A socket's own id is also a room that holds just that socket. */
export type Room = string;

/** What the server knows of a socket's connection (socket.io's `socket.handshake`). */
export interface Handshake {
  /** Headers of the request that opened the connection. */
  readonly headers: IncomingHttpHeaders;
  /** Query parameters of that request. */
  readonly query: Readonly<Record<string, string>>;
  /** The CONNECT packet's payload (`auth` option of the client), `{}` when none was sent. */
  readonly auth: Readonly<Record<string, unknown>>;
  /** The peer's IP address. */
  readonly address: string;
  /** Whether the connection uses TLS. */
  readonly secure: boolean;
  /** The opening request's URL. */
  readonly url: string;
  /** When the connection opened, ms since the epoch. */
  readonly issued: number;
  /** The same, as a date string. */
  readonly time: string;
}

/** A callback the server calls with the client's acknowledgement, or with an error on timeout. */
export type AckCallback = (...args: unknown[]) => void;

/** Any listener of a socket event; the last argument is the ack function when the client asked for one. */
export type Listener = (...args: any[]) => unknown;
