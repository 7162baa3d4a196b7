import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Decoder,
  announcesAttachments,
  decodeText,
  PROTOCOL_ERRORS,
  PacketType,
  ProtocolError,
  RESERVED_EVENTS,
  deconstruct,
  encodePacket,
  encodeTextPacket,
  hasBinary,
  isBinary,
  reconstruct,
  toBuffer,
  type Packet,
  type ProtocolErrorCode,
} from '../framework/protocol/index.ts';

/** The spec quotes packets as Engine.IO messages: a leading "4" (message) then the Socket.IO packet. */
const eio = (socketIoPacket: string): string => `4${socketIoPacket}`;

/** Feeds every part to a fresh decoder; only the last may complete the packet. */
function decodeAll(parts: readonly (string | Buffer | ArrayBuffer | ArrayBufferView)[], decoder = new Decoder()): Packet {
  let packet: Packet | undefined;
  parts.forEach((part, index) => {
    packet = decoder.add(part);
    if (index < parts.length - 1) assert.equal(packet, undefined, `part ${index} completed the packet early`);
  });
  assert.ok(packet, 'the last part did not complete the packet');
  return packet;
}

function roundTrip(packet: Packet, expected: Packet = packet): void {
  assert.deepEqual(decodeAll(encodePacket(packet)), expected);
}

function assertCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(err.message.startsWith(`${code}: `));
    return true;
  });
}

const decode = (...parts: (string | Buffer)[]) => (): Packet | undefined => {
  const decoder = new Decoder();
  let last: Packet | undefined;
  for (const part of parts) last = decoder.add(part);
  return last;
};

const placeholder = (num: number) => ({ _placeholder: true, num });

