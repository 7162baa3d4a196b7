import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import cookieSignature from 'cookie-signature';
import { CURRENT_SESSIONS, LOGGED_IN_SESSIONS } from 'mojo-ts';
import {
  Browser,
  CookieJar,
  connected,
  createUser,
  expectNoEvent,
  nextEvent,
  socket,
  startApp,
  tempDir,
  waitFor,
  whoami,
  type RunningApp,
} from './support/mojo-app.ts';

const SESSION = 'session_id';
const LOGIN = 'logged_in';

/** The value inside a signed cookie as the jar holds it (`s%3A<value>.<sig>` or `s:<value>.<sig>`). */
function valueOf(raw: string): string {
  const decoded = decodeURIComponent(raw);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

/** The same cookie with one character of its signature changed. */
function tamper(raw: string): string {
  const decoded = decodeURIComponent(raw);
  const at = decoded.lastIndexOf('.') + 5;
  const flipped = decoded[at] === 'A' ? 'B' : 'A';
  return encodeURIComponent(decoded.slice(0, at) + flipped + decoded.slice(at + 1));
}

/** `value` signed the way Mojo signs cookies, but with `secret`. */
function signedWith(value: string, secret: string): string {
  return encodeURIComponent(`s:${cookieSignature.sign(value, secret)}`);
}

/** Alice, logged in over HTTP in a browser of her own (no realtime tab yet). */
async function aliceLoggedIn(app: RunningApp): Promise<Browser> {
  await createUser(app, 'alice');
  const alice = new Browser(app);
  const res = await alice.login('alice');
  assert.equal(res.status, 303, 'the login form redirects');
  assert.equal((await alice.state()).currentUser, 'alice');
  return alice;
}

/** A tab with `jar`'s cookies connects, but as nobody: no session, no user, in no registry. */
async function assertRegistersNothing(app: RunningApp, jar: CookieJar): Promise<void> {
  const tab = await new Browser(app, jar).tab();
  assert.ok(tab.connected, 'a bad cookie makes an anonymous visitor, not a refused connection');
  assert.deepEqual(await whoami(tab), { sessionId: null, userId: null, channel: '/ProbeSocket' });
  assert.equal(CURRENT_SESSIONS.size, 0, `CURRENT_SESSIONS holds ${JSON.stringify([...CURRENT_SESSIONS.keys()])}`);
  assert.equal(LOGGED_IN_SESSIONS.size, 0, `LOGGED_IN_SESSIONS holds ${JSON.stringify([...LOGGED_IN_SESSIONS.keys()])}`);
}

describe('CURRENT_SESSIONS', () => {
  it("registers a visitor's socket under the session id of their HTTP requests", async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const { sessionId } = await visitor.state();
    const tab = await visitor.tab();

    assert.deepEqual(await whoami(tab), { sessionId, userId: null, channel: '/ProbeSocket' });
    assert.ok(CURRENT_SESSIONS.has(sessionId));
    assert.equal(CURRENT_SESSIONS.get(sessionId)?.size, 1);
    assert.deepEqual((await visitor.state()).current, [sessionId], 'an HTTP handler sees the same registry');
    assert.equal(LOGGED_IN_SESSIONS.size, 0, 'a visitor who has not logged in is not in LOGGED_IN_SESSIONS');
  });

  it("lets an HTTP handler's emit reach the visitor's socket, and no one else's", async () => {
    const app = await startApp();
    const visitor = new Browser(app);
    const other = new Browser(app);
    const { sessionId } = await visitor.state();
    await other.state();
    const [mine, theirs] = await Promise.all([visitor.tab(), other.tab()]);

    const arrives = nextEvent(mine, 'probe');
    const quiet = expectNoEvent([theirs], 'probe');
    const res = await visitor.request('/probe/emit-session');
    assert.deepEqual(await res.json(), { reached: 1, current: 2, loggedIn: 0 });
    assert.deepEqual(await arrives, { from: 'http', sessionId });
    await quiet;
  });

  it('registers a visitor who connects over long-polling the same way', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    const tab = await alice.tab('Probe', { transports: ['polling'] });

    assert.deepEqual(await whoami(tab), { sessionId, userId: 'alice', channel: '/ProbeSocket' });
    assert.ok(CURRENT_SESSIONS.has(sessionId));
    assert.ok(LOGGED_IN_SESSIONS.has('alice'));
    const arrives = nextEvent(tab, 'probe');
    await alice.request('/probe/emit-session');
    assert.deepEqual(await arrives, { from: 'http', sessionId });
  });
});

