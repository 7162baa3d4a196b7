/**
 * Checking option objects at start: an unknown key or a bad value is an error that names the key,
 * never a silent default. Each layer describes its options once as a schema and gets back a
 * complete, frozen object.
 */

export type OptionRule =
  | { kind: 'number'; min?: number; max?: number; integer?: boolean }
  | { kind: 'string'; nonEmpty?: boolean; pattern?: RegExp; hint?: string }
  | { kind: 'boolean' }
  | { kind: 'function' }
  | { kind: 'oneOf'; values: readonly unknown[] }
  | { kind: 'custom'; check: (value: unknown) => string | undefined };

export type OptionSchema<T> = { readonly [K in keyof T]-?: OptionRule };

/**
 * Returns `defaults` overlaid with `given`, after checking every given key against `schema`.
 * `fail(key, problem)` builds the error to throw, so each layer keeps its own error class.
 * @example const opts = resolveOptions('engine', schema, DEFAULTS, userOptions, (m) => new EngineError('ERR_ENGINE_OPTION', m));
 */
export function resolveOptions<T extends object>(
  owner: string,
  schema: OptionSchema<T>,
  defaults: Required<T>,
  given: Partial<T> | undefined,
  fail: (message: string) => Error,
): Readonly<Required<T>> {
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw fail(`${owner} options must be an object, got ${describe(given)}`);
  }
  const result = { ...defaults } as Required<T>;
  for (const [key, value] of Object.entries(given ?? {})) {
    const rule = (schema as Record<string, OptionRule>)[key];
    if (!rule) {
      const known = Object.keys(schema).sort().join(', ');
      throw fail(`unknown ${owner} option "${key}" (known options: ${known})`);
    }
    if (value === undefined) continue;
    const problem = checkRule(rule, value);
    if (problem) throw fail(`${owner} option "${key}" ${problem}, got ${describe(value)}`);
    (result as Record<string, unknown>)[key] = value;
  }
  return Object.freeze(result);
}

export function checkRule(rule: OptionRule, value: unknown): string | undefined {
  switch (rule.kind) {
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) return 'must be a number';
      if (rule.integer && !Number.isInteger(value)) return 'must be a whole number';
      if (rule.min !== undefined && value < rule.min) return `must be at least ${rule.min}`;
      if (rule.max !== undefined && value > rule.max) return `must be at most ${rule.max}`;
      return undefined;
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      if (rule.nonEmpty && value.length === 0) return 'must not be empty';
      if (rule.pattern && !rule.pattern.test(value)) return `must be ${rule.hint ?? `like ${rule.pattern}`}`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'function':
      return typeof value === 'function' ? undefined : 'must be a function';
    case 'oneOf':
      return rule.values.includes(value) ? undefined : `must be one of ${rule.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'custom':
      return rule.check(value);
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return 'an object';
  }
}
