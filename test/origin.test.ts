import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { setLogSink, type RealtimeOptions } from '../framework/index.ts';
import { connect, connected, connectPair, emitWithReply, once, startServer, withTimeout, type TestServer } from './support/realtime.ts';

const EVIL = 'http://evil.example';
const GOOD = 'http://good.example';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP request (no keep-alive), with whatever headers a browser would not let us set. */
function send(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return withTimeout(
    new Promise<Reply>((resolve, reject) => {
      const req = request(url, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    }),
    `${method} ${url}`,
  );
}

/** The polling handshake a browser page would send. */
const handshake = (server: TestServer, headers: Record<string, string> = {}) => send(`${server.url}/socket.io/?EIO=4&transport=polling`, headers);

/** Opens a raw websocket handshake; resolves with the HTTP status (101 when accepted). */
function wsStatus(server: TestServer, headers: Record<string, string> = {}): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`, { headers });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode!);
        res.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.terminate();
      });
      ws.on('error', () => {});
    }),
    'the websocket handshake',
  );
}

async function assertRefused(server: TestServer, origin: string): Promise<void> {
  let opened = 0;
  const onConnection = () => opened++;
  server.io.engine.on('connection', onConnection);
  for (const transport of ['polling', 'websocket'] as const) {
    const client = connect(server.url, { transports: [transport], extraHeaders: { origin } });
    await assert.rejects(connected(client), (err: Error & { description?: unknown }) => {
      assert.match(err.message, transport === 'polling' ? /xhr poll error/ : /websocket error/);
      if (transport === 'polling') assert.equal(err.description, 403);
      return true;
    });
  }
  const res = await handshake(server, { origin });
  assert.equal(res.status, 403);
  assert.deepEqual(JSON.parse(res.body), { code: 4, message: 'Forbidden' });
  assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS grant for a refused origin');
  assert.equal(await wsStatus(server, { origin }), 403);
  server.io.engine.off('connection', onConnection);
  assert.equal(opened, 0, 'no session was opened');
}

async function assertAccepted(server: TestServer, origin: string | undefined): Promise<void> {
  const headers: Record<string, string> = origin === undefined ? {} : { origin };
  for (const transport of ['polling', 'websocket'] as const) {
    const { client } = await connectPair(server, { transports: [transport], extraHeaders: headers });
    assert.deepEqual(await emitWithReply(client, 'echo', transport), [transport]);
    client.disconnect();
  }
  assert.equal(await wsStatus(server, headers), 101);
}

/** Runs `fn` with the framework's log silenced (refusals are logged, by design). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const previous = setLogSink(() => {});
  try {
    return await fn();
  } finally {
    setLogSink(previous);
  }
}

async function echoServer(options?: RealtimeOptions): Promise<TestServer> {
  const server = await startServer(options);
  server.io.on('connection', (socket) => socket.on('echo', (v: unknown, ack: (r: unknown) => void) => ack(v)));
  return server;
}

describe('origin policy', () => {
  describe('by default (same origin only)', () => {
    it('refuses a page from a foreign origin on polling and on websocket', async () => {
      const server = await echoServer();
      const refusals: number[] = [];
      server.io.engine.on('connection_error', ({ code }) => refusals.push(code));
      await assertRefused(server, EVIL);
      assert.ok(refusals.length >= 4 && refusals.every((code) => code === 4), 'each refusal is reported as FORBIDDEN');
    });

    it('accepts a page of the same origin', async () => {
      const server = await echoServer();
      await assertAccepted(server, server.url);
      const res = await handshake(server, { origin: server.url });
      assert.equal(res.status, 200);
      assert.match(res.body, /^0\{"sid":/);
    });

    it('accepts clients that send no Origin (non-browser clients)', async () => {
      const server = await echoServer();
      await assertAccepted(server, undefined);
    });

    it('does not take a foreign origin on the same host but another port for the same origin', async () => {
      const server = await echoServer();
      await assertRefused(server, `http://127.0.0.1:${server.port + 1}`);
      await assertRefused(server, 'null');
    });

    it('refuses a foreign origin when it upgrades an accepted polling session', async () => {
      const server = await echoServer();
      const res = await handshake(server);
      const { sid } = JSON.parse(res.body.slice(1)) as { sid: string };
      const status = await withTimeout(
        new Promise<number>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`, { headers: { origin: EVIL } });
          ws.on('unexpected-response', (_req, r) => {
            resolve(r.statusCode!);
            r.resume();
          });
          ws.on('open', () => {
            resolve(101);
            ws.terminate();
          });
          ws.on('error', () => {});
        }),
        'the upgrade',
      );
      assert.equal(status, 403);
    });
  });

  describe('allowedOrigins', () => {
    it('lets a listed origin in with CORS headers and still refuses others', async () => {
      const server = await echoServer({ allowedOrigins: [GOOD] });
      await assertAccepted(server, GOOD);

      const res = await handshake(server, { origin: GOOD });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], GOOD);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.match(String(res.headers.vary), /origin/i);

      // The POSTs and GETs of the session carry the grant too.
      const { sid } = JSON.parse(res.body.slice(1)) as { sid: string };
      const post = await withTimeout(
        fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40', headers: { origin: GOOD } }),
        'the POST',
      );
      assert.equal(post.status, 200);
      assert.equal(post.headers.get('access-control-allow-origin'), GOOD);
      await post.text();
      const poll = await send(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { origin: GOOD });
      assert.equal(poll.status, 200);
      assert.equal(poll.headers['access-control-allow-origin'], GOOD);
      assert.match(poll.body, /^40\{"sid":/);

      await assertRefused(server, EVIL);
    });

    it('answers a CORS preflight for a listed origin and refuses one for another', async () => {
      const server = await echoServer({ allowedOrigins: [GOOD] });
      const ok = await send(`${server.url}/socket.io/?EIO=4&transport=polling`, { origin: GOOD, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }, 'OPTIONS');
      assert.equal(ok.status, 204);
      assert.equal(ok.headers['access-control-allow-origin'], GOOD);
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      assert.match(String(ok.headers['access-control-allow-methods']), /POST/);
      const refused = await send(`${server.url}/socket.io/?EIO=4&transport=polling`, { origin: EVIL, 'access-control-request-method': 'POST' }, 'OPTIONS');
      assert.equal(refused.status, 403);
      assert.equal(refused.headers['access-control-allow-origin'], undefined);
    });

    it('matches a listed origin written with a trailing slash', async () => {
      const server = await echoServer({ allowedOrigins: ['https://app.example.com/'] });
      const res = await handshake(server, { origin: 'https://app.example.com' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    });

    it('takes a listed origin written with capitals (scheme and host are case-insensitive)', async () => {
      const server = await echoServer({ allowedOrigins: ['https://App.Example.com'] });
      const res = await handshake(server, { origin: 'https://app.example.com' });
      assert.equal(res.status, 200);
    });

    it('upgrades a session of a listed origin from polling to websocket', async () => {
      const server = await echoServer({ allowedOrigins: [GOOD] });
      const { client, socket } = await connectPair(server, { extraHeaders: { origin: GOOD } });
      if (client.io.engine.transport.name !== 'websocket') await once(client.io.engine, 'upgrade');
      assert.equal(socket.conn.transport.name, 'websocket');
      assert.deepEqual(await emitWithReply(client, 'echo', 'upgraded'), ['upgraded']);
    });

    it("lets every origin in with '*', echoing it with credentials", async () => {
      const server = await echoServer({ allowedOrigins: '*' });
      await assertAccepted(server, EVIL);
      const res = await handshake(server, { origin: EVIL });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], EVIL, 'the origin itself, never "*" (credentials)');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
    });

    it('asks a function per request, and refuses when it throws', async () => {
      const seen: string[] = [];
      const server = await echoServer({
        allowedOrigins: (origin) => {
          seen.push(origin);
          if (origin === 'http://broken.example') throw new Error('policy bug');
          return origin.endsWith('.good.example');
        },
      });
      await assertAccepted(server, 'http://a.good.example');
      await assertRefused(server, EVIL);
      assert.equal((await quietly(() => handshake(server, { origin: 'http://broken.example' }))).status, 403);
      assert.ok(seen.includes('http://a.good.example') && seen.includes(EVIL));
    });
  });

  describe('allowRequest', () => {
    async function assertForbidden(server: TestServer, headers: Record<string, string> = {}): Promise<void> {
      const res = await handshake(server, headers);
      assert.equal(res.status, 403);
      assert.deepEqual(JSON.parse(res.body), { code: 4, message: 'Forbidden' });
      assert.equal(await wsStatus(server, headers), 403);
      for (const transport of ['polling', 'websocket'] as const) {
        await assert.rejects(connected(connect(server.url, { transports: [transport], extraHeaders: headers })));
      }
      assert.equal(server.io.engine.clientsCount, 0);
    }

    it('refuses with 403 when it returns false', async () => {
      await assertForbidden(await echoServer({ allowRequest: () => false }));
    });

    it('refuses with 403 when it returns a reason', async () => {
      const server = await echoServer({ allowRequest: () => 'banned' });
      await quietly(() => assertForbidden(server));
    });

    it('refuses with 403 when its promise rejects or it throws', async () => {
      const rejecting = await echoServer({ allowRequest: () => Promise.reject(new Error('db down')) });
      await quietly(() => assertForbidden(rejecting));
      const throwing = await echoServer({
        allowRequest: () => {
          throw new Error('bug');
        },
      });
      await quietly(() => assertForbidden(throwing));
    });

    it('decides per request, from the request, sync or async', async () => {
      const server = await echoServer({ allowRequest: async (req) => req.headers['x-api-key'] === 'k' || 'bad key' });
      await quietly(() => assertForbidden(server, { 'x-api-key': 'nope' }));
      for (const transport of ['polling', 'websocket'] as const) {
        const { client } = await connectPair(server, { transports: [transport], extraHeaders: { 'x-api-key': 'k' } });
        assert.deepEqual(await emitWithReply(client, 'echo', transport), [transport]);
      }
    });

    it('runs after the origin check: a foreign origin is refused before allowRequest is asked', async () => {
      let asked = 0;
      const server = await echoServer({
        allowRequest: () => {
          asked++;
          return true;
        },
      });
      assert.equal((await handshake(server, { origin: EVIL })).status, 403);
      assert.equal(asked, 0);
      assert.equal((await handshake(server)).status, 200);
      assert.equal(asked, 1);
    });
  });
});
