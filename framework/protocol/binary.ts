import { ProtocolError } from './errors.ts';

/** How many levels of nesting the walks below follow; a circular structure ends here too. */
export const MAX_DEPTH = 1000;

/** What stands in the JSON of a binary packet for its n-th attachment. */
export interface Placeholder {
  _placeholder: true;
  num: number;
}

type Binary = Buffer | ArrayBuffer | ArrayBufferView;

/**
 * Whether `value` is raw bytes: a Buffer, an ArrayBuffer, a typed array or a DataView.
 *
 * @example
 * isBinary(new Uint8Array(2)); // true
 */
export function isBinary(value: unknown): value is Binary {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/**
 * Whether `value` holds a binary anywhere JSON.stringify would reach it (own enumerable keys,
 * array items, the result of a `toJSON`). Throws ERR_TOO_DEEP past `maxDepth` levels.
 *
 * @example
 * hasBinary(['file', { body: Buffer.from('x') }]); // true
 */
export function hasBinary(value: unknown, maxDepth: number = MAX_DEPTH): boolean {
  return scan(value, maxDepth, '', true);
}

function scan(value: unknown, depth: number, key: string | number, callToJSON: boolean): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (depth < 0) throw tooDeep();
  // Before toJSON: Buffer has one, and it would hide the bytes.
  if (isBinary(value)) return true;
  // An array index becomes the string JSON.stringify would pass only when a toJSON needs it.
  if (callToJSON && hasToJSON(value)) return scan(value.toJSON(String(key)), depth, key, false);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (scan(value[i], depth - 1, i, true)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const k in record) if (Object.hasOwn(record, k) && scan(record[k], depth - 1, k, true)) return true;
  return false;
}

/**
 * Views raw bytes as a Buffer, sharing their memory rather than copying.
 *
 * @example
 * toBuffer(new Uint16Array([1])).length; // 2
 */
export function toBuffer(value: Binary): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Splits `data` into JSON-ready data, where each binary became a {@link Placeholder}, and the
 * binaries as Buffers in placeholder order. Builds new arrays and objects (applying `toJSON`
 * like JSON.stringify would), so the caller's data is left as it was.
 *
 * @example
 * deconstruct(['img', Buffer.from([1])]);
 * // { data: ['img', { _placeholder: true, num: 0 }], buffers: [<Buffer 01>] }
 */
export function deconstruct(data: unknown): { data: unknown; buffers: Buffer[] } {
  const buffers: Buffer[] = [];
  return { data: strip(data, buffers, MAX_DEPTH, '', true), buffers };
}

function strip(value: unknown, buffers: Buffer[], depth: number, key: string, callToJSON: boolean): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth < 0) throw tooDeep();
  if (isBinary(value)) {
    const placeholder: Placeholder = { _placeholder: true, num: buffers.length };
    buffers.push(toBuffer(value));
    return placeholder;
  }
  if (callToJSON && hasToJSON(value)) return strip(value.toJSON(key), buffers, depth, key, false);
  if (Array.isArray(value)) return value.map((item: unknown, i) => strip(item, buffers, depth - 1, String(i), true));
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const k of Object.keys(record)) setOwn(copy, k, strip(record[k], buffers, depth - 1, k, true));
  return copy;
}

/**
 * Puts `buffers` back where `data` (freshly parsed JSON, filled in place) has placeholders and
 * returns it. Throws ERR_PLACEHOLDER for a `num` that is not an index into `buffers`.
 *
 * @example
 * reconstruct(['img', { _placeholder: true, num: 0 }], [Buffer.from([1])]); // ['img', <Buffer 01>]
 */
export function reconstruct(data: unknown, buffers: readonly Buffer[]): unknown {
  return fill(data, buffers, MAX_DEPTH);
}

function fill(value: unknown, buffers: readonly Buffer[], depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth < 0) throw tooDeep();
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = fill(value[i], buffers, depth - 1);
    return value;
  }
  const record = value as Record<string, unknown>;
  if (record._placeholder === true) {
    const num = record.num;
    if (typeof num === 'number' && Number.isInteger(num) && num >= 0 && num < buffers.length) return buffers[num];
    throw new ProtocolError('ERR_PLACEHOLDER', `placeholder num ${JSON.stringify(num)} is not an index of the ${buffers.length} attachment(s)`);
  }
  for (const k of Object.keys(record)) {
    const before = record[k];
    const after = fill(before, buffers, depth - 1);
    if (after !== before) setOwn(record, k, after);
  }
  return record;
}

function hasToJSON(value: object): value is { toJSON(key: string): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // A plain assignment to "__proto__" would swap the prototype instead of adding the key JSON has.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function tooDeep(): ProtocolError {
  return new ProtocolError('ERR_TOO_DEEP');
}
