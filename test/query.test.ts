/**
 * `parseQuery` reads a handshake's query string on every connection. Its fast path (no `%`, no
 * `+`) must give exactly what URLSearchParams gives, first value of each key winning.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuery } from '../framework/engine/index.ts';

function reference(url: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null);
  const start = url.indexOf('?');
  if (start === -1) return query;
  for (const [key, value] of new URLSearchParams(url.slice(start + 1))) if (!(key in query)) query[key] = value;
  return query;
}

describe('parseQuery', () => {
  it('reads the usual handshake', () => {
    assert.deepEqual({ ...parseQuery('/socket.io/?EIO=4&transport=websocket&sid=abc-_123') }, { EIO: '4', transport: 'websocket', sid: 'abc-_123' });
  });

  it('agrees with URLSearchParams on edge cases', () => {
    const cases = [
      '/p', '/p?', '/p?&', '/p?&&a=1&&', '/p?a', '/p?a=', '/p?=x', '/p?a=b=c', '/p?a=1&a=2', '/p?a&a=2',
      '/p?__proto__=x&constructor=y&toString=z', '/p?a=%41%2', '/p?a=x+y&b=%zz', '/p?a=1#frag', '/p?a=1?b=2', '/p??EIO=4&a=1', '/p???a', '/p???a%20b', '/p??a+b',
      '/p?EIO=4&transport=polling&t=PqZ1a2b&b64=1',
    ];
    for (const url of cases) assert.deepEqual({ ...parseQuery(url) }, { ...reference(url) }, url);
    assert.deepEqual({ ...parseQuery(undefined) }, {});
  });

  it('agrees with URLSearchParams on random query strings', () => {
    const alphabet = 'ab=&%+2x_-.~?';
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 5000; i++) {
      let search = '';
      const length = Math.floor(random() * 16);
      for (let j = 0; j < length; j++) search += alphabet[Math.floor(random() * alphabet.length)];
      const url = `/socket.io/?${search}`;
      assert.deepEqual({ ...parseQuery(url) }, { ...reference(url) }, url);
    }
  });

  it('gives an object that inherits nothing', () => {
    const query = parseQuery('/p?__proto__=x&toString=y');
    assert.equal(query['__proto__'], 'x');
    assert.equal(query['toString'], 'y');
    assert.ok(!('hasOwnProperty' in query) && !('valueOf' in parseQuery('/p')), 'nothing of Object.prototype');
    const prototype = Object.getPrototypeOf(query) as object;
    assert.equal(Object.getPrototypeOf(prototype), null);
    assert.deepEqual(Reflect.ownKeys(prototype), []);
    assert.ok(Object.isFrozen(prototype), 'no parameter can be planted on the shared prototype');
    assert.deepEqual(Object.keys(query), ['__proto__', 'toString']);
  });
});
