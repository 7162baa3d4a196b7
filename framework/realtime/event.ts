/**
 * The `@event` decorator and the per-class table of event handlers it builds.
 */

export interface EventOptions {
  /** The event name; the method's name when omitted. */
  name?: string;
  /**
   * Run this handler as soon as its event arrives, even while an earlier async handler of the
   * same connection is still running (by default handlers run one after another, in arrival order).
   * @default false
   */
  concurrent?: boolean;
}

interface EventMark {
  readonly name: string;
  readonly concurrent: boolean;
}

/** One entry of a class's event table. */
export interface EventHandler {
  readonly name: string;
  readonly concurrent: boolean;
  readonly method: (...args: any[]) => unknown;
  /** Declared parameter names, in order (`null` for a destructured one). */
  readonly params: readonly (string | null)[];
  /** Whether the last parameter is a rest parameter (`...args`), which takes any count. */
  readonly rest: boolean;
}

const MARKS = Symbol('mojo.event');

type Method = ((...args: any[]) => unknown) & { [MARKS]?: EventMark[] };

function mark(method: Method, name: string, concurrent: boolean): void {
  (method[MARKS] ??= []).push({ name, concurrent });
}

type MethodDecorator = <This, Args extends any[], Return>(
  method: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
) => void;

/**
 * Marks a method of a `SocketConnection` as the handler of a client event: `@event` uses the
 * method's name, `@event('name')` another one. The return value (or resolved promise) is the
 * acknowledgement the client gets when it asked for one.
 * @example
 * class Chat extends SocketConnection {
 *   @event('hello') greet(name: string) { this.emit('thanks', { name }); }
 *   @event ping() { return 'pong'; }
 * }
 */
export function event<This, Args extends any[], Return>(
  method: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): void;
export function event(name?: string, options?: Omit<EventOptions, 'name'>): MethodDecorator;
export function event(options: EventOptions): MethodDecorator;
export function event(...input: unknown[]): MethodDecorator | void {
  const [first, second, third] = input;
  if (typeof first === 'function' && isMethodContext(second)) {
    mark(first as Method, String(second.name), false);
    return;
  }
  if (input.length === 3 && typeof second === 'string' && isDescriptor(third)) {
    // Legacy (experimentalDecorators) form: (prototype, key, descriptor).
    mark(third.value as Method, second, false);
    return;
  }
  const options: EventOptions = typeof first === 'string' ? { ...(second as EventOptions | undefined), name: first } : ((first as EventOptions | undefined) ?? {});
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name.length === 0)) {
    throw new TypeError(`@event: the event name must be a non-empty string, got ${JSON.stringify(options.name)}`);
  }
  const decorator = (method: unknown, context: unknown, descriptor?: unknown): void => {
    if (isMethodContext(context)) {
      mark(method as Method, options.name ?? String(context.name), options.concurrent === true);
    } else if (typeof context === 'string' && isDescriptor(descriptor)) {
      mark(descriptor.value as Method, options.name ?? context, options.concurrent === true);
    } else {
      throw new TypeError('@event decorates methods only');
    }
  };
  return decorator as MethodDecorator;
}

function isMethodContext(value: unknown): value is { kind: 'method'; name: string | symbol } {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'method';
}

function isDescriptor(value: unknown): value is PropertyDescriptor & { value: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as PropertyDescriptor).value === 'function';
}

const TABLES = new WeakMap<Function, ReadonlyMap<string, EventHandler>>();

/**
 * The event handlers of `cls` and its ancestors, built once per class; a subclass's handler for
 * a name replaces its parent's.
 */
export function eventTable(cls: Function): ReadonlyMap<string, EventHandler> {
  let table = TABLES.get(cls);
  if (table) return table;
  // Per method name: the most derived implementation, and the nearest @event marks. An override
  // that does not repeat @event keeps handling its parent's events.
  const methods = new Map<string | symbol, { method: Method; marks: EventMark[] | undefined }>();
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === 'constructor') continue;
      const method = Object.getOwnPropertyDescriptor(proto, key)?.value as Method | undefined;
      if (typeof method !== 'function') continue;
      const seen = methods.get(key);
      if (!seen) methods.set(key, { method, marks: method[MARKS] });
      else if (!seen.marks && method[MARKS]) seen.marks = method[MARKS];
    }
  }
  const built = new Map<string, EventHandler>();
  for (const { method, marks } of methods.values()) {
    if (!marks) continue;
    const { params, rest } = parameterNames(method);
    for (const { name, concurrent } of marks) {
      if (!built.has(name)) built.set(name, { name, concurrent, method, params, rest });
    }
  }
  table = built;
  TABLES.set(cls, table);
  return table;
}

/** Reads a function's declared parameter names from its source (what the kwargs rule needs). */
export function parameterNames(fn: Function): { params: (string | null)[]; rest: boolean } {
  const source = Function.prototype.toString.call(fn);
  const open = source.indexOf('(');
  if (open === -1) return { params: [], rest: false };
  let depth = 0;
  let current = '';
  const parts: string[] = [];
  let quote: string | null = null;
  for (let i = open + 1; i < source.length; i++) {
    const ch = source[i]!;
    if (quote) {
      current += ch;
      if (ch === '\\') current += source[++i] ?? '';
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      current += ch;
    } else if (ch === '(' || ch === '[' || ch === '{') {
      depth++;
      current += ch;
    } else if (ch === ')' || ch === ']' || ch === '}') {
      if (depth === 0) break;
      depth--;
      current += ch;
    } else if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) parts.push(current);
  let rest = false;
  const params = parts
    .map((part) => part.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      if (part.startsWith('...')) {
        rest = true;
        part = part.slice(3).trim();
      }
      const name = part.split('=')[0]!.trim();
      return /^[A-Za-z_$][\w$]*$/.test(name) ? name : null;
    });
  return { params, rest };
}

/** Why arguments could not be matched to a handler; the client is told, the connection stays. */
export class SignatureMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureMismatch';
  }
}

/**
 * The arguments to call `handler` with. When the client sent exactly one plain object and every
 * key of it names a parameter, the values are passed by name (TornadIO2's kwargs rule); otherwise
 * the arguments go as sent. More arguments than parameters is a mismatch.
 */
export function bindArguments(handler: EventHandler, args: readonly unknown[], kwargs: Record<string, unknown> | undefined): unknown[] {
  const named = handler.params;
  if (kwargs && named.length > 0 && namesParameters(kwargs, named)) return named.map((name) => (name === null ? undefined : kwargs[name]));
  if (!handler.rest && args.length > named.length) {
    throw new SignatureMismatch(
      `"${handler.name}" takes ${named.length} argument${named.length === 1 ? '' : 's'}${named.length ? ` (${named.map((n) => n ?? '{…}').join(', ')})` : ''}, got ${args.length}`,
    );
  }
  return args as unknown[];
}

/** Whether `kwargs` has at least one own key and each of them is in `named` (no array made). */
function namesParameters(kwargs: Record<string, unknown>, named: readonly (string | null)[]): boolean {
  let keys = 0;
  for (const key in kwargs) {
    if (!Object.hasOwn(kwargs, key)) continue;
    if (!named.includes(key)) return false;
    keys++;
  }
  return keys > 0;
}

/** A plain object: what the kwargs rule unpacks (not an array, a Buffer, a Date…). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
