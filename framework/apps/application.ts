import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { resolveConfig, type MojoConfig, type ResolvedConfig } from '../config.ts';
import { LOGIN_COOKIE, SESSION_COOKIE } from '../http/auth.ts';
import type { LiveSession, MojoContext, MojoSessionStore } from '../http/context.ts';
import { RedisSessionStore } from '../http/redis-session-store.ts';
import { rememberSessionCookies, unsignValue } from '../http/cookies.ts';
import { verifyCsrf } from '../http/csrf.ts';
import { openDatabase } from '../http/database.ts';
import { errorHandler, notFound } from '../http/errors.ts';
import { SqliteSessionStore } from '../http/session-store.ts';
import { createTemplates } from '../http/templates.ts';
import { UserStore } from '../http/users.ts';
import { SocketRouter, type ConnectionClass, type ConnectionInfo } from '../realtime/index.ts';
import { MojoSocketHandler, RedisCluster, renameLocalSession, revokeLocalLogin, setIdentityResolver, setRegistryCluster, type Identity } from '../sessions/index.ts';
import { createLogger, setLogLevel } from '../util/logger.ts';
import { channelOf, loadApp, type LoadedApp } from './loader.ts';

const log = createLogger('apps');

export interface MojoApplicationOptions {
  /** The project folder (where `apps/`, `templates/` and `static/` are). @default process.cwd() */
  root?: string;
  /** The project's settings (what `mojo.config.ts` exports). */
  config?: MojoConfig;
}

/**
 * A Mojo project running: its apps' routes, templates and static files on express, sessions and
 * users in the database, and one realtime channel `/<App>Socket` per app on the same port.
 * @example
 * const mojo = await MojoApplication.create({ root: process.cwd(), config });
 * await mojo.listen();
 */
export class MojoApplication {
  private constructor(
    readonly config: ResolvedConfig,
    readonly root: string,
    readonly express: Express,
    readonly http: HttpServer,
    readonly router: SocketRouter,
    readonly apps: readonly LoadedApp[],
    readonly context: MojoContext,
    private readonly db: Database.Database,
    /** The Redis cluster this process belongs to, when `redis` is configured. */
    readonly cluster: RedisCluster | null,
  ) {}

  static async create(options: MojoApplicationOptions = {}): Promise<MojoApplication> {
    const root = resolve(options.root ?? process.cwd());
    const config = resolveConfig(options.config);
    if (config.debug && process.env.MOJO_LOG === undefined) setLogLevel('info');
    const paths = { apps: join(root, config.paths.apps), templates: join(root, config.paths.templates), static: join(root, config.paths.static) };

    const apps: LoadedApp[] = [];
    for (const name of config.installedApps) apps.push(await loadApp(name, paths.apps, paths.templates, config.debug));

    const db = openDatabase(config.database, root);
    const maxAgeMs = config.session.maxAgeDays * 86_400_000;
    const users = new UserStore(db);

    const endpoints: Record<string, ConnectionClass> = {};
    for (const loaded of apps) if (loaded.socketHandler) endpoints[channelOf(loaded.name)] = loaded.socketHandler;
    class MojoRoot extends MojoSocketHandler {
      static override endpoints = endpoints;
    }
    const { sessionExpiry, ...socket } = config.socket;
    const router = new SocketRouter(MojoRoot, {
      ...socket,
      ...(sessionExpiry === undefined ? {} : { sessionExpiry }),
      allowedOrigins: config.allowedOrigins,
    });

    let cluster: RedisCluster | null = null;
    let sessions: MojoSessionStore;
    if (config.redis) {
      cluster = new RedisCluster({ url: config.redis, presenceTtl: Math.round(config.cluster.presenceTtl * 1000) }, router.io);
      cluster.onRevoke = revokeLocalLogin;
      cluster.onRename = renameLocalSession;
      await cluster.start();
      setRegistryCluster(cluster);
      sessions = new RedisSessionStore(cluster.client, { maxAgeMs });
    } else {
      sessions = new SqliteSessionStore(db, { maxAgeMs });
    }
    const context: MojoContext = { config, root, users, sessions };

    const app = express();
    app.disable('x-powered-by');
    app.locals.mojo = context;
    app.use('/static', refuseTraversal);
    for (const loaded of apps) if (loaded.staticDir) app.use(`/static/${loaded.name}`, express.static(loaded.staticDir, { dotfiles: 'ignore', index: false }));
    if (existsSync(paths.static)) app.use('/static', express.static(paths.static, { dotfiles: 'ignore', index: false }));
    // The session cookie set is remembered as verified: the page's realtime connection skips the HMAC.
    app.use(
      rememberSessionCookies(
        session({
          name: SESSION_COOKIE,
          secret: [...config.cookieSecret],
          store: sessions,
          resave: false,
          saveUninitialized: true,
          cookie: { httpOnly: true, sameSite: 'lax', secure: config.session.secure, maxAge: maxAgeMs },
        }),
        SESSION_COOKIE,
        config.cookieSecret,
      ),
    );
    app.use(express.urlencoded({ extended: false, limit: '1mb' }), express.json({ limit: '1mb' }));
    app.use(verifyCsrf);
    for (const loaded of apps) app.use(loaded.routes);
    const pages = createTemplates([paths.templates], { noCache: config.debug });
    app.use(notFound);
    app.use(
      errorHandler(config.debug, (status, context) => {
        for (const name of [`${status}.html`, 'error.html']) {
          if (existsSync(join(paths.templates, name))) return pages.render(name, context);
        }
        return null;
      }),
    );

    setIdentityResolver(router.io, (info) => identify(info, config, sessions));
    const http = router.attach(createServer(app));
    for (const loaded of apps) log.debug(`app ${loaded.name}: ${loaded.routeInfo.length} routes${loaded.socketHandler ? `, channel ${channelOf(loaded.name)}` : ''}`);
    return new MojoApplication(config, root, app, http, router, apps, context, db, cluster);
  }

