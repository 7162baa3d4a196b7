import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, MojoApplication, defineConfig, type MojoConfig } from 'mojo-ts';
import { Browser, FIXTURE_ROOT, captureLogs, createUser, rawGet, startApp, testConfig } from './support/mojo-app.ts';

const HTML = { accept: 'text/html,application/xhtml+xml' };
const JSON_ONLY = { accept: 'application/json' };

/** Text of files a traversal would reach; none of it may ever come back. */
const NEVER_SERVED = ['FIXTURE-SECRET', 'SocketConnectionHandler', 'urlpatterns', '"name": "mojo-ts"'];

describe('templates', () => {
  it("renders an app's own template over the project's template of the same name", async () => {
    const app = await startApp();
    const { status, body } = await new Browser(app).page('/probe/override');
    assert.equal(status, 200);
    assert.match(body, /shared\.html from the Probe app/);
    assert.doesNotMatch(body, /from the project/);
    assert.match(body, /<meta name="csrf-token" content="[^"]+">/, "the app's template extends the project's base.html");
  });

  it("falls back to the project's templates for a name the app does not have", async () => {
    const app = await startApp();
    const { status, body } = await new Browser(app).page('/probe/project-only');
    assert.equal(status, 200);
    assert.match(body, /project-only\.html from the project/);
  });

  it("gives another app the project's template, not Probe's", async () => {
    const app = await startApp();
    const { status, body } = await new Browser(app).page('/lobby/shared');
    assert.equal(status, 200);
    assert.match(body, /shared\.html from the project/);
    assert.match(body, /data-app="Lobby"/);
  });

  it('escapes what a visitor typed, so it cannot become markup', async () => {
    const app = await startApp();
    const name = `<script>alert("owned")</script><img src=x onerror='x'>&`;
    const { status, body } = await new Browser(app).page(`/probe/greet?name=${encodeURIComponent(name)}`);
    assert.equal(status, 200);
    assert.doesNotMatch(body, /<script>alert/);
    assert.doesNotMatch(body, /<img src=x/);
    assert.match(body, /Hello, &lt;script&gt;alert\(&quot;owned&quot;\)&lt;\/script&gt;&lt;img src=x onerror=&#39;x&#39;&gt;&amp;!/);
  });
});

describe('static files', () => {
  it("serves an app's static files under /static/<App>/", async () => {
    const app = await startApp();
    const res = await fetch(`${app.url}/static/Probe/probe.txt`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'probe static file\n');
  });

  it("serves the project's static files under /static/", async () => {
    const app = await startApp();
    const res = await fetch(`${app.url}/static/project.txt`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'project static file\n');
  });

  it('answers 404 to a static file that does not exist', async () => {
    const app = await startApp();
    for (const path of ['/static/Probe/missing.txt', '/static/missing.txt', '/static/Lobby/probe.txt']) {
      const res = await rawGet(app, path);
      assert.equal(res.status, 404, path);
    }
  });

  it('answers 404 to every path traversal attempt and never sends the file', async () => {
    const app = await startApp();
    const attempts = [
      '/static/../secret.txt',
      '/static/../../../../package.json',
      '/static/%2e%2e/secret.txt',
      '/static/%2E%2E/secret.txt',
      '/static/..%2fsecret.txt',
      '/static/..%2Fsecret.txt',
      '/static/%2e%2e%2fsecret.txt',
      '/static/%252e%252e/secret.txt',
      '/static/Probe/../urls.ts',
      '/static/Probe/..%2fsocket_handlers.ts',
      '/static/Probe/%2e%2e/urls.ts',
      '/static/Probe/%2e%2e/%2e%2e/%2e%2e/secret.txt',
      '/static/Probe/..%2f..%2f..%2fsecret.txt',
      '/static/Probe/..\\urls.ts',
      '/static/Probe/..%5curls.ts',
      '/static/..\\secret.txt',
      '/static/%2e%2e%5csecret.txt',
      '/static/project.txt%00.html',
      '/static/Probe/probe.txt%00',
      '/static/%00/../secret.txt',
      '/static/%e0%a4%a/secret.txt',
    ];
    const wrong: string[] = [];
    for (const path of attempts) {
      const res = await rawGet(app, path);
      if (res.status !== 404) wrong.push(`${path} → ${res.status}`);
      for (const marker of NEVER_SERVED) assert.ok(!res.body.includes(marker), `${path} sent file content (${marker})`);
    }
    assert.deepEqual(wrong, [], 'every traversal attempt gets a 404');
  });
});

describe('CSRF protection', () => {
  it('refuses a POST without a token with 403', async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    await visitor.csrf();
    const res = await visitor.request('/probe/echo', { form: { value: 'x' }, headers: HTML });
    assert.equal(res.status, 403);
    assert.doesNotMatch(await res.text(), /"ok":true/);
  });

  it("refuses a POST with a wrong token or another visitor's token with 403", async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const own = await visitor.csrf();
    const other = await new Browser(app).csrf();
    assert.notEqual(own, other);
    for (const token of ['wrong', other, own.slice(0, -1), `${own}x`]) {
      const form = await visitor.request('/probe/echo', { form: { _csrf: token, value: 'x' } });
      assert.equal(form.status, 403, `form field ${token}`);
      const header = await visitor.request('/probe/echo', { json: { value: 'x' }, headers: { 'x-csrf-token': token } });
      assert.equal(header.status, 403, `header ${token}`);
    }
  });

  it('refuses a POST from a browser that never got a token', async () => {
    const app = await startApp();
    const res = await new Browser(app).request('/probe/echo', { form: { _csrf: 'anything', value: 'x' } });
    assert.equal(res.status, 403);
  });

  it('accepts the token in the _csrf form field', async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const _csrf = await visitor.csrf();
    const res = await visitor.request('/probe/echo', { form: { _csrf, value: 'x' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, value: 'x' });
  });

  it('accepts the token in the X-CSRF-Token header', async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const token = await visitor.csrf('/probe/override');
    const res = await visitor.request('/probe/echo', { json: { value: 'y' }, headers: { 'x-csrf-token': token } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, value: 'y' });
  });
});

