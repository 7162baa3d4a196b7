import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionInfo, findCookie, parseCookies } from '../framework/realtime/index.ts';

const HEADERS = [
  undefined,
  '',
  'session_id=s%3Aabc.def%2Bghi',
  'theme=dark; session_id=s%3Aabc.sig; logged_in=s%3Aalice.sig',
  'session_id=first; session_id=second',
  '  session_id  =  spaced  ;theme=light',
  'session_id="quoted%20value"',
  'session_id=%E0%A4%A; other=x',
  'no_equals; =nameless; session_id=found',
  'xsession_id=decoy; session_idx=decoy; session_id=real',
  'theme=session_id; session_id=after-a-value-naming-it',
  'a=1;;; b=2;',
  'session_id=',
  'session_id==x=y',
  '__proto__=p; constructor=c; toString=t',
  'logged_in=s:alice.sig; session_id=s:plain.sig',
];
const NAMES = ['session_id', 'logged_in', 'theme', 'other', 'a', 'b', 'missing', '', '__proto__', 'constructor', 'toString', 'session'];

describe('findCookie', () => {
  it('finds what parseCookies finds, for every name of every header', () => {
    for (const header of HEADERS) {
      const all = parseCookies(header);
      for (const name of NAMES) {
        const expected = Object.prototype.hasOwnProperty.call(all, name) ? all[name] : undefined;
        assert.equal(findCookie(header, name), expected, `${name} in ${String(header)}`);
      }
    }
  });

  it('decodes only the cookie asked for', () => {
    assert.equal(findCookie('bad=%E0%A4%A; session_id=s%3Aabc', 'session_id'), 's:abc');
    assert.equal(findCookie('bad=%E0%A4%A; session_id=s%3Aabc', 'bad'), '%E0%A4%A', 'an undecodable value is kept as sent');
  });
});

describe('ConnectionInfo.getCookie', () => {
  it('answers the same before and after the whole header was parsed', () => {
    for (const header of HEADERS) {
      const lazy = new ConnectionInfo('127.0.0.1', {}, header === undefined ? {} : { cookie: header }, {}, '/');
      const parsed = new ConnectionInfo('127.0.0.1', {}, header === undefined ? {} : { cookie: header }, {}, '/');
      void parsed.cookies;
      for (const name of NAMES) {
        assert.equal(lazy.getCookie(name), parsed.getCookie(name), `${name} in ${String(header)}`);
        assert.equal(lazy.getCookie(name, 'fallback'), parsed.getCookie(name, 'fallback'));
      }
    }
  });
});
