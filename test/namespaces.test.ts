import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Manager } from 'socket.io-client';
import { RealtimeError, type Socket } from '../framework/index.ts';
import {
  connect,
  connected,
  connectPair,
  emitWithReply,
  once,
  startServer,
  track,
  type ClientSocket,
  type TestServer,
} from './support/realtime.ts';

type Ack = (...reply: unknown[]) => void;

/** Records every event a client receives, by client name, so a test can say who got what. */
function recorder() {
  const seen: Record<string, Array<[string, ...unknown[]]>> = {};
  return {
    seen,
    watch(name: string, client: ClientSocket) {
      seen[name] = [];
      client.onAny((event: string, ...args: unknown[]) => {
        if (event !== 'sync') seen[name]!.push([event, ...args]);
      });
    },
  };
}

/**
 * Sends `sync` to every socket of the namespaces and waits until each client has it: the
 * connections are ordered, so anything broadcast before has arrived (or never will).
 */
async function sync(server: TestServer, clients: readonly ClientSocket[], namespaces: readonly string[] = ['/']): Promise<void> {
  const arrived = clients.map((client) => once(client, 'sync'));
  for (const name of namespaces) server.io.of(name).emit('sync');
  await Promise.all(arrived);
}

describe('namespaces', () => {
  it('multiplexes two namespaces over one connection', async () => {
    const server = await startServer();
    const echo = (label: string) => (socket: Socket) => socket.on('where', (ack: Ack) => ack(label, socket.nsp.name));
    server.io.on('connection', echo('main'));
    server.io.of('/other').on('connection', echo('other'));

    const manager = new Manager(server.url, { forceNew: true, reconnection: false });
    const main = track(manager.socket('/'));
    const other = track(manager.socket('/other'));
    await Promise.all([connected(main), connected(other)]);

    assert.equal(server.io.engine.clientsCount, 1, 'one Engine.IO session');
    const mainSocket = server.io.sockets.sockets.get(main.id!)!;
    const otherSocket = server.io.of('/other').sockets.get(other.id!)!;
    assert.equal(mainSocket.conn.id, otherSocket.conn.id, 'both namespaces share the session');
    assert.notEqual(main.id, other.id, 'each namespace socket has its own id');
    assert.equal(main.io.engine.id, mainSocket.conn.id);

    assert.deepEqual(await emitWithReply(main, 'where'), ['main', '/']);
    assert.deepEqual(await emitWithReply(other, 'where'), ['other', '/other']);

    // An event to one namespace does not show up in the other.
    const rec = recorder();
    rec.watch('main', main);
    rec.watch('other', other);
    otherSocket.emit('only-other', 1);
    mainSocket.emit('only-main', 2);
    await sync(server, [main, other], ['/', '/other']);
    assert.deepEqual(rec.seen, { main: [['only-main', 2]], other: [['only-other', 1]] });
  });

  it('shares the connection of socket.io.socket() with the main socket', async () => {
    const server = await startServer();
    server.io.of('/chat');
    const main = await connected(connect(server.url));
    const chat = await connected(track(main.io.socket('/chat')));
    assert.equal(server.io.engine.clientsCount, 1);
    assert.equal(server.io.of('/chat').sockets.get(chat.id!)!.conn.id, server.io.sockets.sockets.get(main.id!)!.conn.id);
  });

  it('gives each namespace the auth payload its client socket sent', async () => {
    const server = await startServer();
    server.io.of('/admin');
    const main = await connected(connect(server.url, { auth: { token: 'main-token' } }));
    const admin = await connected(track(main.io.socket('/admin', { auth: { token: 'admin-token', role: 'root' } })));
    assert.deepEqual(server.io.sockets.sockets.get(main.id!)!.handshake.auth, { token: 'main-token' });
    assert.deepEqual(server.io.of('/admin').sockets.get(admin.id!)!.handshake.auth, { token: 'admin-token', role: 'root' });

    // The function form of `auth` is called by the client and its result sent.
    const fromFunction = await connected(connect(server.url + '/admin', { auth: (cb: (data: object) => void) => cb({ token: 'computed' }) }));
    assert.deepEqual(server.io.of('/admin').sockets.get(fromFunction.id!)!.handshake.auth, { token: 'computed' });
  });

  it('refuses an unknown namespace with "Invalid namespace" while the main namespace keeps working', async () => {
    const server = await startServer();
    server.io.on('connection', (socket) => socket.on('echo', (v: unknown, ack: Ack) => ack(v)));
    const main = await connected(connect(server.url));
    const ghost = track(main.io.socket('/ghost'));
    await assert.rejects(connected(ghost), (err: Error) => {
      assert.equal(err.message, 'Invalid namespace');
      return true;
    });
    assert.equal(ghost.connected, false);
    assert.equal(server.io.namespaces.has('/ghost'), false, 'no namespace is created by a client');
    assert.deepEqual(await emitWithReply(main, 'echo', 'alive'), ['alive']);
    assert.equal(server.io.engine.clientsCount, 1);

    // Directly, as its own connection.
    await assert.rejects(connected(connect(server.url + '/ghost')), { message: 'Invalid namespace' });
  });

  it('throws on an invalid namespace name', async () => {
    const server = await startServer();
    for (const name of ['admin', '/a,b', '/a?b']) {
      assert.throws(
        () => server.io.of(name),
        (err: unknown) => err instanceof RealtimeError && err.code === 'ERR_NAMESPACE_NAME',
        name,
      );
    }
  });

  describe('middleware', () => {
    it('refuses a connection with next(err): the client gets connect_error with its message and data', async () => {
      const server = await startServer();
      let connections = 0;
      server.io.of('/admin').use((_socket, next) => next(Object.assign(new Error('nope'), { data: { reason: 'no token', retry: false } })));
      server.io.of('/admin').on('connection', () => connections++);
      server.io.on('connection', (socket) => socket.on('echo', (v: unknown, ack: Ack) => ack(v)));

      const main = await connected(connect(server.url));
      const admin = track(main.io.socket('/admin'));
      await assert.rejects(connected(admin), (err: Error & { data?: unknown }) => {
        assert.equal(err.message, 'nope');
        assert.deepEqual(err.data, { reason: 'no token', retry: false });
        return true;
      });
      assert.equal(connections, 0, 'the connection listener never ran');
      assert.equal(server.io.of('/admin').sockets.size, 0);
      assert.deepEqual(await emitWithReply(main, 'echo', 'fine'), ['fine'], 'the main namespace is untouched');
    });

    it('lets a socket in on next(), runs middlewares in order and keeps what they stored', async () => {
      const server = await startServer();
      const order: string[] = [];
      const admin = server.io.of('/admin');
      admin.use((socket, next) => {
        order.push('first');
        if (socket.handshake.auth.token !== 'secret') return next(new Error('not allowed'));
        socket.data.user = 'ada';
        next();
      });
      admin.use(async (socket) => {
        order.push('second (async)');
        socket.data.checked = true;
      });
      admin.on('connection', (socket) => socket.on('whoami', (ack: Ack) => ack(socket.data)));

      await assert.rejects(connected(connect(server.url + '/admin', { auth: { token: 'wrong' } })), { message: 'not allowed' });
      assert.deepEqual(order, ['first']);

      order.length = 0;
      const ok = await connected(connect(server.url + '/admin', { auth: { token: 'secret' } }));
      assert.deepEqual(order, ['first', 'second (async)']);
      assert.deepEqual(await emitWithReply(ok, 'whoami'), [{ user: 'ada', checked: true }]);
    });

    it('refuses on a rejected promise or a throw', async () => {
      const server = await startServer();
      server.io.of('/async').use(async () => {
        throw new Error('async refusal');
      });
      server.io.of('/sync').use(() => {
        throw new Error('sync refusal');
      });
      await assert.rejects(connected(connect(server.url + '/async')), { message: 'async refusal' });
      await assert.rejects(connected(connect(server.url + '/sync')), { message: 'sync refusal' });
    });

    it('applies io.use() to the main namespace', async () => {
      const server = await startServer();
      server.io.use((socket, next) => next(socket.handshake.query.key === 'k' ? undefined : new Error('bad key')));
      await assert.rejects(connected(connect(server.url)), { message: 'bad key' });
      await connected(connect(server.url, { query: { key: 'k' } }));
    });
  });

  describe('rooms', () => {
    async function three(server: TestServer) {
      const a = await connectPair(server);
      const b = await connectPair(server);
      const c = await connectPair(server);
      const rec = recorder();
      rec.watch('a', a.client);
      rec.watch('b', b.client);
      rec.watch('c', c.client);
      const all = [a.client, b.client, c.client];
      return { a, b, c, seen: rec.seen, sync: () => sync(server, all) };
    }

    it('sends to(room) to its members only, except() excludes, and a socket leaves with leave()', async () => {
      const server = await startServer();
      const { a, b, c, seen, sync } = await three(server);
      a.socket.join('room1');
      b.socket.join(['room1', 'room2']);
      c.socket.join('room2');
      assert.deepEqual([...b.socket.rooms], [b.socket.id, 'room1', 'room2']);

      server.io.to('room1').emit('to-room1');
      server.io.except('room1').emit('except-room1');
      server.io.to(['room1', 'room2']).emit('to-both'); // b is in both and gets it once
      server.io.to('room2').except('room1').emit('room2-not-room1');
      await sync();
      assert.deepEqual(seen, {
        a: [['to-room1'], ['to-both']],
        b: [['to-room1'], ['to-both']],
        c: [['except-room1'], ['to-both'], ['room2-not-room1']],
      });

      for (const list of Object.values(seen)) list.length = 0;
      a.socket.leave('room1');
      assert.deepEqual([...a.socket.rooms], [a.socket.id]);
      server.io.to('room1').emit('after-leave');
      await sync();
      assert.deepEqual(seen, { a: [], b: [['after-leave']], c: [] });
    });

    it('leaves out the sender with socket.to(room) and socket.broadcast', async () => {
      const server = await startServer();
      const { a, b, seen, sync } = await three(server);
      a.socket.join('room');
      b.socket.join('room');
      a.socket.to('room').emit('from-a-to-room', 'hi');
      a.socket.broadcast.emit('from-a-to-all');
      await sync();
      assert.deepEqual(seen, {
        a: [],
        b: [['from-a-to-room', 'hi'], ['from-a-to-all']],
        c: [['from-a-to-all']],
      });
    });

    it('reaches a single socket with in(socketId)', async () => {
      const server = await startServer();
      const { a, c, seen, sync } = await three(server);
      server.io.in(c.socket.id).emit('direct', 1);
      a.socket.to(c.socket.id).emit('private', 'from a');
      await sync();
      assert.deepEqual(seen, { a: [], b: [], c: [['direct', 1], ['private', 'from a']] });
    });

    it('reaches everyone of the namespace with io.emit, and only them', async () => {
      const server = await startServer();
      server.io.of('/other');
      const { seen, sync } = await three(server);
      const outsider = await connected(connect(server.url + '/other'));
      const rec = recorder();
      rec.watch('outsider', outsider);
      server.io.emit('news', { headline: 'hello' });
      await sync();
      const outsiderSynced = once(outsider, 'sync');
      server.io.of('/other').emit('sync');
      await outsiderSynced;
      assert.deepEqual(seen, { a: [['news', { headline: 'hello' }]], b: [['news', { headline: 'hello' }]], c: [['news', { headline: 'hello' }]] });
      assert.deepEqual(rec.seen, { outsider: [] }, 'a socket of another namespace does not get it');
    });

    it('keeps rooms per namespace', async () => {
      const server = await startServer();
      server.io.of('/other');
      const main = await connectPair(server);
      const other = await connectPair(server, {}, '/other');
      main.socket.join('shared-name');
      const rec = recorder();
      rec.watch('main', main.client);
      rec.watch('other', other.client);
      server.io.of('/other').to('shared-name').emit('x');
      server.io.to('shared-name').emit('y');
      await sync(server, [main.client, other.client], ['/', '/other']);
      assert.deepEqual(rec.seen, { main: [['y']], other: [] });
    });

    it('lists, moves and disconnects the sockets of a room', async () => {
      const server = await startServer();
      const { a, b, c } = await three(server);
      a.socket.join('room');
      b.socket.join('room');
      assert.deepEqual(
        server.io
          .in('room')
          .fetchSockets()
          .map((s) => s.id)
          .sort(),
        [a.socket.id, b.socket.id].sort(),
      );
      server.io.in('room').socketsJoin('moved');
      assert.ok(a.socket.rooms.has('moved') && b.socket.rooms.has('moved') && !c.socket.rooms.has('moved'));

      const aGone = once(a.client, 'disconnect');
      const bGone = once(b.client, 'disconnect');
      server.io.in('room').disconnectSockets();
      assert.deepEqual((await aGone)[0], 'io server disconnect');
      assert.deepEqual((await bGone)[0], 'io server disconnect');
      assert.equal(c.client.connected, true);
      assert.equal(server.io.in('room').fetchSockets().length, 0, 'a disconnected socket leaves its rooms');
      assert.equal(server.io.sockets.adapter.rooms.has('room'), false, 'an empty room is dropped');
    });
  });

  it('leaving one namespace keeps the connection and the other namespaces', async () => {
    const server = await startServer();
    server.io.of('/other');
    server.io.on('connection', (socket) => socket.on('echo', (v: unknown, ack: Ack) => ack(v)));
    const { client: main, socket: mainSocket } = await connectPair(server);
    const other = await connected(track(main.io.socket('/other')));
    const otherSocket = server.io.of('/other').sockets.get(other.id!)!;
    const left = once<[string]>(otherSocket, 'disconnect');
    other.disconnect();
    assert.deepEqual(await left, ['client namespace disconnect']);
    assert.equal(mainSocket.connected, true);
    assert.deepEqual(await emitWithReply(main, 'echo', 'still'), ['still']);
    assert.equal(server.io.engine.clientsCount, 1);
  });
});