describe('authenticated handlers', () => {
  it('send a visitor who is not logged in to auth.loginUrl with ?next=', async () => {
    const app = await startApp({ auth: { loginUrl: '/probe/login' } });
    const res = await new Browser(app).request('/probe/private?tab=2', { headers: HTML });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/probe/login?next=${encodeURIComponent('/probe/private?tab=2')}`);
  });

  it('answer 401 to a JSON request from a visitor who is not logged in', async () => {
    const app = await startApp();
    const res = await new Browser(app).request('/probe/private', { headers: JSON_ONLY });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(typeof ((await res.json()) as { error?: unknown }).error, 'string');
  });

  it('let a logged-in user in', async () => {
    const app = await startApp();
    await createUser(app, 'alice');
    const alice = new Browser(app);
    await alice.login('alice');
    const res = await alice.request('/probe/private', { headers: HTML });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { user: 'alice' });
  });
});

describe('methods', () => {
  it('answers 405 with an Allow header to a method the handler does not define', async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const token = await visitor.csrf();
    for (const method of ['PUT', 'DELETE', 'POST']) {
      const res = await visitor.request('/probe/state', { method, headers: { 'x-csrf-token': token } });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD', method);
    }
  });

  it('answers HEAD where GET is defined, without a body', async () => {
    const app = await startApp();
    const res = await new Browser(app).request('/probe/state', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });
});

describe('error pages', () => {
  it('show the error and its stack in debug mode', async () => {
    const logs = captureLogs();
    const app = await startApp({ debug: true });
    const { status, body } = await new Browser(app).page('/probe/boom', HTML);
    assert.equal(status, 500);
    assert.match(body, /kaboom: the database password is hunter2/);
    assert.match(body, /apps\/Probe\/urls\.ts/, 'the stack names the file that threw');
    assert.ok(logs.some((line) => line.includes('hunter2')), 'the error is logged');
  });

  it('show a plain page without the message or stack outside debug mode', async () => {
    const logs = captureLogs();
    const app = await startApp({ debug: false });
    const { status, body, res } = await new Browser(app).page('/probe/boom', HTML);
    assert.equal(status, 500);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(body, /fixture-error-page/, "the project's error.html is used");
    assert.match(body, /Something went wrong/);
    for (const secret of ['kaboom', 'hunter2', 'urls.ts', 'at Boom', 'node_modules']) assert.ok(!body.includes(secret), `the page leaks "${secret}"`);
    assert.ok(logs.some((line) => line.includes('hunter2') && line.includes('urls.ts')), 'the details go to the log instead');
  });

  it('answer JSON requests outside debug mode without the message or stack', async () => {
    captureLogs();
    const app = await startApp({ debug: false });
    const res = await new Browser(app).request('/probe/boom', { headers: JSON_ONLY });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'Something went wrong' });
  });

  it('answer an unknown route with a 404 page', async () => {
    const app = await startApp();
    const { status, body, res } = await new Browser(app).page('/no/such/page', HTML);
    assert.equal(status, 404);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(body, /fixture-error-page/);
    assert.match(body, /404/);
    const json = await new Browser(app).request('/no/such/page', { headers: JSON_ONLY });
    assert.equal(json.status, 404);
    assert.equal(typeof ((await json.json()) as { error?: unknown }).error, 'string');
  });
});

describe('configuration errors', () => {
  /** Starting the fixture with `config` fails with a ConfigError naming `key` (and `mention`, if given). */
  async function refuses(config: Record<string, unknown>, key: string, mention?: RegExp): Promise<void> {
    await assert.rejects(
      MojoApplication.create({ root: FIXTURE_ROOT, config: { ...testConfig(), ...config } as MojoConfig }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
        assert.equal(err.key, key);
        assert.equal(err.code, 'ERR_CONFIG');
        assert.ok(err.message.includes(key), `the message names "${key}": ${err.message}`);
        if (mention) assert.match(err.message, mention);
        return true;
      },
    );
  }

  it('names an unknown setting', async () => {
    await refuses({ colour: 'blue' }, 'colour');
    await refuses({ socket: { pingIntervall: 5 } }, 'socket.pingIntervall');
  });

  it('names a bad port', async () => {
    for (const port of [-1, 65_536, 80.5, '8000', Number.NaN]) await refuses({ port }, 'port');
  });

  it('names installedApps when an app has no folder', async () => {
    await refuses({ installedApps: ['Probe', 'Missing'] }, 'installedApps', /Missing/);
    await refuses({ installedApps: ['not-an-app'] }, 'installedApps', /not-an-app/);
  });

  it('refuses to run outside debug without a cookie secret of its own', async () => {
    await refuses({ cookieSecret: undefined }, 'cookieSecret');
    await refuses({ cookieSecret: 'dev-only-secret' }, 'cookieSecret');
    await refuses({ cookieSecret: '' }, 'cookieSecret');
    const debug = await startApp({ debug: true, cookieSecret: undefined });
    assert.ok(debug.url, 'debug mode runs with the development secret');
  });

  it('checks the same rules in defineConfig', () => {
    assert.throws(() => defineConfig({ port: 'eighty' as unknown as number }), (err: unknown) => err instanceof ConfigError && err.key === 'port');
    assert.throws(() => defineConfig({ colour: 'blue' } as MojoConfig), (err: unknown) => err instanceof ConfigError && err.key === 'colour');
  });
});
