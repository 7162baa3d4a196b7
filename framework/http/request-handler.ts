import type { NextFunction, Request, RequestHandler as ExpressHandler, Response } from 'express';
import type { Session, SessionData } from 'express-session';
import type nunjucks from 'nunjucks';
import { currentUser, login, logout } from './auth.ts';
import { contextOf } from './context.ts';
import { csrfToken } from './csrf.ts';
import { HttpError } from './errors.ts';
import type { UserId, UserStore } from './users.ts';

/** The app a handler belongs to, as the loader gives it. */
export interface AppInfo {
  /** The app's name (its folder under `apps/`). */
  readonly name: string;
  /** The app's templates (its own folder first, then the project's). */
  readonly templates: nunjucks.Environment;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
type Method = (typeof METHODS)[number];

/**
 * A class-based request handler (Mojo's `MojoRequestHandler`): define `get`, `post`, `put`,
 * `patch` or `delete`; the loader creates one instance per request. Set
 * `static authenticated = true` to send visitors who are not logged in to `auth.loginUrl`
 * (or answer 401 to JSON requests).
 * @example
 * class Hello extends MojoRequestHandler {
 *   async get() { this.render('hello.html', { name: this.query.name ?? 'world' }); }
 * }
 * export const urlpatterns = [['/hello/', Hello]];
 */
export class MojoRequestHandler {
  /** Only logged-in users reach this handler. */
  static authenticated = false;

  get?(): unknown;
  post?(): unknown;
  put?(): unknown;
  patch?(): unknown;
  delete?(): unknown;

  constructor(
    readonly req: Request,
    readonly res: Response,
    readonly app: AppInfo,
  ) {}

  /** The visitor's session (stored in the database; survives restarts). */
  get session(): Session & Partial<SessionData> {
    return this.req.session;
  }

  /** The visitor's session id: the key of `CURRENT_SESSIONS`. */
  get sessionId(): string {
    return this.req.sessionID;
  }

  /** The logged-in user's id (the key of `LOGGED_IN_SESSIONS`), or null. */
  get currentUser(): UserId | null {
    return currentUser(this.req);
  }

  /** The project's users (create, verify, find). */
  get users(): UserStore {
    return contextOf(this.req).users;
  }

  /** The parsed body (forms and JSON). */
  get body(): Record<string, any> {
    return (this.req.body as Record<string, any> | undefined) ?? {};
  }

  /** The query string's parameters. */
  get query(): Record<string, any> {
    return this.req.query as Record<string, any>;
  }

  /** The route's parameters (`/users/:id` → `this.params.id`). */
  get params(): Record<string, string> {
    return this.req.params as Record<string, string>;
  }

  /** The token state-changing forms must send back as `_csrf`. */
  get csrfToken(): string {
    return csrfToken(this.req);
  }

  /** Sets the status of the response. */
  status(code: number): this {
    this.res.status(code);
    return this;
  }

  /**
   * Renders a template of this app (its own `templates/` first, then the project's) with
   * `context`, plus `currentUser`, `csrfToken`, `app` and `request`, autoescaped.
   */
  render(template: string, context: Record<string, unknown> = {}): void {
    const html = this.app.templates.render(template, {
      currentUser: this.currentUser,
      csrfToken: this.csrfToken,
      app: this.app.name,
      request: { path: this.req.path, url: this.req.originalUrl },
      debug: contextOf(this.req).config.debug,
      ...context,
    });
    this.res.type('html').send(html);
  }

  json(data: unknown, status?: number): void {
    if (status !== undefined) this.res.status(status);
    this.res.json(data);
  }

  redirect(url: string, status = 302): void {
    this.res.redirect(status, url);
  }

  /** Logs `userId` in on this browser (new session id, signed `logged_in` cookie). */
  login(userId: UserId): Promise<void> {
    return login(this.req, this.res, userId);
  }

  /** Logs this browser out; its realtime connections leave `LOGGED_IN_SESSIONS` at once. */
  logout(): Promise<void> {
    return logout(this.req, this.res);
  }

  /** Answers with `status` and `message` through the application's error pages. */
  fail(status: number, message: string): never {
    throw new HttpError(status, message);
  }
}

export type HandlerClass = (new (req: Request, res: Response, app: AppInfo) => MojoRequestHandler) & { authenticated: boolean };

export function isHandlerClass(value: unknown): value is HandlerClass {
  return typeof value === 'function' && value.prototype instanceof MojoRequestHandler;
}

/** The HTTP methods `Handler` answers, upper-case (HEAD comes with GET). */
export function handlerMethods(Handler: HandlerClass): string[] {
  const methods = METHODS.filter((m) => typeof (Handler.prototype as unknown as Record<string, unknown>)[m] === 'function').map((m) => m.toUpperCase());
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}

/** The express handler that runs `Handler` for each request of its route. */
export function mountHandler(Handler: HandlerClass, app: AppInfo): ExpressHandler {
  const allowed = METHODS.filter((m) => typeof Handler.prototype[m] === 'function');
  const allowHeader = [...allowed.map((m) => m.toUpperCase()), ...(allowed.includes('get') ? ['HEAD'] : [])].join(', ');
  return async (req: Request, res: Response, next: NextFunction) => {
    const method = (req.method === 'HEAD' ? 'get' : req.method.toLowerCase()) as Method;
    if (!allowed.includes(method)) {
      res.set('Allow', allowHeader);
      next(new HttpError(405, `${req.method} is not allowed here (allowed: ${allowHeader || 'none'})`));
      return;
    }
    if (Handler.authenticated && currentUser(req) === null) {
      const accept = req.headers.accept ?? '';
      if (req.is('application/json') || (accept.includes('application/json') && !accept.includes('text/html'))) {
        next(new HttpError(401, 'Log in first'));
      } else {
        res.redirect(302, `${contextOf(req).config.auth.loginUrl}?next=${encodeURIComponent(req.originalUrl)}`);
      }
      return;
    }
    try {
      const handler = new Handler(req, res, app);
      await handler[method]!();
      if (!res.headersSent && !res.writableEnded) res.status(204).end();
    } catch (err) {
      next(err);
    }
  };
}
