/**
 * The TornadIO2 connection API (`SocketConnection`, `@event`, `ConnectionInfo`) seen from the
 * stock socket.io-client: what the seeds promise a user, checked end to end on a real server.
 * Most tests turn recovery off (`sessionExpiry: 0`) so events arrive without the trailing offset
 * argument; the seed's own example keeps the router default and shows that argument.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Manager } from 'socket.io-client';
import { SocketConnection, event, type ConnectionInfo, type DisconnectReason } from 'mojo-ts';
import {
  ask,
  captureLogs,
  client,
  collect,
  connect,
  connected,
  dropOffset,
  expectNoEvent,
  once,
  refused,
  signal,
  startTornadio,
  track,
  withTimeout,
  type ClientSocket,
} from './support/tornadio.ts';

const NO_RECOVERY = { sessionExpiry: 0 } as const;

describe('SocketConnection', () => {
  describe('events (the seed example)', () => {
    it('runs @event("hello") for a positional name and for { name }, and the client gets "thanks" and "hello"', async () => {
      const names: unknown[] = [];
      class MyConnection extends SocketConnection {
        @event('hello') test(name: string) {
          names.push(name);
          this.emit('thanks', { name });
          this.emit('hello', name, 'foobar');
        }
      }
      const { url } = await startTornadio(MyConnection);
      const sock = await connect(url);
      const thanks = collect(sock, 'thanks', 2);
      const hello = collect(sock, 'hello', 2);
      sock.emit('hello', 'Joes');
      sock.emit('hello', { name: 'Joes' });
      // Recovery is on by default: every event carries its offset last.
      assert.deepEqual((await thanks).map(dropOffset), [[{ name: 'Joes' }], [{ name: 'Joes' }]]);
      assert.deepEqual((await hello).map(dropOffset), [
        ['Joes', 'foobar'],
        ['Joes', 'foobar'],
      ]);
      assert.deepEqual(names, ['Joes', 'Joes']);
    });

    it('uses the method name for a bare @event', async () => {
      class Conn extends SocketConnection {
        @event greet(name: string) {
          return `hello ${name}`;
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      assert.deepEqual(await ask(sock, 'greet', 'Ann'), ['hello Ann']);
    });

    it('inherits handlers in subclasses, and a subclass can override one', async () => {
      class Base extends SocketConnection {
        @event greet(name: string) {
          return `hello ${name}`;
        }
        @event shout(text: string) {
          return text.toUpperCase();
        }
      }
      class Child extends Base {
        @event override shout(text: string) {
          return `${super.shout(text)}!`;
        }
        @event whisper(text: string) {
          return text.toLowerCase();
        }
      }
      const { url } = await startTornadio(Child, NO_RECOVERY);
      const sock = await connect(url);
      assert.deepEqual(await ask(sock, 'greet', 'Ann'), ['hello Ann']);
      assert.deepEqual(await ask(sock, 'shout', 'hey'), ['HEY!']);
      assert.deepEqual(await ask(sock, 'whisper', 'HEY'), ['hey']);
    });

    it('gives an onEvent override (name, args, kwargs), kwargs only for exactly one plain object', async () => {
      const calls: Array<{ name: string; args: unknown[]; kwargs: unknown }> = [];
      class Raw extends SocketConnection {
        override onEvent(name: string, args: unknown[], kwargs?: Record<string, unknown>) {
          calls.push({ name, args, kwargs });
          return `got ${name}`;
        }
      }
      const { url } = await startTornadio(Raw, NO_RECOVERY);
      const sock = await connect(url);
      assert.deepEqual(await ask(sock, 'one', { a: 10, b: 10 }), ['got one']);
      assert.deepEqual(await ask(sock, 'two', { a: 10 }, { b: 10 }), ['got two']);
      assert.deepEqual(await ask(sock, 'array', [1, 2]), ['got array']);
      assert.deepEqual(await ask(sock, 'mixed', 1, 2, 3, { a: 10, b: 10 }), ['got mixed']);
      assert.deepEqual(await ask(sock, 'none'), ['got none']);
      assert.deepEqual(calls, [
        { name: 'one', args: [{ a: 10, b: 10 }], kwargs: { a: 10, b: 10 } },
        { name: 'two', args: [{ a: 10 }, { b: 10 }], kwargs: undefined },
        { name: 'array', args: [[1, 2]], kwargs: undefined },
        { name: 'mixed', args: [1, 2, 3, { a: 10, b: 10 }], kwargs: undefined },
        { name: 'none', args: [], kwargs: undefined },
      ]);
    });
  });

  describe('acknowledgements', () => {
    it("makes a handler's return value, sync or async, the client's ack payload", async () => {
      class Conn extends SocketConnection {
        @event add(a: number, b: number) {
          return a + b;
        }
        @event async later(text: string) {
          await delay(5);
          return { text, late: true };
        }
        @event nothing() {}
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      assert.deepEqual(await ask(sock, 'add', 2, 3), [5]);
      assert.deepEqual(await ask(sock, 'later', 'hi'), [{ text: 'hi', late: true }]);
      assert.deepEqual(await ask(sock, 'nothing'), []);
    });

    it("calls send(msg, callback)'s callback with the client's ack", async () => {
      const acked = signal<unknown[]>();
      class Conn extends SocketConnection {
        @event start() {
          this.send('please ack', (...args: unknown[]) => acked.resolve(args));
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      sock.on('message', (msg: unknown, ack: (...args: unknown[]) => void) => ack(`ok: ${String(msg)}`, 2));
      sock.emit('start');
      assert.deepEqual(await acked.wait('the ack of send()'), ['ok: please ack', 2]);
    });

    it("calls emitAck(callback, name, ...args)'s callback with the client's ack arguments", async () => {
      const acked = signal<unknown[]>();
      class Conn extends SocketConnection {
        @event start() {
          this.emitAck((...args: unknown[]) => acked.resolve(args), 'question', 2, 3);
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      sock.on('question', (a: number, b: number, ack: (...args: unknown[]) => void) => ack(a + b, 'sum'));
      sock.emit('start');
      assert.deepEqual(await acked.wait('the ack of emitAck()'), [5, 'sum']);
    });

    it("runs onMessage for the client's send(), and its return value is the ack", async () => {
      const messages: unknown[] = [];
      class Conn extends SocketConnection {
        override onMessage(message: unknown) {
          messages.push(message);
          return { echo: message };
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      const reply = await withTimeout(
        new Promise<unknown[]>((resolve) => sock.send({ a: 1 }, (...args: unknown[]) => resolve(args))),
        'ack of send()',
      );
      assert.deepEqual(reply, [{ echo: { a: 1 } }]);
      sock.send('plain text');
      await ask(sock, 'sync'); // anything after it has been handled in order
      assert.deepEqual(messages, [{ a: 1 }, 'plain text']);
    });

    it('sends strings as they are and anything else as JSON', async () => {
      class Conn extends SocketConnection {
        override onOpen() {
          this.send('hello');
          this.send('{"looks":"like json"}');
          this.send({ echo: [1, 2] });
          this.send(42);
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = client(url);
      const messages = collect(sock, 'message', 4);
      await connected(sock);
      assert.deepEqual(
        (await messages).map(([m]) => m),
        ['hello', '{"looks":"like json"}', { echo: [1, 2] }, 42],
      );
    });
  });

  describe('onOpen', () => {
    const refusals: Array<[string, (this: SocketConnection) => ReturnType<SocketConnection['onOpen']>]> = [
      ['returns false', () => false],
      ['resolves to false', async () => {
        await delay(1);
        return false;
      }],
      ['throws', () => {
        throw new Error('no entry');
      }],
    ];
    for (const [how, verdict] of refusals) {
      it(`refuses the client when it ${how}: connect_error with a message, and no other hook runs`, async () => {
        const logs = captureLogs();
        const hooks: string[] = [];
        class Guarded extends SocketConnection {
          override onOpen() {
            hooks.push('onOpen');
            return verdict.call(this);
          }
          override onMessage(message: unknown) {
            hooks.push(`onMessage ${String(message)}`);
          }
          override onEvent(name: string) {
            hooks.push(`onEvent ${name}`);
          }
          override onClose(reason: DisconnectReason) {
            hooks.push(`onClose ${reason}`);
          }
        }
        const { url, router } = await startTornadio(Guarded, NO_RECOVERY);
        const sock = client(url);
        const err = await refused(sock);
        assert.match(err.message, /refused/i);
        // The client only buffers these while unconnected; whatever it does, no other hook may run.
        sock.emit('anything');
        sock.send('hi');
        await delay(100);
        sock.disconnect();
        await delay(20);
        assert.deepEqual(hooks, ['onOpen']);
        assert.equal(router.stats.dump().activeConnections, 0);
        if (how === 'throws') {
          const logged = logs.find((line) => line.level === 'error');
          assert.ok(logged, 'the exception is logged');
          assert.ok(logged.extra.some((x) => x instanceof Error && x.stack?.includes('no entry')), 'with its stack');
        }
      });
    }

    it('runs before the endpoint namespace\'s middlewares, which see what it set and may still refuse', async () => {
      const order: string[] = [];
      class Tagged extends SocketConnection {
        tag = '';
        override async onOpen(info: ConnectionInfo) {
          await delay(1);
          order.push('onOpen');
          this.tag = info.getArgument('tag', '');
        }
      }
      const { url, router } = await startTornadio(Tagged, NO_RECOVERY);
      router.io.of('/').use((socket, next) => {
        const tag = (socket as Tagged).tag;
        order.push(`middleware ${tag}`);
        next(tag === 'ok' ? undefined : new Error(`tag ${tag} refused`));
      });
      await connected(client(url, { query: { tag: 'ok' } }));
      const err = await refused(client(url, { query: { tag: 'bad' } }));
      assert.match(err.message, /tag bad refused/);
      assert.deepEqual(order, ['onOpen', 'middleware ok', 'onOpen', 'middleware bad']);
      assert.equal(router.stats.dump().activeConnections, 1);
    });

    it('survives an emit from onOpen that cannot be encoded: logged, that connection closed, the server up', async () => {
      const logs = captureLogs();
      class Bad extends SocketConnection {
        override onOpen(info: ConnectionInfo) {
          if (info.getArgument('bad')) this.emit('hi', { n: 10n });
        }
      }
      const { url } = await startTornadio(Bad, NO_RECOVERY);
      const bad = client(url, { query: { bad: '1' } });
      await once(bad, 'disconnect');
      assert.ok(logs.some((line) => line.level === 'error'), 'the failure is logged');
      await connected(client(url));
    });

    it('sees the handshake: query via getArgument, cookies via getCookie, headers, auth and ip', async () => {
      const seen = signal<Record<string, unknown>>();
      class Conn extends SocketConnection {
        override onOpen(info: ConnectionInfo) {
          seen.resolve({
            user: info.getArgument('user'),
            missing: info.getArgument('missing'),
            fallback: info.getArgument('missing', 'dflt'),
            queryUser: info.query.user,
            session: info.getCookie('session_id'),
            theme: info.cookies.theme,
            noCookie: info.getCookie('nope'),
            header: info.headers['x-custom'],
            auth: info.auth,
            ip: info.ip,
            path: info.path,
            same: info === this.info,
          });
        }
        @event theme() {
          return this.info.getCookie('theme');
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url, {
        query: { user: 'joe' },
        extraHeaders: { cookie: 'session_id=abc123; theme=dark', 'x-custom': 'yes' },
        auth: { token: 't0k' },
      });
      const info = await seen.wait('onOpen');
      assert.equal(info.user, 'joe');
      assert.equal(info.missing, undefined);
      assert.equal(info.fallback, 'dflt');
      assert.equal(info.queryUser, 'joe');
      assert.equal(info.session, 'abc123');
      assert.equal(info.theme, 'dark');
      assert.equal(info.noCookie, undefined);
      assert.equal(info.header, 'yes');
      assert.deepEqual(info.auth, { token: 't0k' });
      assert.match(String(info.ip), /127\.0\.0\.1$/);
      assert.equal(info.path, '/');
      assert.equal(info.same, true);
      assert.deepEqual(await ask(sock, 'theme'), ['dark']);
    });
  });

  describe('client mistakes', () => {
    class Strict extends SocketConnection {
      @event one(a: string) {
        return `one ${a}`;
      }
    }

    it('answers too many arguments and an unknown event with an error ack { error, event }, and stays open', async () => {
      captureLogs();
      const { url } = await startTornadio(Strict, NO_RECOVERY);
      const sock = await connect(url);
      const [mismatch] = (await ask(sock, 'one', 'x', 'y')) as [{ error: string; event: string }];
      assert.equal(mismatch.event, 'one');
      assert.match(mismatch.error, /"one" takes 1 argument.*got 2/);
      const [unknown] = (await ask(sock, 'nope', 1)) as [{ error: string; event: string }];
      assert.equal(unknown.event, 'nope');
      assert.match(unknown.error, /nope/);
      assert.deepEqual(await ask(sock, 'one', 'x'), ['one x']);
      assert.equal(sock.connected, true);
    });

    it('tells a client that asked for no ack with an "error" event, and stays open', async () => {
      captureLogs();
      const { url } = await startTornadio(Strict, NO_RECOVERY);
      const sock = await connect(url);
      const errors = collect<[{ error: string; event: string }]>(sock, 'error', 2);
      sock.emit('one', 'x', 'y');
      sock.emit('nope');
      const [[mismatch], [unknown]] = await errors;
      assert.equal(mismatch.event, 'one');
      assert.match(mismatch.error, /takes 1 argument/);
      assert.equal(unknown.event, 'nope');
      assert.deepEqual(await ask(sock, 'one', 'z'), ['one z']);
      assert.equal(sock.connected, true);
    });
  });

  describe('an exception in a handler', () => {
    for (const which of ['throws', 'rejects'] as const) {
      it(`closes that client's connection with all its endpoints when a handler ${which}, and others carry on`, async () => {
        const logs = captureLogs();
        const closes: string[] = [];
        const bothClosed = signal();
        const noteClose = (where: string, reason: DisconnectReason) => {
          closes.push(`${where} ${reason}`);
          if (closes.length === 2) bothClosed.resolve();
        };
        class Chat extends SocketConnection {
          override onClose(reason: DisconnectReason) {
            if (this.info.getArgument('who') === 'victim') noteClose('/chat', reason);
          }
        }
        class Root extends SocketConnection {
          static override endpoints = { '/chat': Chat };
          @event throws() {
            throw new Error('kaboom (sync)');
          }
          @event async rejects() {
            await delay(1);
            throw new Error('kaboom (async)');
          }
          @event ping() {
            return 'pong';
          }
          override onClose(reason: DisconnectReason) {
            if (this.info.getArgument('who') === 'victim') noteClose('/', reason);
          }
        }
        const { url } = await startTornadio(Root, NO_RECOVERY);
        const manager = new Manager(url, { reconnection: false, query: { who: 'victim' } });
        const root = track(manager.socket('/'));
        const chat = track(manager.socket('/chat'));
        await Promise.all([connected(root), connected(chat)]);
        const other = await connect(url, { query: { who: 'bystander' } });

        const gone = Promise.all([once(root, 'disconnect'), once(chat, 'disconnect')]);
        root.emit(which);
        await gone;
        await bothClosed.wait('onClose of both endpoints');
        assert.deepEqual(closes.sort(), ['/ handler error', '/chat handler error']);

        assert.deepEqual(await ask(other, 'ping'), ['pong']);
        assert.equal(other.connected, true);
        const logged = logs.find((line) => line.level === 'error');
        assert.ok(logged, 'the exception is logged');
        assert.ok(
          logged.extra.some((x) => x instanceof Error && /kaboom/.test(x.message) && (x.stack ?? '').includes('socket-connection.test.ts')),
          `logged with its stack: ${JSON.stringify(logged)}`,
        );
      });
    }
  });

  describe('ordering', () => {
    it('runs async handlers of one connection one after another, in arrival order', async () => {
      const trace: string[] = [];
      class Ordered extends SocketConnection {
        @event async step(n: number, ms: number) {
          trace.push(`start ${n}`);
          await delay(ms);
          trace.push(`end ${n}`);
          return n;
        }
      }
      const { url } = await startTornadio(Ordered, NO_RECOVERY);
      const sock = await connect(url);
      const acks: unknown[] = [];
      // Each later handler would finish sooner if they ran at once.
      await Promise.all([ask(sock, 'step', 1, 60), ask(sock, 'step', 2, 30), ask(sock, 'step', 3, 1)].map((p) => p.then(([n]) => acks.push(n))));
      assert.deepEqual(trace, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
      assert.deepEqual(acks, [1, 2, 3]);
    });

    it('lets a handler marked { concurrent: true } overlap a running one', async () => {
      const trace: string[] = [];
      class Mixed extends SocketConnection {
        @event async slow() {
          trace.push('start slow');
          await delay(80);
          trace.push('end slow');
          return 'slow';
        }
        @event('peek', { concurrent: true }) async peek() {
          trace.push('start peek');
          await delay(1);
          trace.push('end peek');
          return 'peek';
        }
      }
      const { url } = await startTornadio(Mixed, NO_RECOVERY);
      const sock = await connect(url);
      const acks: unknown[] = [];
      await Promise.all([ask(sock, 'slow'), ask(sock, 'peek')].map((p) => p.then(([n]) => acks.push(n))));
      assert.deepEqual(trace, ['start slow', 'start peek', 'end peek', 'end slow']);
      assert.deepEqual(acks, ['peek', 'slow']);
    });
  });

  describe('multiplexing', () => {
    const opened: string[] = [];
    class Chat extends SocketConnection {
      override onOpen(info: ConnectionInfo) {
        opened.push(`chat ${info.path} ${info.getCookie('sid')} ${info.getArgument('room')}`);
      }
      @event who() {
        return ['chat', this.endpoint, this.info.getCookie('sid'), this.info.getArgument('room')];
      }
    }
    class Ping extends SocketConnection {
      @event who() {
        return ['ping', this.endpoint];
      }
    }
    class Room extends SocketConnection {
      @event who() {
        return ['room', this.endpoint];
      }
    }
    class Root extends SocketConnection {
      static override endpoints = { '/chat': Chat, '/ping': Ping };
      override getEndpoint(path: string) {
        return /^\/room-\d+$/.test(path) ? Room : super.getEndpoint(path);
      }
      @event who() {
        return ['root', this.endpoint];
      }
    }

    it('routes /chat and /ping over one connection to their classes, sharing the handshake', async () => {
      opened.length = 0;
      const { url, router } = await startTornadio(Root, NO_RECOVERY);
      const manager = new Manager(url, { reconnection: false, query: { room: 'blue' }, extraHeaders: { cookie: 'sid=s1' } });
      const [root, chat, ping] = ['/', '/chat', '/ping'].map((nsp) => track(manager.socket(nsp))) as [ClientSocket, ClientSocket, ClientSocket];
      await Promise.all([root, chat, ping].map((s) => connected(s)));
      assert.deepEqual(await ask(root, 'who'), [['root', '/']]);
      assert.deepEqual(await ask(chat, 'who'), [['chat', '/chat', 's1', 'blue']]);
      assert.deepEqual(await ask(ping, 'who'), [['ping', '/ping']]);
      assert.deepEqual(opened, ['chat /chat s1 blue']);
      assert.deepEqual([router.stats.dump().activeSessions, router.stats.dump().activeConnections], [1, 3], 'one transport, three endpoints');
    });

    it('refuses an unknown endpoint with connect_error "Invalid namespace"', async () => {
      const { url } = await startTornadio(Root, NO_RECOVERY);
      const err = await refused(client(`${url}/nope`));
      assert.equal(err.message, 'Invalid namespace');
    });

    it('routes a dynamic path through a getEndpoint override', async () => {
      const { url } = await startTornadio(Root, NO_RECOVERY);
      // Without the root endpoint joined first...
      const alone = await connect(`${url}/room-42`);
      assert.deepEqual(await ask(alone, 'who'), [['room', '/room-42']]);
      // ...and after it.
      const manager = new Manager(url, { reconnection: false });
      const root = track(manager.socket('/'));
      await connected(root);
      const room = await connected(track(manager.socket('/room-7')));
      assert.deepEqual(await ask(room, 'who'), [['room', '/room-7']]);
      const err = await refused(track(manager.socket('/room-x')));
      assert.equal(err.message, 'Invalid namespace');
    });
  });

  describe('rooms and broadcast', () => {
    class Lobby extends SocketConnection {
      @event enter(room: string) {
        this.join(room);
      }
      @event exit(room: string) {
        this.leave(room);
      }
      @event tell(room: string, text: string) {
        this.to(room).emit('said', text);
      }
      @event tellOthers(room: string, text: string) {
        this.except(room).emit('said', text);
      }
      @event shout(text: string) {
        this.broadcast.emit('said', text);
      }
    }
    class Root extends Lobby {
      static override endpoints = { '/other': Lobby };
    }

    async function lobby() {
      const { url } = await startTornadio(Root, NO_RECOVERY);
      const [a, b, c] = await Promise.all([connect(url), connect(url), connect(url)]);
      const elsewhere = await connect(`${url}/other`);
      await ask(a!, 'enter', 'red');
      await ask(b!, 'enter', 'red');
      return { a: a!, b: b!, c: c!, elsewhere };
    }

    it('to(room).emit reaches the members of the room only (not the sender)', async () => {
      const { a, b, c, elsewhere } = await lobby();
      const [toA, toB] = [once(a, 'said'), once(b, 'said')];
      const notC = expectNoEvent(c, 'said');
      c.emit('tell', 'red', 'hi red');
      assert.deepEqual([await toA, await toB], [['hi red'], ['hi red']]);
      await notC;

      const toB2 = once(b, 'said');
      const notA = expectNoEvent(a, 'said');
      a.emit('tell', 'red', 'from a');
      assert.deepEqual(await toB2, ['from a']);
      await Promise.all([notA, expectNoEvent(elsewhere, 'said')]);
    });

    it('except(room).emit skips the members of the room', async () => {
      const { a, b, c } = await lobby();
      const toC = once(c, 'said');
      const quiet = Promise.all([expectNoEvent(a, 'said'), expectNoEvent(b, 'said')]);
      a.emit('tellOthers', 'red', 'not for red');
      assert.deepEqual(await toC, ['not for red']);
      await quiet;
    });

    it('broadcast.emit reaches every other peer of the endpoint, not the sender', async () => {
      const { a, b, c, elsewhere } = await lobby();
      const heard = Promise.all([once(b, 'said'), once(c, 'said')]);
      const quiet = Promise.all([expectNoEvent(a, 'said'), expectNoEvent(elsewhere, 'said')]);
      a.emit('shout', 'hello all');
      assert.deepEqual(await heard, [['hello all'], ['hello all']]);
      await quiet;
    });

    it('leave takes a socket out of the room', async () => {
      const { a, b, c } = await lobby();
      await ask(b, 'exit', 'red');
      const toA = once(a, 'said');
      const notB = expectNoEvent(b, 'said');
      c.emit('tell', 'red', 'still red?');
      assert.deepEqual(await toA, ['still red?']);
      await notB;
    });
  });

  describe('close()', () => {
    it('closes the connection: the client gets "io server disconnect", onClose runs and isClosed turns true', async () => {
      const closed = signal<[DisconnectReason, boolean]>();
      class Conn extends SocketConnection {
        @event bye() {
          this.close();
          return this.isClosed;
        }
        override onClose(reason: DisconnectReason) {
          closed.resolve([reason, this.isClosed]);
        }
      }
      const { url } = await startTornadio(Conn, NO_RECOVERY);
      const sock = await connect(url);
      const gone = once(sock, 'disconnect');
      sock.emit('bye');
      const [why] = await gone;
      assert.equal(why, 'io server disconnect');
      const [reason, isClosed] = await closed.wait('onClose');
      assert.equal(reason, 'server namespace disconnect');
      assert.equal(isClosed, true);
    });
  });
});