  /** Starts listening (port and host from the config unless given); resolves with the address. */
  listen(port: number = this.config.port, host: string = this.config.host): Promise<AddressInfo> {
    return new Promise((resolvePromise, reject) => {
      const onError = (err: Error) => reject(err);
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        resolvePromise(this.http.address() as AddressInfo);
      });
    });
  }

  /** Closes every connection, the HTTP server and the database. */
  async close(): Promise<void> {
    this.router.close();
    await new Promise<void>((done) => {
      if (!this.http.listening) {
        // Connections handed over by a primary process (mojo serve --workers) end here too.
        this.http.closeAllConnections();
        done();
        return;
      }
      this.http.close(() => done());
      this.http.closeAllConnections();
    });
    this.context.sessions.close();
    if (this.cluster) {
      await this.cluster.stop();
      setRegistryCluster(null);
    }
    this.db.close();
  }
}

/**
 * Who a realtime connection belongs to: a `session_id` cookie signed with one of the secrets
 * whose session the store still has, and a `logged_in` cookie that this session confirms.
 */
function identify(info: ConnectionInfo, config: ResolvedConfig, store: MojoSessionStore): Identity | Promise<Identity> {
  const sessionId = unsignValue(info.getCookie(SESSION_COOKIE), config.cookieSecret);
  if (sessionId === null) return NOBODY;
  const found = store.getLiveSession(sessionId);
  if (!(found instanceof Promise)) return confirm(info, config, sessionId, found);
  // A store that cannot answer (Redis down) makes an anonymous visitor, not a refused one.
  return found.then(
    (live) => confirm(info, config, sessionId, live),
    (err: Error) => {
      log.warn(`could not read session for a realtime connection (${err.message}); treating it as anonymous`);
      return NOBODY;
    },
  );
}

/** The identity of a connection whose session cookie names `sessionId`, given what the store says of it. */
function confirm(info: ConnectionInfo, config: ResolvedConfig, sessionId: string, live: LiveSession | null): Identity {
  if (!live) return NOBODY;
  // A session without a login confirms no cookie: its signature need not be checked.
  if (live.userId === null) return { sessionId, userId: null };
  return { sessionId, userId: unsignValue(info.getCookie(LOGIN_COOKIE), config.cookieSecret) === live.userId ? live.userId : null };
}

const NOBODY: Identity = Object.freeze({ sessionId: null, userId: null });

/** `..`, backslashes or NUL in a static path get a plain 404, never a file outside the folder. */
function refuseTraversal(req: Request, res: Response, next: NextFunction): void {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    res.status(404).type('text').send('Not found');
    return;
  }
  if (path.split(/[/\\]/).includes('..') || path.includes('\\') || path.includes('\0')) {
    res.status(404).type('text').send('Not found');
    return;
  }
  next();
}