describe('LOGGED_IN_SESSIONS', () => {
  it("puts a socket opened after login under the user's id", async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    const tab = await alice.tab();

    assert.deepEqual(await whoami(tab), { sessionId, userId: 'alice', channel: '/ProbeSocket' });
    assert.ok(LOGGED_IN_SESSIONS.has('alice'));
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 1);
    assert.ok(CURRENT_SESSIONS.has(sessionId), 'a logged-in visitor is a current session too');
    assert.deepEqual((await alice.state()).loggedIn, ['alice']);
  });

  it('gives the visitor a new session id on login, and the old one stops counting', async () => {
    const app = await startApp();
    await createUser(app, 'alice');
    const visitor = new Browser(app);
    const before = (await visitor.state()).sessionId;
    const cookieBefore = visitor.jar.get(SESSION)!;
    const stolen = visitor.jar.clone(); // what a session-fixation attacker planted or copied

    assert.equal((await visitor.login('alice')).status, 303);
    const after = (await visitor.state()).sessionId;
    assert.notEqual(after, before);
    assert.notEqual(visitor.jar.get(SESSION), cookieBefore, 'the session cookie changed');
    assert.equal(valueOf(visitor.jar.get(SESSION)!), after);

    await assertRegistersNothing(app, stolen);
    assert.equal((await new Browser(app, stolen).state()).currentUser, null, 'the pre-login cookie is not logged in over HTTP either');
  });

  it('keeps a tab opened before login reachable under the new session id', async () => {
    const app = await startApp();
    await createUser(app, 'alice');
    const visitor = new Browser(app);
    const before = (await visitor.state()).sessionId!; // the first page gives the browser its session
    const tab = await visitor.tab();
    assert.equal(CURRENT_SESSIONS.get(before)?.size, 1);

    assert.equal((await visitor.login('alice')).status, 303);
    const after = (await visitor.state()).sessionId!;
    assert.equal(CURRENT_SESSIONS.has(before), false, 'nothing is left under the destroyed id');
    assert.equal(CURRENT_SESSIONS.get(after)?.size, 1, 'the open tab moved to the new id');
    assert.equal((await whoami(tab)).sessionId, after);
    assert.equal((await whoami(tab)).userId, null, 'it opened as a visitor and stays one until it reconnects');
  });

  it("delivers a message to a user on both of their tabs and to nobody else", async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    await createUser(app, 'bob');
    const bob = new Browser(app);
    await bob.login('bob');
    const anonymous = new Browser(app);
    await anonymous.state();

    const [first, second, bobsTab, anonymousTab] = await Promise.all([alice.tab(), alice.tab(), bob.tab(), anonymous.tab()]);
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 2);

    const arrivals = [nextEvent(first, 'told'), nextEvent(second, 'told')];
    const quiet = expectNoEvent([bobsTab, anonymousTab], 'told');
    const _csrf = await bob.csrf();
    const res = await bob.request('/probe/tell/alice', { form: { _csrf, text: 'psst' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { reached: 2 });
    assert.deepEqual(await Promise.all(arrivals), [
      { to: 'alice', text: 'psst' },
      { to: 'alice', text: 'psst' },
    ]);
    await quiet;
  });

  it('drops a user on logout from every tab at once, while the tabs stay connected', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    await createUser(app, 'bob');
    const bob = new Browser(app);
    await bob.login('bob');
    const tabs = await Promise.all([alice.tab(), alice.tab()]);
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 2);

    const res = await alice.logout();
    assert.equal(res.status, 200);
    // No waiting: by the time the logout response is here, the registry has forgotten her.
    assert.equal(LOGGED_IN_SESSIONS.has('alice'), false);
    assert.equal(LOGGED_IN_SESSIONS.get('alice'), undefined);
    assert.equal(alice.jar.get(LOGIN), undefined, 'the logged_in cookie is cleared');

    for (const tab of tabs) {
      assert.ok(tab.connected, 'logout does not disconnect the tabs');
      assert.deepEqual(await whoami(tab), { sessionId, userId: null, channel: '/ProbeSocket' });
    }
    assert.equal(CURRENT_SESSIONS.get(sessionId)?.size, 2, 'the visitor is still a current session');

    const quiet = expectNoEvent(tabs, 'told');
    const _csrf = await bob.csrf();
    const told = await bob.request('/probe/tell/alice', { form: { _csrf, text: 'still there?' } });
    assert.deepEqual(await told.json(), { reached: 0 });
    await quiet;
    assert.equal((await alice.state()).currentUser, null);
  });

  it("leaves the same user's other browser logged in when one browser logs out", async () => {
    const app = await startApp();
    const laptop = await aliceLoggedIn(app);
    const phone = new Browser(app);
    await phone.login('alice');
    const [laptopTab, phoneTab] = await Promise.all([laptop.tab(), phone.tab()]);
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 2);

    await laptop.logout();
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 1);
    assert.equal((await whoami(phoneTab)).userId, 'alice');

    const arrives = nextEvent(phoneTab, 'told');
    const quiet = expectNoEvent([laptopTab], 'told');
    const _csrf = await phone.csrf();
    const res = await phone.request('/probe/tell/alice', { form: { _csrf, text: 'only the phone' } });
    assert.deepEqual(await res.json(), { reached: 1 });
    assert.deepEqual(await arrives, { to: 'alice', text: 'only the phone' });
    await quiet;
  });

  it("stops treating a browser's open tabs as the previous user once it logs in as someone else", async () => {
    const app = await startApp();
    const shared = await aliceLoggedIn(app); // a shared computer: alice leaves a tab open
    await createUser(app, 'bob');
    const aliceTab = await shared.tab();
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 1);

    assert.equal((await shared.login('bob')).status, 303);
    assert.equal((await shared.state()).currentUser, 'bob');

    // Alice's login ended on this browser, as a logout would have ended it: her messages must
    // not keep arriving in a browser that is now bob's.
    const quiet = expectNoEvent([aliceTab], 'told');
    const _csrf = await shared.csrf();
    const told = await shared.request('/probe/tell/alice', { form: { _csrf, text: 'for alice only' } });
    const { reached } = (await told.json()) as { reached: number };
    await quiet;
    assert.equal(reached, 0);
    assert.equal(LOGGED_IN_SESSIONS.has('alice'), false);
    assert.equal((await whoami(aliceTab)).userId, null);
  });

  it('drops the tabs on logout even when the browser logged in twice before', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const tab = await alice.tab();
    assert.equal((await alice.login('alice')).status, 303, 'logging in again, e.g. from a stale login page');
    await alice.logout();

    const quiet = expectNoEvent([tab], 'told');
    const _csrf = await alice.csrf();
    const told = await alice.request('/probe/tell/alice', { form: { _csrf, text: 'are you still there?' } });
    const { reached } = (await told.json()) as { reached: number };
    await quiet;
    assert.equal(reached, 0);
    assert.equal(LOGGED_IN_SESSIONS.has('alice'), false, 'after logout, no tab of this browser is alice');
    assert.equal((await whoami(tab)).userId, null);
  });

  it('removes a tab from both registries when it disconnects', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    const tab = await alice.tab();
    assert.ok(CURRENT_SESSIONS.has(sessionId) && LOGGED_IN_SESSIONS.has('alice'));

    tab.disconnect();
    await waitFor(() => !CURRENT_SESSIONS.has(sessionId) && !LOGGED_IN_SESSIONS.has('alice'), 'the closed tab to leave both registries');
    assert.deepEqual(await alice.state(), { sessionId, currentUser: 'alice', current: [], loggedIn: [] });
  });
});