describe('Socket.IO v5 protocol', () => {
  describe('encodePacket', () => {
    it('writes the wire strings of the spec', () => {
      assert.equal(eio(encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['foo'] })[0]), '42["foo"]');
      assert.deepEqual(encodePacket({ type: PacketType.EVENT, nsp: '/admin', data: ['bar'] }), ['2/admin,["bar"]']);
      assert.deepEqual(encodePacket({ type: PacketType.EVENT, nsp: '/', id: 12, data: ['foo'] }), ['212["foo"]']);
      assert.deepEqual(encodePacket({ type: PacketType.ACK, nsp: '/admin', id: 13, data: ['bar'] }), ['3/admin,13["bar"]']);
      assert.equal(eio(encodePacket({ type: PacketType.CONNECT, nsp: '/', data: { token: '123' } })[0]), '40{"token":"123"}');
      assert.equal(eio(encodePacket({ type: PacketType.CONNECT, nsp: '/admin', data: { token: '123' } })[0]), '40/admin,{"token":"123"}');
      assert.equal(
        eio(encodePacket({ type: PacketType.CONNECT_ERROR, nsp: '/random', data: { message: 'Invalid namespace' } })[0]),
        '44/random,{"message":"Invalid namespace"}',
      );
    });

    it('writes DISCONNECT and a bare CONNECT without a payload', () => {
      assert.deepEqual(encodePacket({ type: PacketType.DISCONNECT, nsp: '/' }), ['1']);
      assert.deepEqual(encodePacket({ type: PacketType.DISCONNECT, nsp: '/admin' }), ['1/admin,']);
      assert.deepEqual(encodePacket({ type: PacketType.CONNECT, nsp: '/' }), ['0']);
    });

    it('sends an EVENT holding binary as a BINARY_EVENT with its attachments', () => {
      const bytes = Buffer.from([1, 2, 3]);
      assert.deepEqual(encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['baz', bytes] }), [
        '51-["baz",{"_placeholder":true,"num":0}]',
        bytes,
      ]);
    });

    it('sends an ACK holding binary as a BINARY_ACK with its attachments', () => {
      const bytes = Buffer.from([4]);
      assert.deepEqual(encodePacket({ type: PacketType.ACK, nsp: '/admin', id: 15, data: ['bar', bytes] }), [
        '61-/admin,15["bar",{"_placeholder":true,"num":0}]',
        bytes,
      ]);
      assert.equal(encodePacket({ type: PacketType.ACK, nsp: '/', id: 15, data: ['bar', bytes] })[0], '61-15["bar",{"_placeholder":true,"num":0}]');
    });

    it('sends a BINARY_EVENT or BINARY_ACK without binary as a plain EVENT or ACK', () => {
      assert.deepEqual(encodePacket({ type: PacketType.BINARY_EVENT, nsp: '/', data: ['a'] }), ['2["a"]']);
      assert.deepEqual(encodePacket({ type: PacketType.BINARY_ACK, nsp: '/', id: 1, data: [] }), ['31[]']);
    });

    it('turns Buffer, ArrayBuffer, Uint8Array and DataView into Buffer attachments', () => {
      const backing = new Uint8Array([9, 8, 7, 6, 5]);
      const arrayBuffer = new Uint8Array([1, 2]).buffer;
      const [text, ...buffers] = encodePacket({
        type: PacketType.EVENT,
        nsp: '/',
        data: ['kinds', Buffer.from('ab'), arrayBuffer, backing.subarray(1, 3), new DataView(backing.buffer, 3, 2)],
      });
      assert.equal(text, `54-["kinds",${[0, 1, 2, 3].map((n) => JSON.stringify(placeholder(n))).join(',')}]`);
      assert.ok(buffers.every((buffer) => Buffer.isBuffer(buffer)));
      assert.deepEqual(buffers.map((buffer) => [...buffer]), [[97, 98], [1, 2], [8, 7], [6, 5]]);
    });

    it('numbers nested binaries in the order JSON.stringify meets them', () => {
      const [a, b, c] = [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')];
      const [text, ...buffers] = encodePacket({
        type: PacketType.EVENT,
        nsp: '/',
        data: ['nested', { first: a, deeper: { list: [1, b] } }, [[c]]],
      });
      assert.equal(
        text,
        '53-["nested",{"first":{"_placeholder":true,"num":0},"deeper":{"list":[1,{"_placeholder":true,"num":1}]}},[[{"_placeholder":true,"num":2}]]]',
      );
      assert.deepEqual(buffers, [a, b, c]);
    });

    it("leaves the caller's data as it was", () => {
      const bytes = Buffer.from([1]);
      const inner = { file: bytes, name: 'x' };
      const data = ['upload', inner, [bytes]] as const;
      encodePacket({ type: PacketType.EVENT, nsp: '/', data });
      assert.equal(data[1], inner);
      assert.equal(inner.file, bytes);
      assert.deepEqual(Object.keys(inner), ['file', 'name']);
      assert.equal(data[2][0], bytes);
    });

    it('applies toJSON like JSON.stringify, finding binary behind it', () => {
      const when = new Date(0);
      const wrapped = { toJSON: () => Buffer.from([7]) };
      const [text, bytes] = encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['t', when, wrapped] });
      assert.equal(text, '51-["t","1970-01-01T00:00:00.000Z",{"_placeholder":true,"num":0}]');
      assert.deepEqual(bytes, Buffer.from([7]));
    });

    it('refuses a packet the peer could not decode', () => {
      assertCode(() => encodePacket({ type: 7 as PacketType, nsp: '/' }), 'ERR_PACKET_TYPE');
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: 'admin', data: ['a'] }), 'ERR_NAMESPACE');
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '/a,b', data: ['a'] }), 'ERR_NAMESPACE');
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '', data: ['a'] }), 'ERR_NAMESPACE');
      for (const id of [-1, 1.5, 2 ** 53, Number.NaN]) {
        assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '/', id, data: ['a'] }), 'ERR_ACK_ID');
      }
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '/' }), 'ERR_PAYLOAD');
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['disconnect'] }), 'ERR_PAYLOAD');
      assertCode(() => encodePacket({ type: PacketType.ACK, nsp: '/', id: 1 }), 'ERR_PAYLOAD');
      assertCode(() => encodePacket({ type: PacketType.DISCONNECT, nsp: '/', data: {} }), 'ERR_PAYLOAD');
      assertCode(() => encodePacket({ type: PacketType.CONNECT, nsp: '/', data: { big: 1n } }), 'ERR_PAYLOAD');
    });

    it('refuses circular data instead of overflowing the stack', () => {
      const loop: unknown[] = ['loop'];
      loop.push(loop);
      assertCode(() => encodePacket({ type: PacketType.EVENT, nsp: '/', data: loop }), 'ERR_TOO_DEEP');
    });
  });

  describe('encodeTextPacket (the emit and ack fast path)', () => {
    const samples: Array<[type: typeof PacketType.EVENT | typeof PacketType.ACK, nsp: string, id: number | undefined, data: unknown[]]> = [
      [PacketType.EVENT, '/', undefined, ['hello', 1, 'two', { three: [4] }]],
      [PacketType.EVENT, '/admin', 13, ['bar']],
      [PacketType.EVENT, '/', 0, ['x', null, undefined, true]],
      [PacketType.EVENT, '/a', undefined, ['d', new Date(0), { toJSON: () => 'custom' }, 'é✓😀']],
      [PacketType.ACK, '/', 7, []],
      [PacketType.ACK, '/chat', 2, [{ ok: true }, [1, [2, [3]]]]],
    ];

    it('gives encodePacket\'s text, after the prefix, for packets without binary', () => {
      for (const [type, nsp, id, data] of samples) {
        const packet: Packet = id === undefined ? { type, nsp, data } : { type, nsp, id, data };
        const [expected] = encodePacket(packet);
        assert.equal(encodeTextPacket('4', type, nsp, id, data), `4${expected}`);
        assert.equal(encodeTextPacket('', type, nsp, id, data), expected);
      }
    });

    it('declines (undefined) when the data holds a binary anywhere, toJSON results included', () => {
      assert.equal(encodeTextPacket('4', PacketType.EVENT, '/', undefined, ['f', Buffer.from([1])]), undefined);
      assert.equal(encodeTextPacket('4', PacketType.ACK, '/', 1, [{ deep: [{ bytes: new Uint8Array(2) }] }]), undefined);
      assert.equal(encodeTextPacket('4', PacketType.EVENT, '/', undefined, ['f', { toJSON: () => new ArrayBuffer(1) }]), undefined);
    });

    it('refuses what encodePacket refuses in the data and the ack id', () => {
      const loop: unknown[] = ['loop'];
      loop.push(loop);
      assertCode(() => encodeTextPacket('4', PacketType.EVENT, '/', undefined, loop), 'ERR_TOO_DEEP');
      assertCode(() => encodeTextPacket('4', PacketType.EVENT, '/', undefined, ['big', 10n]), 'ERR_PAYLOAD');
      assertCode(() => encodeTextPacket('4', PacketType.ACK, '/', -1, []), 'ERR_ACK_ID');
    });
  });

  describe('Decoder round trips', () => {
    const spaces = ['/', '/admin'];
    const ids = [undefined, 0, 42];
    const bytes = Buffer.from([0xde, 0xad]);

    for (const nsp of spaces) {
      it(`CONNECT, DISCONNECT and CONNECT_ERROR in ${nsp}`, () => {
        roundTrip({ type: PacketType.CONNECT, nsp });
        roundTrip({ type: PacketType.CONNECT, nsp, data: { token: '123' } });
        roundTrip({ type: PacketType.DISCONNECT, nsp });
        roundTrip({ type: PacketType.CONNECT_ERROR, nsp, data: { message: 'nope', data: { retry: false } } });
        roundTrip({ type: PacketType.CONNECT_ERROR, nsp, data: 'nope' });
      });

      for (const id of ids) {
        const withId = id === undefined ? {} : { id };
        it(`EVENT, ACK, BINARY_EVENT and BINARY_ACK in ${nsp} with ack id ${String(id)}`, () => {
          roundTrip({ type: PacketType.EVENT, nsp, ...withId, data: ['hello', 1, { a: [true, null] }] });
          roundTrip({ type: PacketType.EVENT, nsp, ...withId, data: [7] });
          roundTrip({ type: PacketType.ACK, nsp, ...withId, data: [] });
          roundTrip({ type: PacketType.ACK, nsp, ...withId, data: ['ok', 2] });
          roundTrip({ type: PacketType.BINARY_EVENT, nsp, ...withId, data: ['file', bytes, { more: [bytes] }], attachments: 2 });
          roundTrip({ type: PacketType.BINARY_ACK, nsp, ...withId, data: [bytes], attachments: 1 });
          roundTrip(
            { type: PacketType.EVENT, nsp, ...withId, data: ['file', bytes] },
            { type: PacketType.BINARY_EVENT, nsp, ...withId, data: ['file', bytes], attachments: 1 },
          );
        });
      }
    }

    it('gives back every kind of binary as a Buffer', () => {
      const source = new Uint8Array([1, 2, 3, 4]);
      const packet = decodeAll(
        encodePacket({ type: PacketType.EVENT, nsp: '/', data: ['kinds', source.buffer, source.subarray(2), new DataView(source.buffer, 1, 1)] }),
      );
      assert.deepEqual(packet.data, ['kinds', Buffer.from([1, 2, 3, 4]), Buffer.from([3, 4]), Buffer.from([2])]);
    });
  });

  describe('Decoder', () => {
    it('reads the wire strings of the spec', () => {
      assert.deepEqual(decode('2["foo"]')(), { type: PacketType.EVENT, nsp: '/', data: ['foo'] });
      assert.deepEqual(decode('2/admin,["bar"]')(), { type: PacketType.EVENT, nsp: '/admin', data: ['bar'] });
      assert.deepEqual(decode('212["foo"]')(), { type: PacketType.EVENT, nsp: '/', id: 12, data: ['foo'] });
      assert.deepEqual(decode('3/admin,13["bar"]')(), { type: PacketType.ACK, nsp: '/admin', id: 13, data: ['bar'] });
      assert.deepEqual(decode('0{"token":"123"}')(), { type: PacketType.CONNECT, nsp: '/', data: { token: '123' } });
      assert.deepEqual(decode('0/admin,{"token":"123"}')(), { type: PacketType.CONNECT, nsp: '/admin', data: { token: '123' } });
      assert.deepEqual(decode('4/random,{"message":"Invalid namespace"}')(), {
        type: PacketType.CONNECT_ERROR,
        nsp: '/random',
        data: { message: 'Invalid namespace' },
      });
    });

    it('reads a namespace that runs to the end of the string (40/custom, 41/custom)', () => {
      assert.deepEqual(decode('0/custom')(), { type: PacketType.CONNECT, nsp: '/custom' });
      assert.deepEqual(decode('1/custom')(), { type: PacketType.DISCONNECT, nsp: '/custom' });
      assert.deepEqual(decode('1/custom,')(), { type: PacketType.DISCONNECT, nsp: '/custom' });
    });

    it('waits for every attachment of 51-["baz",…] and 61-15["bar",…]', () => {
      const decoder = new Decoder();
      assert.equal(decoder.add(`51-["baz",${JSON.stringify(placeholder(0))}]`), undefined);
      assert.deepEqual(decoder.add(Buffer.from([1])), { type: PacketType.BINARY_EVENT, nsp: '/', attachments: 1, data: ['baz', Buffer.from([1])] });

      assert.equal(decoder.add(`62-15["bar",${JSON.stringify(placeholder(1))},{"x":${JSON.stringify(placeholder(0))}}]`), undefined);
      assert.equal(decoder.add(Buffer.from('zero')), undefined);
      assert.deepEqual(decoder.add(new Uint8Array([0x6f, 0x6e, 0x65])), {
        type: PacketType.BINARY_ACK,
        nsp: '/',
        id: 15,
        attachments: 2,
        data: ['bar', Buffer.from('one'), { x: Buffer.from('zero') }],
      });
    });

    it('completes a binary packet with 0 attachments at once', () => {
      assert.deepEqual(decode('50-["a"]')(), { type: PacketType.BINARY_EVENT, nsp: '/', attachments: 0, data: ['a'] });
    });

    it('accepts up to maxAttachments and no more', () => {
      const decoder = new Decoder({ maxAttachments: 2 });
      assert.equal(decoder.add('52-["a"]'), undefined);
      decoder.reset();
      assertCode(() => decoder.add('53-["a"]'), 'ERR_TOO_MANY_ATTACHMENTS');
      assertCode(decode('5999-["a"]'), 'ERR_TOO_MANY_ATTACHMENTS');
      assert.throws(() => new Decoder({ maxAttachments: -1 }), RangeError);
    });

    it('reset() drops a packet still waiting for attachments', () => {
      const decoder = new Decoder();
      decoder.add('51-["a",{"_placeholder":true,"num":0}]');
      decoder.reset();
      assertCode(() => decoder.add(Buffer.from([1])), 'ERR_UNEXPECTED_BINARY');
      assert.deepEqual(decoder.add('2["b"]'), { type: PacketType.EVENT, nsp: '/', data: ['b'] });
    });

    describe('rejects', () => {
      it('an unknown packet type (4abc, 7, 9, empty)', () => {
        for (const text of ['abc', '7[]', '9', '', '-1']) assertCode(decode(text), 'ERR_PACKET_TYPE');
      });

      it('a payload that is not JSON (42abc[…], 4abc as a CONNECT_ERROR)', () => {
        assertCode(decode('2abc["foo"]'), 'ERR_PAYLOAD');
        assertCode(decode('4abc'), 'ERR_PAYLOAD');
        assertCode(decode('2["foo"'), 'ERR_PAYLOAD');
      });

      it('an EVENT whose payload is not a non-empty array led by a name (42{})', () => {
        for (const text of ['2{}', '2[]', '2"foo"', '2[{}]', '2[null]', '2null']) assertCode(decode(text), 'ERR_PAYLOAD');
      });

      it('an EVENT named after a reserved event (2["connect"])', () => {
        for (const name of RESERVED_EVENTS) assertCode(decode(`2${JSON.stringify([name])}`), 'ERR_PAYLOAD');
        assertCode(decode('5/admin,0-["disconnect"]'), 'ERR_ATTACHMENTS');
        assertCode(decode('50-/admin,["disconnect"]'), 'ERR_PAYLOAD');
      });

      it('an EVENT or ACK without a payload', () => {
        for (const text of ['2', '3', '31', '3/admin,13', '2/admin,', '50-', '61-15']) assertCode(decode(text), 'ERR_PAYLOAD');
      });

      it('a payload the other types do not allow', () => {
        for (const text of ['1["x"]', '1/admin,{}', '0[]', '0"x"', '0null', '4[1]', '4null', '3{}']) assertCode(decode(text), 'ERR_PAYLOAD');
      });

      it('an attachment count that is not a number or lacks its "-" (51a-[], 5-[], 51[])', () => {
        for (const text of ['51a-["a"]', '5-["a"]', '51["a"]', '5', '6x-[]']) assertCode(decode(text), 'ERR_ATTACHMENTS');
        // An EVENT has no attachment count: in 21a-[] "1" is the ack id and "a-[]" is not JSON.
        assertCode(decode('21a-[]'), 'ERR_PAYLOAD');
      });

      it('an ack id beyond Number.MAX_SAFE_INTEGER', () => {
        assert.equal(decode('29007199254740991["a"]')()?.id, Number.MAX_SAFE_INTEGER);
        assertCode(decode('29007199254740992["a"]'), 'ERR_ACK_ID');
        assertCode(decode(`2${'9'.repeat(400)}["a"]`), 'ERR_ACK_ID');
      });

      it('a placeholder whose num is not an index of the received attachments', () => {
        for (const num of ['1', '-1', '0.5', '"0"', 'null']) {
          assertCode(decode(`51-["a",{"_placeholder":true,"num":${num}}]`, Buffer.from([1])), 'ERR_PLACEHOLDER');
        }
        assertCode(decode('50-["a",{"_placeholder":true,"num":0}]'), 'ERR_PLACEHOLDER');
      });

      it('a Buffer while no binary packet is waiting', () => {
        assertCode(decode(Buffer.from([1])), 'ERR_UNEXPECTED_BINARY');
        assertCode(decode('2["a"]', Buffer.from([1])), 'ERR_UNEXPECTED_BINARY');
      });

      it('text while attachments are pending, then decodes afresh', () => {
        const decoder = new Decoder();
        decoder.add('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
        decoder.add(Buffer.from([1]));
        assertCode(() => decoder.add('2["b"]'), 'ERR_UNEXPECTED_TEXT');
        assert.deepEqual(decoder.add('2["b"]'), { type: PacketType.EVENT, nsp: '/', data: ['b'] });
      });
    });
  });

  describe('binary helpers', () => {
    it('isBinary knows Buffer, ArrayBuffer, typed arrays and DataView', () => {
      for (const value of [Buffer.alloc(1), new ArrayBuffer(1), new Uint8Array(1), new Float64Array(1), new DataView(new ArrayBuffer(1))]) {
        assert.equal(isBinary(value), true);
      }
      for (const value of [null, 'bytes', [1, 2], { byteLength: 1 }, { type: 'Buffer', data: [1] }]) assert.equal(isBinary(value), false);
    });

    it('hasBinary looks deep, through toJSON, and not through Buffer#toJSON', () => {
      assert.equal(hasBinary(['a', { b: [{ c: new Uint8Array(1) }] }]), true);
      assert.equal(hasBinary(['a', { b: [1, 'x', null] }, new Date()]), false);
      assert.equal(hasBinary({ toJSON: () => ({ bytes: Buffer.alloc(1) }) }), true);
      assert.equal(hasBinary({ toJSON: () => 'text', bytes: Buffer.alloc(1) }), false);
      assert.equal(hasBinary(Buffer.alloc(1)), true);
    });

    it('hasBinary stops at its depth limit and on circular data', () => {
      assertCode(() => hasBinary([[[[1]]]], 2), 'ERR_TOO_DEEP');
      assert.equal(hasBinary([[[[1]]]], 4), false);
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      assertCode(() => hasBinary(loop), 'ERR_TOO_DEEP');
    });

    it('toBuffer shares memory instead of copying', () => {
      const view = new Uint8Array([1, 2, 3, 4]);
      const buffer = toBuffer(view.subarray(1, 3));
      view[1] = 42;
      assert.deepEqual([...buffer], [42, 3]);
      const arrayBuffer = new ArrayBuffer(2);
      const fromArrayBuffer = toBuffer(arrayBuffer);
      new Uint8Array(arrayBuffer)[0] = 7;
      assert.equal(fromArrayBuffer[0], 7);
      const same = Buffer.from('x');
      assert.equal(toBuffer(same), same);
    });

    it('deconstruct and reconstruct are inverses and keep a "__proto__" key a plain key', () => {
      const bytes = Buffer.from([5]);
      const data = JSON.parse('{"__proto__":{"polluted":true},"list":[1]}') as Record<string, unknown>;
      (data.list as unknown[]).push(bytes);
      const parts = deconstruct(data);
      assert.deepEqual(parts.buffers, [bytes]);
      const copy = parts.data as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(copy), Object.prototype);
      assert.deepEqual(Object.keys(copy), ['__proto__', 'list']);
      const parsed = JSON.parse(JSON.stringify(parts.data)) as unknown;
      assert.deepEqual(reconstruct(parsed, parts.buffers), data);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('reconstruct replaces a top-level placeholder and a "__proto__" one', () => {
      const bytes = Buffer.from([1]);
      assert.equal(reconstruct(placeholder(0), [bytes]), bytes);
      const filled = reconstruct(JSON.parse('{"__proto__":{"_placeholder":true,"num":0}}'), [bytes]) as object;
      assert.equal(Object.getPrototypeOf(filled), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(filled, '__proto__')?.value, bytes);
    });
  });

  describe('errors', () => {
    it('every code is unique and described', () => {
      const codes = Object.keys(PROTOCOL_ERRORS);
      assert.equal(new Set(codes).size, codes.length);
      for (const [code, description] of Object.entries(PROTOCOL_ERRORS)) {
        assert.match(code, /^ERR_[A-Z_]+$/);
        assert.ok(description.length > 0);
      }
      assert.equal(new Set(Object.values(PROTOCOL_ERRORS)).size, codes.length);
    });

    it('a ProtocolError is an Error whose message starts with its code', () => {
      const err = new ProtocolError('ERR_ACK_ID');
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'ProtocolError');
      assert.equal(err.code, 'ERR_ACK_ID');
      assert.equal(err.message, `ERR_ACK_ID: ${PROTOCOL_ERRORS.ERR_ACK_ID}`);
    });
  });
});

