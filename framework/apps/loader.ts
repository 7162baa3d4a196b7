import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import express, { type RequestHandler, type Router } from 'express';
import type nunjucks from 'nunjucks';
import { ConfigError } from '../config.ts';
import { handlerMethods, isHandlerClass, mountHandler, type AppInfo } from '../http/request-handler.ts';
import { createTemplates } from '../http/templates.ts';
import { SocketConnection, type ConnectionClass } from '../realtime/index.ts';
import { createLogger } from '../util/logger.ts';

const log = createLogger('apps');

/** One entry of an app's `urlpatterns`: a path and a handler class, an express handler or a router. */
export type UrlPattern = readonly [path: string, target: unknown];

/** One route an app declared, as `mojo routes` lists it. */
export interface RouteInfo {
  readonly path: string;
  /** The handler class's name, or "express handler" / "express router". */
  readonly handler: string;
  /** HTTP methods it answers (empty for plain express handlers: they see every method). */
  readonly methods: readonly string[];
  /** Whether only logged-in users reach it. */
  readonly authenticated: boolean;
}

/** An installed app, loaded. */
export interface LoadedApp extends AppInfo {
  readonly dir: string;
  /** Its routes, mounted on an express router. */
  readonly routes: Router;
  /** The routes its `urlpatterns` declared, in order (for `mojo routes`). */
  readonly routeInfo: readonly RouteInfo[];
  /** Its realtime channel's connection class, or null when it has no `socket_handlers.ts`. */
  readonly socketHandler: ConnectionClass | null;
  /** Its static folder, if it has one. */
  readonly staticDir: string | null;
}

/** The realtime channel of an app: `/<App>Socket`, as Mojo named it. */
export function channelOf(app: string): string {
  return `/${app}Socket`;
}

function moduleFile(dir: string, name: string): string | null {
  for (const ext of ['.ts', '.js', '.mjs']) {
    const file = join(dir, name + ext);
    if (existsSync(file)) return file;
  }
  return null;
}

/**
 * Loads app `name` from `appsDir`: its `urls` (`urlpatterns`), its `socket_handlers`
 * (`SocketConnectionHandler`), templates and static folder. A listed app that does not exist is a
 * configuration error naming it.
 */
export async function loadApp(name: string, appsDir: string, projectTemplates: string, noCache: boolean): Promise<LoadedApp> {
  const dir = join(appsDir, name);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigError('installedApps', `lists "${name}", but there is no folder ${join(appsDir, name)}`);
  }
  const templates: nunjucks.Environment = createTemplates([join(dir, 'templates'), projectTemplates], { noCache });
  const info: AppInfo = { name, templates };
  const routes = express.Router();
  const routeInfo: RouteInfo[] = [];

  const urlsFile = moduleFile(dir, 'urls');
  if (urlsFile) {
    const urls = (await import(pathToFileURL(urlsFile).href)) as { urlpatterns?: unknown };
    if (!Array.isArray(urls.urlpatterns)) {
      throw new ConfigError('installedApps', `app "${name}": ${urlsFile} must export urlpatterns, a list of [path, handler] pairs`);
    }
    for (const [index, entry] of urls.urlpatterns.entries()) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !entry[0].startsWith('/')) {
        throw new ConfigError('installedApps', `app "${name}": urlpatterns[${index}] must be ['/path', Handler]`);
      }
      const [path, target] = entry as [string, unknown];
      if (isHandlerClass(target)) {
        routes.all(path, mountHandler(target, info));
        routeInfo.push({ path, handler: target.name || '(anonymous)', methods: handlerMethods(target), authenticated: target.authenticated });
      } else if (isExpressRouter(target)) {
        routes.use(path, target);
        routeInfo.push({ path, handler: 'express router', methods: [], authenticated: false });
      } else if (typeof target === 'function') {
        routes.all(path, target as RequestHandler);
        routeInfo.push({ path, handler: target.name ? `${target.name} (express handler)` : 'express handler', methods: [], authenticated: false });
      } else throw new ConfigError('installedApps', `app "${name}": urlpatterns[${index}] for ${path} is neither a MojoRequestHandler class, an express handler nor a router`);
    }
  } else {
    log.info(`app ${name} has no urls.ts: it serves no pages`);
  }

  let socketHandler: ConnectionClass | null = null;
  const socketFile = moduleFile(dir, 'socket_handlers');
  if (socketFile) {
    const module = (await import(pathToFileURL(socketFile).href)) as { SocketConnectionHandler?: unknown };
    const handler = module.SocketConnectionHandler;
    if (typeof handler !== 'function' || !(handler.prototype instanceof SocketConnection)) {
      throw new ConfigError('installedApps', `app "${name}": ${socketFile} must export a class SocketConnectionHandler extending MojoSocketHandler`);
    }
    socketHandler = handler as ConnectionClass;
  } else {
    log.info(`app ${name} has no socket_handlers.ts: it has no realtime channel`);
  }

  const staticPath = join(dir, 'static');
  const staticDir = existsSync(staticPath) ? staticPath : null;
  return { ...info, dir, routes, routeInfo, socketHandler, staticDir };
}

function isExpressRouter(value: unknown): value is Router {
  return typeof value === 'function' && Array.isArray((value as { stack?: unknown }).stack);
}
