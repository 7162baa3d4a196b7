import { MojoSocketHandler } from 'mojo-ts';

/**
 * The page's channel, /HelloWorldSocket. Being a MojoSocketHandler is all it takes: each
 * connection is registered in CURRENT_SESSIONS, so the HTTP handler in urls.ts can reach it.
 */
export class SocketConnectionHandler extends MojoSocketHandler {}