describe('cookies that must not register anyone', () => {
  it('ignores forged cookies made of random values', async () => {
    const app = await startApp();
    await aliceLoggedIn(app);
    const jar = new CookieJar();
    jar.set(SESSION, encodeURIComponent(`s:${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64').replace(/=+$/, '')}`));
    jar.set(LOGIN, encodeURIComponent(`s:alice.${randomBytes(32).toString('base64').replace(/=+$/, '')}`));
    await assertRegistersNothing(app, jar);
  });

  it('ignores unsigned cookies carrying a real session id and user', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const jar = new CookieJar();
    jar.set(SESSION, valueOf(alice.jar.get(SESSION)!));
    jar.set(LOGIN, 'alice');
    await assertRegistersNothing(app, jar);
  });

  it('ignores cookies whose signature was tampered with', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const jar = alice.jar.clone();
    jar.set(SESSION, tamper(alice.jar.get(SESSION)!));
    jar.set(LOGIN, tamper(alice.jar.get(LOGIN)!));
    await assertRegistersNothing(app, jar);
    assert.equal((await new Browser(app, jar.clone()).state()).currentUser, null, 'nor do they log anyone in over HTTP');
  });

  it('ignores a session cookie signed with another secret', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const jar = new CookieJar();
    jar.set(SESSION, signedWith(valueOf(alice.jar.get(SESSION)!), 'another-secret'));
    jar.set(LOGIN, signedWith('alice', 'another-secret'));
    await assertRegistersNothing(app, jar);
  });

  it("does not log in another browser that copies a user's logged_in cookie", async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const mallory = new Browser(app);
    const { sessionId } = await mallory.state();
    mallory.jar.set(LOGIN, alice.jar.get(LOGIN)!);

    const tab = await mallory.tab();
    assert.deepEqual(await whoami(tab), { sessionId, userId: null, channel: '/ProbeSocket' });
    assert.ok(CURRENT_SESSIONS.has(sessionId), "mallory's own session still counts");
    assert.equal(LOGGED_IN_SESSIONS.size, 0);
    assert.equal((await mallory.state()).currentUser, null);
  });

  it('ignores a session that was destroyed in the store', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    await new Promise<void>((resolve, reject) => app.mojo.context.sessions.destroy(sessionId, (err) => (err ? reject(err) : resolve())));
    await assertRegistersNothing(app, alice.jar.clone());
  });

  it('ignores a session that expired in the store', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    const store = app.mojo.context.sessions;
    const data = (await store.getSession(sessionId))!;
    const expired = { ...data, cookie: { ...data.cookie, expires: new Date(Date.now() - 1000) } } as typeof data;
    await new Promise<void>((resolve, reject) => store.set(sessionId, expired, (err) => (err ? reject(err) : resolve())));
    await assertRegistersNothing(app, alice.jar.clone());
  });

  it('ignores a logged_in cookie kept from before a logout', async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const { sessionId } = await alice.state();
    const kept = alice.jar.clone();
    await alice.logout();

    const tab = await new Browser(app, kept).tab();
    assert.deepEqual(await whoami(tab), { sessionId, userId: null, channel: '/ProbeSocket' });
    assert.equal(LOGGED_IN_SESSIONS.size, 0);
  });
});

