import type { NextFunction, Request, Response } from 'express';
import { createLogger } from '../util/logger.ts';

const log = createLogger('http');

/**
 * An error that decides the HTTP status a client sees. Its message is shown to the client for
 * 4xx statuses; 5xx details stay in the log outside debug mode.
 * @example throw new HttpError(404, 'No such user');
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ErrorPageRenderer {
  /** Renders `templates/<status>.html` (or `error.html`) if the project has one, else null. */
  (status: number, context: Record<string, unknown>): string | null;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function wantsJson(req: Request): boolean {
  const accept = req.headers.accept ?? '';
  return req.is('application/json') === 'application/json' || (accept.includes('application/json') && !accept.includes('text/html'));
}

/** The one place that decides what a failed request shows: status, page or JSON, details or not. */
export function errorHandler(debug: boolean, renderPage: ErrorPageRenderer) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = statusOf(err);
    const error = err instanceof Error ? err : new Error(String(err));
    if (status >= 500) log.error(`${req.method} ${req.originalUrl} failed`, error);
    else log.debug(`${req.method} ${req.originalUrl}: ${status} ${error.message}`);
    const message = status < 500 || debug ? error.message || reason(status) : reason(status);
    res.status(status);
    if (wantsJson(req)) {
      res.json(debug && status >= 500 ? { error: message, stack: error.stack } : { error: message });
      return;
    }
    if (debug && status >= 500) {
      res.type('html').send(debugPage(error, req));
      return;
    }
    const page = renderPage(status, { status, message, reason: reason(status) });
    res.type('html').send(page ?? plainPage(status, message));
  };
}

/** 404 for anything no route answered. */
export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new HttpError(404, `Nothing lives at ${req.path}`));
}

function statusOf(err: unknown): number {
  const candidate = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof candidate === 'number' && candidate >= 400 && candidate < 600 ? candidate : 500;
}

function reason(status: number): string {
  const reasons: Record<number, string> = { 400: 'Bad request', 401: 'Please log in', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large', 500: 'Something went wrong' };
  return reasons[status] ?? (status >= 500 ? 'Something went wrong' : 'Request failed');
}

function plainPage(status: number, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status} ${escape(reason(status))}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.6rem}</style></head>
<body><h1>${status} · ${escape(reason(status))}</h1><p>${escape(message)}</p><p><a href="/">Back to the start page</a></p></body></html>`;
}

/** Debug only: the stack and the request, the way Mojo's pretty error page showed them. */
function debugPage(error: Error, req: Request): string {
  const rows = Object.entries(req.headers)
    .map(([name, value]) => `<tr><th>${escape(name)}</th><td>${escape(String(value))}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(error.name)}: ${escape(error.message)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}pre{background:#f6f6f6;padding:1rem;overflow:auto}th{text-align:left;padding-right:1rem;vertical-align:top}.note{color:#666}</style></head>
<body><h1>${escape(error.name)}: ${escape(error.message)}</h1>
<p class="note">${escape(req.method)} ${escape(req.originalUrl)} · shown because debug is on; visitors of a production server see a plain page.</p>
<h2>Stack</h2><pre>${escape(error.stack ?? '(no stack)')}</pre>
<h2>Request headers</h2><table>${rows}</table></body></html>`;
}
