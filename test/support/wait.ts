/**
 * The promise helpers the test-support modules share (`realtime.ts`, `tornadio.ts`,
 * `mojo-app.ts`): every wait is bounded, so a broken test fails fast with a message naming what
 * it waited for instead of hanging. Those modules re-export what their tests import.
 */
import type { Socket as ClientSocket } from 'socket.io-client';

/** How long any awaited event may take before the test fails. */
export const TIMEOUT = 3000;

/** Anything with `on`/`off`: node emitters, socket.io-client sockets and managers, our sockets and namespaces. */
export interface Listenable {
  // `any`: the emitters type their event names and listeners each their own way.
  on(event: any, listener: any): unknown;
  off(event: any, listener?: any): unknown;
}

/**
 * `promise`, or a rejection naming `what` after `ms` (`detail()`, if given, is added to the
 * message when the time is up).
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT, detail?: () => string): Promise<T> {
  let timer!: NodeJS.Timeout;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail ? ` (${detail()})` : ''}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next emission of `event`, mapped by `take`; the listener is gone once it settles. */
function next<R>(emitter: Listenable, event: string, ms: number, take: (args: any[]) => R): Promise<R> {
  let listener!: (...args: any[]) => void;
  const promise = new Promise<R>((resolve) => {
    listener = (...args: any[]) => {
      emitter.off(event, listener);
      resolve(take(args));
    };
    emitter.on(event, listener);
  });
  return withTimeout(promise, `event "${event}"`, ms).finally(() => emitter.off(event, listener));
}

/** The arguments of the next `event` of `emitter`; rejects after `ms`. */
export function once<T extends unknown[] = any[]>(emitter: Listenable, event: string, ms = TIMEOUT): Promise<T> {
  return next(emitter, event, ms, (args) => args as T);
}

/** The first argument of the next `event` of `emitter`; rejects after `ms`. */
export function nextEvent<T = unknown>(emitter: Listenable, event: string, ms = TIMEOUT): Promise<T> {
  return next(emitter, event, ms, (args) => args[0] as T);
}

/** The first `count` emissions of `event`, each as its argument list; on timeout, says what did come. */
export function collect<T extends unknown[] = any[]>(emitter: Listenable, event: string, count: number, ms = TIMEOUT): Promise<T[]> {
  const seen: T[] = [];
  let listener!: (...args: any[]) => void;
  const promise = new Promise<T[]>((resolve) => {
    listener = (...args: any[]) => {
      seen.push(args as T);
      if (seen.length === count) resolve(seen);
    };
    emitter.on(event, listener);
  });
  return withTimeout(promise, `${count} "${event}" events`, ms, () => `got ${seen.length}: ${JSON.stringify(seen).slice(0, 300)}`).finally(() =>
    emitter.off(event, listener),
  );
}

/**
 * Resolves after `ms` if `event` did not happen on `watched` (one emitter, or each of a list),
 * rejects if it did, naming the list index. The only bounded wait the tests use: it proves
 * something does NOT happen. A test that fails before awaiting it does not also die of an
 * unhandled rejection.
 */
export function expectNoEvent(watched: Listenable | readonly Listenable[], event: string, ms = 150): Promise<void> {
  const list: readonly Listenable[] = isList(watched) ? watched : [watched];
  const promise = new Promise<void>((resolve, reject) => {
    const listeners = list.map((emitter, index) => {
      const listener = (...args: unknown[]) => {
        finish();
        const where = isList(watched) ? ` on client #${index}` : '';
        reject(new Error(`unexpected "${event}"${where}: ${JSON.stringify(args).slice(0, 200)}`));
      };
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    });
    const finish = () => {
      clearTimeout(timer);
      for (const off of listeners) off();
    };
    const timer = setTimeout(() => {
      finish();
      resolve();
    }, ms);
  });
  promise.catch(() => {});
  return promise;
}

function isList(watched: Listenable | readonly Listenable[]): watched is readonly Listenable[] {
  return Array.isArray(watched);
}

/**
 * Resolves once `condition()` holds, checking every 5 ms; for server state that has no event
 * (a count dropping to zero). Rejects after `ms`.
 */
export function waitFor(condition: () => boolean, what: string, ms = TIMEOUT): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() - started > ms) reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** Resolves with `socket` once it connects; rejects with its `connect_error` if it is refused, or after `ms`. */
export function connected(socket: ClientSocket, ms = TIMEOUT): Promise<ClientSocket> {
  if (socket.connected) return Promise.resolve(socket);
  let onConnect!: () => void;
  let onError!: (err: Error) => void;
  const promise = new Promise<ClientSocket>((resolve, reject) => {
    onConnect = () => resolve(socket);
    onError = (err: Error) => reject(err);
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
  return withTimeout(promise, 'connect', ms).finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
}

/** An emit that asks for an ack, as a promise of the ack's arguments; rejects after {@link TIMEOUT}. */
export function ask<T extends unknown[] = any[]>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => socket.emit(event, ...args, (...reply: unknown[]) => resolve(reply as T))),
    `ack of "${event}"`,
  );
}
