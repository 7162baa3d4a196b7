export { MojoApplication, type MojoApplicationOptions } from './application.ts';
export { loadApp, channelOf, type LoadedApp, type RouteInfo, type UrlPattern } from './loader.ts';
