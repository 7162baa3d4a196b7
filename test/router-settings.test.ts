/**
 * `SocketRouter` settings: TornadIO2's names (in seconds) mapped onto the protocol's options (in
 * ms), what a client then notices, and the exact errors for settings that are unknown or wrong;
 * plus `SocketServer`'s own checks.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { RealtimeError, SocketConnection, SocketRouter, SocketServer, event, type RouterSettings } from 'mojo-ts';
import { ask, collect, connect, dropOffset, once, refused, client, startTornadio } from './support/tornadio.ts';

class Echo extends SocketConnection {
  @event echo(text: string) {
    this.emit('echoed', text);
    return text;
  }
}

/** A router that is never attached: only its options are looked at. */
function routerWith(settings?: RouterSettings): SocketRouter {
  const router = new SocketRouter(Echo, settings);
  router.close();
  return router;
}

interface RawResponse {
  status: number;
  body: string;
}

/** A plain HTTP request, optionally from another loopback address (to look like another client IP). */
function raw(url: string, options: { method?: string; body?: string; localAddress?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', localAddress: options.localAddress, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An Engine.IO v4 polling handshake: the session id and what the client is told. */
async function handshake(base: string, path = '/socket.io/'): Promise<{ sid: string; pingInterval: number; pingTimeout: number; upgrades: string[] }> {
  const res = await raw(`${base}${path}?EIO=4&transport=polling`);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body[0], '0', 'an open packet');
  return JSON.parse(res.body.slice(1));
}

function assertOptionError(settings: Record<string, unknown>, key: string): void {
  assert.throws(
    () => new SocketRouter(Echo, settings as RouterSettings),
    (err: unknown) => {
      assert.ok(err instanceof RealtimeError, `a RealtimeError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_REALTIME_OPTION');
      assert.ok(err.message.includes(`"${key}"`), `the message names "${key}": ${err.message}`);
      return true;
    },
  );
}

describe('SocketRouter settings', () => {
  describe('mapping TornadIO2 names onto protocol options', () => {
    it('has TornadIO2-like defaults: 25 s heartbeat, 20 s client timeout, recovery for 30 s, IP check on', () => {
      const { options } = routerWith().io;
      assert.equal(options.pingInterval, 25_000);
      assert.equal(options.pingTimeout, 20_000);
      assert.deepEqual(options.connectionStateRecovery, { maxDisconnectionDuration: 30_000, skipMiddlewares: false, maxLoggedBytes: 32 * 1024 * 1024 });
      assert.equal(options.verifyRemoteIp, true);
      assert.equal(options.maxPollDuration, 20_000);
      assert.equal(options.path, '/socket.io/');
      assert.deepEqual([...options.transports].sort(), ['polling', 'websocket']);
    });

    it('turns seconds into ms and TornadIO2 names into protocol options', () => {
      const { options } = routerWith({
        heartbeatInterval: 2,
        clientTimeout: 3,
        xhrPollingTimeout: 4.5,
        sessionExpiry: 10,
        sessionCheckInterval: 5,
        enabledProtocols: ['xhr-polling'],
        namespace: 'rt',
        verifyRemoteIp: false,
      }).io;
      assert.equal(options.pingInterval, 2000);
      assert.equal(options.pingTimeout, 3000);
      assert.equal(options.maxPollDuration, 4500);
      assert.deepEqual(options.connectionStateRecovery, { maxDisconnectionDuration: 10_000, skipMiddlewares: false, maxLoggedBytes: 32 * 1024 * 1024 });
      assert.deepEqual(options.transports, ['polling']);
      assert.equal(options.path, '/rt/');
      assert.equal(options.verifyRemoteIp, false);
    });

    it('accepts the protocol options themselves, in ms', () => {
      const { options } = routerWith({ pingInterval: 1500, pingTimeout: 900, transports: ['websocket'], connectionStateRecovery: false }).io;
      assert.equal(options.pingInterval, 1500);
      assert.equal(options.pingTimeout, 900);
      assert.deepEqual(options.transports, ['websocket']);
      assert.equal(options.connectionStateRecovery, false);
    });

    it('turns recovery off with sessionExpiry: 0 (events then carry no offset)', async () => {
      assert.equal(routerWith({ sessionExpiry: 0 }).io.options.connectionStateRecovery, false);
      const { url } = await startTornadio(Echo, { sessionExpiry: 0 });
      const sock = await connect(url);
      const echoed = once(sock, 'echoed');
      await ask(sock, 'echo', 'plain');
      assert.deepEqual(await echoed, ['plain']);
    });

    it('keeps recovery on by default: events carry their offset last', async () => {
      const { url } = await startTornadio(Echo);
      const sock = await connect(url);
      const echoed = once(sock, 'echoed');
      await ask(sock, 'echo', 'plain');
      assert.deepEqual(dropOffset(await echoed), ['plain']);
    });
  });

  describe('what a client notices', () => {
    it('tells the client heartbeatInterval and clientTimeout in ms, and pings that often', async () => {
      const { url } = await startTornadio(Echo, { heartbeatInterval: 0.05, clientTimeout: 3 });
      const told = await handshake(url);
      assert.equal(told.pingInterval, 50);
      assert.equal(told.pingTimeout, 3000);
      const sock = await connect(url);
      await collect(sock.io, 'ping', 2, 1000);
    });

    it('answers a long poll with nothing to send after xhrPollingTimeout', async () => {
      const { url } = await startTornadio(Echo, { xhrPollingTimeout: 0.1, heartbeatInterval: 60 });
      const { sid } = await handshake(url);
      const started = Date.now();
      const poll = await raw(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(poll.status, 200);
      assert.equal(poll.body, '6', 'a noop');
      assert.ok(Date.now() - started < 1500, 'well before the 20 s default');
    });

    it("serves only xhr-polling with enabledProtocols: ['xhr-polling']: a websocket-only client fails", async () => {
      const { url } = await startTornadio(Echo, { enabledProtocols: ['xhr-polling'] });
      const polling = await connect(url);
      assert.deepEqual(await ask(polling, 'echo', 'hi'), ['hi']);
      assert.equal(polling.io.engine.transport.name, 'polling');
      assert.deepEqual((await handshake(url)).upgrades, [], 'no upgrade offered');
      await refused(client(url, { transports: ['websocket'] }));
    });

    it("serves only websocket with enabledProtocols: ['websocket']: a polling-only client fails", async () => {
      const { url } = await startTornadio(Echo, { enabledProtocols: ['websocket'] });
      const ws = await connect(url, { transports: ['websocket'] });
      assert.deepEqual(await ask(ws, 'echo', 'hi'), ['hi']);
      await refused(client(url, { transports: ['polling'] }));
    });

    it("serves under /rt/ with namespace: 'rt'", async () => {
      const { url } = await startTornadio(Echo, { namespace: 'rt' });
      const sock = await connect(url, { path: '/rt/' });
      assert.deepEqual(await ask(sock, 'echo', 'hi'), ['hi']);
      await refused(client(url));
    });

    for (const verifyRemoteIp of [true, false]) {
      it(`${verifyRemoteIp ? 'refuses' : 'lets in'} a request for a session from another IP with verifyRemoteIp: ${verifyRemoteIp}`, async () => {
        const { url } = await startTornadio(Echo, { verifyRemoteIp });
        const { sid } = await handshake(url);
        const post = (from: string) => raw(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40', localAddress: from });
        const foreign = await post('127.0.0.2');
        assert.equal(foreign.status, verifyRemoteIp ? 403 : 200, foreign.body);
        if (verifyRemoteIp) assert.equal((await post('127.0.0.1')).status, 200, 'the address that opened the session is let in');
      });
    }
  });

  describe('bad settings throw at construction, naming the key', () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['an unknown key', { heartbeat: 2 }, 'heartbeat'],
      ['a negative heartbeatInterval', { heartbeatInterval: -1 }, 'heartbeatInterval'],
      ['a zero clientTimeout', { clientTimeout: 0 }, 'clientTimeout'],
      ['a negative sessionExpiry', { sessionExpiry: -5 }, 'sessionExpiry'],
      ['a string xhrPollingTimeout', { xhrPollingTimeout: '20' }, 'xhrPollingTimeout'],
      ['a zero sessionCheckInterval', { sessionCheckInterval: 0 }, 'sessionCheckInterval'],
      ["enabledProtocols: ['flashsocket']", { enabledProtocols: ['flashsocket'] }, 'enabledProtocols'],
      ['an empty enabledProtocols', { enabledProtocols: [] }, 'enabledProtocols'],
      ['a namespace with slashes', { namespace: '/rt/' }, 'namespace'],
      ['a non-boolean verifyRemoteIp', { verifyRemoteIp: 'yes' }, 'verifyRemoteIp'],
      ['a statsPath without a leading /', { statsPath: 'stats' }, 'statsPath'],
      ['a bad protocol option', { pingInterval: -1 }, 'pingInterval'],
      ['both heartbeatInterval and pingInterval', { heartbeatInterval: 2, pingInterval: 2000 }, 'heartbeatInterval'],
      ['both sessionExpiry and connectionStateRecovery', { sessionExpiry: 10, connectionStateRecovery: false }, 'sessionExpiry'],
      ['a sessionExpiry under a millisecond', { sessionExpiry: 0.0004 }, 'sessionExpiry'],
    ];
    for (const [what, settings, key] of cases) {
      it(`throws for ${what}`, () => assertOptionError(settings, key));
    }

    it('names both keys when two settings set the same thing', () => {
      assert.throws(() => new SocketRouter(Echo, { heartbeatInterval: 2, pingInterval: 2000 }), /"heartbeatInterval" and "pingInterval"/);
    });

    it('throws for a root that is not a SocketConnection class', () => {
      assert.throws(() => new SocketRouter(class {} as never), (err: unknown) => err instanceof RealtimeError && err.code === 'ERR_REALTIME_OPTION');
    });
  });
});

describe('SocketServer', () => {
  it('refuses to start without a router', () => {
    for (const options of [undefined, {}, { router: {} }]) {
      assert.throws(
        () => new SocketServer(undefined, options as never),
        (err: unknown) => err instanceof RealtimeError && err.code === 'ERR_REALTIME_OPTION' && /router/.test(err.message),
      );
    }
  });

  it('refuses a port that is not a port number', () => {
    const router = routerWith();
    assert.throws(() => new SocketServer(undefined, { router, port: 70_000 }), /"port"/);
  });

  it('rejects ready when the port is in use', async () => {
    const { port } = await startTornadio(Echo);
    const second = new SocketServer(undefined, { router: new SocketRouter(Echo), port, host: '127.0.0.1' });
    try {
      await assert.rejects(second.ready, (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await second.close();
    }
  });
});