describe('cross-site sockets', () => {
  it("refuses a logged-in visitor's cookies on a socket opened from another site", async () => {
    const app = await startApp();
    const alice = await aliceLoggedIn(app);
    const evil = socket(`${app.url}/ProbeSocket`, null, { extraHeaders: { cookie: alice.jar.header(), origin: 'https://evil.example' } });
    const refused = await connected(evil).then(
      () => false,
      () => true,
    );
    assert.ok(refused, 'a foreign Origin must not ride on the visitor cookies');
    assert.equal(LOGGED_IN_SESSIONS.size, 0);
    assert.equal(CURRENT_SESSIONS.size, 0);

    const own = await connected(socket(`${app.url}/ProbeSocket`, null, { extraHeaders: { cookie: alice.jar.header(), origin: app.url } }));
    assert.equal((await whoami(own)).userId, 'alice', 'the same cookies from the app itself are fine');
  });
});

describe('sessions across secrets and restarts', () => {
  it('keeps a logged-in visitor logged in across a server restart', async () => {
    const database = `sqlite:${path.join(tempDir(), 'mojo.db')}`;
    const first = await startApp({ database });
    const alice = await aliceLoggedIn(first);
    const { sessionId } = await alice.state();
    const tab = await alice.tab();
    const dropped = nextEvent(tab, 'disconnect');
    await first.close();
    await dropped;

    const second = await startApp({ database });
    alice.app = second;
    assert.deepEqual(await alice.state(), { sessionId, currentUser: 'alice', current: [], loggedIn: [] });
    const again = await alice.tab();
    assert.deepEqual(await whoami(again), { sessionId, userId: 'alice', channel: '/ProbeSocket' });
    assert.ok(LOGGED_IN_SESSIONS.has('alice'));
    assert.ok(CURRENT_SESSIONS.has(sessionId));
  });

  it('accepts cookies signed with an old secret while it is still listed, and not after', async () => {
    const database = `sqlite:${path.join(tempDir(), 'mojo.db')}`;
    const before = await startApp({ database, cookieSecret: 'old-secret' });
    const alice = await aliceLoggedIn(before);
    const { sessionId } = await alice.state();
    const jar = alice.jar.clone();
    await before.close();

    const rotated = await startApp({ database, cookieSecret: ['new-secret', 'old-secret'] });
    const tab = await new Browser(rotated, jar.clone()).tab();
    assert.deepEqual(await whoami(tab), { sessionId, userId: 'alice', channel: '/ProbeSocket' });
    assert.ok(LOGGED_IN_SESSIONS.has('alice'));
    assert.equal((await new Browser(rotated, jar.clone()).state()).currentUser, 'alice');
    await rotated.close();

    const retired = await startApp({ database, cookieSecret: ['new-secret'] });
    await assertRegistersNothing(retired, jar.clone());
    assert.equal((await new Browser(retired, jar.clone()).state()).currentUser, null);
  });
});