describe('decodeText', () => {
  it('decodes a text packet as a fresh Decoder does, errors included', () => {
    const samples = ['0', '0/admin,{"token":"123"}', '1/admin,', '2["hello",1]', '2/chat,13["bar"]', '3/chat,7[]', '4{"message":"no"}', '2', '2[]', '9', '', '2/a,x', '2["a"', `2${'9'.repeat(17)}["a"]`, '0"not an object"'];
    for (const text of samples) {
      let expected: unknown;
      let expectedCode: string | undefined;
      try {
        expected = new Decoder().add(text);
      } catch (err) {
        expectedCode = (err as ProtocolError).code;
      }
      if (expectedCode === undefined) assert.deepEqual(decodeText(text, 10), expected, text);
      else assertCode(() => decodeText(text, 10), expectedCode as ProtocolErrorCode);
    }
  });

  it('tells a binary header, which needs a Decoder, from every other text packet', () => {
    for (const text of ['51-["a",{"_placeholder":true,"num":0}]', '60-[]', '5', '6/chat,1-1[]']) assert.equal(announcesAttachments(text), true, text);
    for (const text of ['0', '2["a"]', '3/chat,7[]', '4{}', '', '7', '/5']) assert.equal(announcesAttachments(text), false, text);
  });

  it('reads a binary header with its attachment count, and refuses one over the limit', () => {
    assert.deepEqual(decodeText('51-["a",{"_placeholder":true,"num":0}]', 1), { type: PacketType.BINARY_EVENT, nsp: '/', attachments: 1, data: ['a', placeholder(0)] });
    assertCode(() => decodeText('52-["a"]', 1), 'ERR_TOO_MANY_ATTACHMENTS');
  });
});
