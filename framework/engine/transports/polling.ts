import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deadlines, Scheduled } from '../../util/deadlines.ts';
import { encodePayload, type WirePacket } from '../packet.ts';

export type BodyProblem = 'too large' | 'aborted';

/**
 * What a polling transport reports to its session. Set once per session: no request of the
 * session needs a closure of its own (a held GET lives long enough for closures to be promoted).
 */
export interface PollingTransportListener {
  /** The held GET's connection went away before it was answered. */
  onPollAborted(): void;
  /** The POST being read ended: its whole body as text, or the problem that stopped it. */
  onPostBody(transport: PollingTransport, res: ServerResponse, body: string, problem: BodyProblem | undefined): void;
}

/** How a request's shared listeners find the transport it belongs to. */
const TRANSPORT = Symbol('mojo.pollingTransport');
type TransportRequest = IncomingMessage & { [TRANSPORT]?: PollingTransport };

/**
 * The long-polling side of one session: at most one pending GET (the server's way to talk) and
 * one POST (the client's) at a time. It only moves bytes; the session decides what they mean.
 */
export class PollingTransport implements Scheduled {
  readonly name = 'polling' as const;
  /** The session; set right after the transport is made. */
  listener: PollingTransportListener | null = null;
  /** The GET waiting for data, if any, and its request. */
  private pending: ServerResponse | null = null;
  private pendingRequest: IncomingMessage | null = null;
  /** The POST being read, if any: its request, response, limit and what arrived so far. */
  private postRequest: IncomingMessage | null = null;
  private postResponse: ServerResponse | null = null;
  private postLimit = 0;
  private postSize = 0;
  private postChunk: Buffer | null = null;
  private postChunks: Buffer[] | null = null;
  /** Response headers, built once: a payload's (its Content-Length, last, set per response) and a POST's `ok`. */
  private readonly payloadHeaders: string[];
  private readonly okHeaders: readonly string[];
  /** @internal Links of the server's queue of held GETs, while this one's GET waits there (see {@link Deadlines}). */
  deadlineAt = 0;
  /** @internal */
  deadlinePrev: Scheduled | null = null;
  /** @internal */
  deadlineNext: Scheduled | null = null;
  /** @internal */
  deadlines: Deadlines<PollingTransport> | null = null;

  constructor(corsHeaders: Readonly<Record<string, string>>) {
    const cors = Object.entries(corsHeaders).flat();
    this.payloadHeaders = [...cors, 'Content-Type', 'text/plain; charset=UTF-8', 'Content-Length', ''];
    this.okHeaders = [...cors, 'Content-Type', 'text/html', 'Content-Length', '2'];
  }

  /** True while a GET is waiting, so whatever is sent goes out now. */
  get writable(): boolean {
    return this.pending !== null;
  }

  /** True while a POST is being read. */
  get posting(): boolean {
    return this.postRequest !== null;
  }

  /**
   * Holds `res` until there is something to send. Returns false if a GET is already pending.
   * A GET whose connection goes away before it was answered ends the session (protocol rule: the
   * client would otherwise lose whatever we wrote into it); the listener hears `onPollAborted`.
   */
  hold(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.pending) return false;
    this.pending = res;
    this.pendingRequest = req;
    (req as TransportRequest)[TRANSPORT] = this;
    req.on('close', onRequestClose);
    return true;
  }

  /** Answers the pending GET with `packets`. */
  flush(packets: readonly WirePacket[]): void {
    const res = this.pending;
    if (!res) return;
    this.pending = null;
    this.pendingRequest = null;
    this.deadlines?.remove(this);
    const body = encodePayload(packets);
    const headers = this.payloadHeaders;
    // Read at once by writeHead, never kept: the next response can reuse the list.
    headers[headers.length - 1] = String(Buffer.byteLength(body));
    res.writeHead(200, headers);
    res.end(body);
  }

  /**
   * Reads the body of the POST `req` as text; the listener hears `onPostBody` when it ends, is
   * past `limit` bytes, or breaks off. The caller makes sure no other POST is being read.
   */
  readPost(req: IncomingMessage, res: ServerResponse, limit: number): void {
    if (Number(req.headers['content-length']) > limit) {
      this.listener?.onPostBody(this, res, '', 'too large');
      return;
    }
    this.postRequest = req;
    this.postResponse = res;
    this.postLimit = limit;
    this.postSize = 0;
    (req as TransportRequest)[TRANSPORT] = this;
    req.on('data', onRequestData);
    req.on('end', onRequestEnd);
    // No 'error' listener: without one, a failing request only closes (incomplete), which is
    // where an aborted body is noticed.
    req.on('close', onRequestClose);
  }

  /** Acknowledges a POST the way the reference server does: 200 with body `ok`. */
  ok(res: ServerResponse): void {
    res.writeHead(200, this.okHeaders as string[]);
    res.end('ok');
  }

  /** @internal */
  requestData(req: IncomingMessage, chunk: Buffer): void {
    if (req !== this.postRequest) return;
    this.postSize += chunk.length;
    if (this.postSize > this.postLimit) {
      this.endPost('', 'too large');
      return;
    }
    if (this.postChunk === null) this.postChunk = chunk;
    else (this.postChunks ??= [this.postChunk]).push(chunk);
  }

  /** @internal */
  requestEnded(req: IncomingMessage): void {
    if (req !== this.postRequest) return;
    const chunks = this.postChunks;
    this.endPost(chunks !== null ? Buffer.concat(chunks).toString('utf8') : (this.postChunk?.toString('utf8') ?? ''), undefined);
  }

  /** @internal */
  requestClosed(req: IncomingMessage): void {
    if (req === this.pendingRequest) {
      const res = this.pending!;
      if (res.writableEnded) return;
      this.pending = null;
      this.pendingRequest = null;
      this.deadlines?.remove(this);
      this.listener?.onPollAborted();
    } else if (req === this.postRequest && !req.complete) {
      this.endPost('', 'aborted');
    }
  }

  private endPost(body: string, problem: BodyProblem | undefined): void {
    const res = this.postResponse!;
    this.postRequest = null;
    this.postResponse = null;
    this.postChunk = null;
    this.postChunks = null;
    this.listener?.onPostBody(this, res, body, problem);
  }
}

// Listeners shared by every request: each finds its transport through the request.
function onRequestData(this: TransportRequest, chunk: Buffer): void {
  this[TRANSPORT]?.requestData(this, chunk);
}

function onRequestEnd(this: TransportRequest): void {
  this[TRANSPORT]?.requestEnded(this);
}

function onRequestClose(this: TransportRequest): void {
  this[TRANSPORT]?.requestClosed(this);
}
