import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { encodePayload, type WirePacket } from '../packet.ts';

/**
 * The long-polling side of one session: at most one pending GET (the server's way to talk) and
 * one POST (the client's) at a time. It only moves bytes; the session decides what they mean.
 */
export class PollingTransport {
  readonly name = 'polling' as const;
  /** The GET waiting for data, if any. */
  private pending: ServerResponse | null = null;
  private posting = false;

  constructor(private readonly corsHeaders: OutgoingHttpHeaders) {}

  /** True while a GET is waiting, so whatever is sent goes out now. */
  get writable(): boolean {
    return this.pending !== null;
  }

  /** True while `res` is the GET being held. */
  isHolding(res: ServerResponse): boolean {
    return this.pending === res;
  }

  /** Holds `res` until there is something to send. Returns false if a GET is already pending. */
  hold(req: IncomingMessage, res: ServerResponse, onAbort: () => void): boolean {
    if (this.pending) return false;
    this.pending = res;
    // A GET whose connection goes away before it was answered ends the session (protocol rule:
    // the client would otherwise lose whatever we wrote into it).
    req.once('close', () => {
      if (this.pending === res && !res.writableEnded) {
        this.pending = null;
        onAbort();
      }
    });
    return true;
  }

  /** Answers the pending GET with `packets`. */
  flush(packets: readonly WirePacket[]): void {
    const res = this.pending;
    if (!res) return;
    this.pending = null;
    const body = encodePayload(packets);
    res.writeHead(200, {
      ...this.corsHeaders,
      'Content-Type': 'text/plain; charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  beginPost(): boolean {
    if (this.posting) return false;
    this.posting = true;
    return true;
  }

  endPost(): void {
    this.posting = false;
  }

  /** Acknowledges a POST the way the reference server does: 200 with body `ok`. */
  ok(res: ServerResponse): void {
    res.writeHead(200, { ...this.corsHeaders, 'Content-Type': 'text/html', 'Content-Length': 2 });
    res.end('ok');
  }
}

export type BodyProblem = 'too large' | 'aborted';

/** Reads a request body as text; past `limit` bytes (or on a broken request) it reports a problem instead. */
export function readBody(req: IncomingMessage, limit: number, done: (body: string, problem?: BodyProblem) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    done('', 'too large');
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (body: string, problem?: BodyProblem) => {
    if (finished) return;
    finished = true;
    done(body, problem);
  };
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      finish('', 'too large');
      return;
    }
    chunks.push(chunk);
  });
  req.once('end', () => finish(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
  req.once('error', () => finish('', 'aborted'));
  req.once('close', () => {
    if (!req.complete) finish('', 'aborted');
  });
}
