export { MojoRequestHandler, type AppInfo, type HandlerClass } from './request-handler.ts';
export { HttpError } from './errors.ts';
export { login, logout, currentUser, LOGIN_COOKIE, SESSION_COOKIE } from './auth.ts';
export { csrfToken } from './csrf.ts';
export { signValue, unsignValue } from './cookies.ts';
export { UserStore, UserError, type User } from './users.ts';
export { SqliteSessionStore } from './session-store.ts';
export { openDatabase } from './database.ts';
export type { MojoContext } from './context.ts';
