import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionGroup, CURRENT_SESSIONS, LOGGED_IN_SESSIONS, MojoSocketHandler, SessionRegistry } from 'mojo-ts';
import { setRegistryCluster, type Member } from '../framework/sessions/index.ts';
import type { PreparedPacket } from '../framework/engine/index.ts';
import { WebSocketTransport } from '../framework/engine/transports/websocket.ts';
import { Browser, createUser, expectNoEvent, nextEvent, socket, startApp, waitFor, whoami, connected, type RunningApp } from './support/mojo-app.ts';

/** A visitor with a session (one GET) and `count` tabs on `app`'s channel. */
async function visitor(app: RunningApp, count: number, channel = 'Probe') {
  const browser = new Browser(app);
  const { sessionId } = await browser.state();
  const tabs = await Promise.all(Array.from({ length: count }, () => browser.tab(channel)));
  return { browser, sessionId, tabs };
}

describe('SessionRegistry', () => {
  it('maps one session to all of its tabs', async () => {
    const app = await startApp();
    const { sessionId, tabs } = await visitor(app, 3);

    assert.ok(CURRENT_SESSIONS.has(sessionId));
    const group = CURRENT_SESSIONS.get(sessionId);
    assert.ok(group instanceof ConnectionGroup);
    assert.equal(group.size, 3);
    const members = [...group];
    assert.equal(members.length, 3);
    assert.deepEqual(members.map((member) => (member as MojoSocketHandler).sessionId), [sessionId, sessionId, sessionId]);
    assert.deepEqual(new Set(members.map((member) => member.id)), new Set(tabs.map((tab) => tab.id)), 'the members are these tabs');
    assert.equal(CURRENT_SESSIONS.size, 1, 'three tabs are one visitor');
  });

  it('answers undefined and false for a key it does not hold', async () => {
    const app = await startApp();
    await visitor(app, 1);
    assert.equal(CURRENT_SESSIONS.get('no-such-session'), undefined);
    assert.equal(CURRENT_SESSIONS.has('no-such-session'), false);
    assert.equal(LOGGED_IN_SESSIONS.get('nobody'), undefined);
  });

  it("emits to a key's group on every tab, and says how many it reached", async () => {
    const app = await startApp();
    const { sessionId, tabs } = await visitor(app, 2);
    const stranger = await visitor(app, 1);

    const arrivals = tabs.map((tab) => nextEvent(tab, 'hello'));
    const quiet = expectNoEvent(stranger.tabs, 'hello');
    assert.equal(CURRENT_SESSIONS.get(sessionId)!.emit('hello', { n: 1 }), 2);
    assert.deepEqual(await Promise.all(arrivals), [{ n: 1 }, { n: 1 }]);
    await quiet;

    const messages = tabs.map((tab) => nextEvent(tab, 'message'));
    assert.equal(CURRENT_SESSIONS.get(sessionId)!.send('plain text'), 2);
    assert.deepEqual(await Promise.all(messages), ['plain text', 'plain text'], 'send arrives as a message event');
  });

  it('counts visitors, lists their keys and iterates their groups', async () => {
    const app = await startApp();
    const a = await visitor(app, 2);
    const b = await visitor(app, 1);

    assert.equal(CURRENT_SESSIONS.size, 2);
    assert.deepEqual([...CURRENT_SESSIONS.keys()].sort(), [a.sessionId, b.sessionId].sort());
    const sizes = Object.fromEntries([...CURRENT_SESSIONS].map(([key, group]) => [key, group.size]));
    assert.deepEqual(sizes, { [a.sessionId]: 2, [b.sessionId]: 1 });
  });

  it('lets a closed tab leave its group, and the last one take the key with it', async () => {
    const app = await startApp();
    const { sessionId, tabs } = await visitor(app, 2);
    const [first, second] = tabs as [(typeof tabs)[0], (typeof tabs)[0]];

    first.disconnect();
    await waitFor(() => CURRENT_SESSIONS.get(sessionId)?.size === 1, 'the closed tab to leave the group');
    const arrives = nextEvent(second, 'still');
    assert.equal(CURRENT_SESSIONS.get(sessionId)!.emit('still', 'here'), 1);
    assert.equal(await arrives, 'here');

    second.disconnect();
    await waitFor(() => !CURRENT_SESSIONS.has(sessionId), 'the last tab to take the key away');
    assert.equal(CURRENT_SESSIONS.get(sessionId), undefined);
    assert.deepEqual([...CURRENT_SESSIONS.keys()], []);
    assert.equal(CURRENT_SESSIONS.size, 0);
  });

  it('holds a user logged in on two browsers under one key with every connection', async () => {
    const app = await startApp();
    await createUser(app, 'alice');
    const laptop = new Browser(app);
    const phone = new Browser(app);
    await laptop.login('alice');
    await phone.login('alice');
    const tabs = await Promise.all([laptop.tab(), laptop.tab(), phone.tab()]);

    assert.deepEqual([...LOGGED_IN_SESSIONS.keys()], ['alice']);
    assert.equal(LOGGED_IN_SESSIONS.size, 1);
    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 3);
    assert.equal(CURRENT_SESSIONS.size, 2, 'two browsers are two sessions');
    const arrivals = tabs.map((tab) => nextEvent(tab, 'note'));
    assert.equal(LOGGED_IN_SESSIONS.get('alice')!.emit('note', 'everywhere'), 3);
    assert.deepEqual(await Promise.all(arrivals), ['everywhere', 'everywhere', 'everywhere']);
  });

  it('leaves out a connection without a valid session', async () => {
    const app = await startApp();
    const known = await visitor(app, 1);
    const anonymous = await connected(socket(`${app.url}/ProbeSocket`, null));
    assert.equal((await whoami(anonymous)).sessionId, null);

    assert.deepEqual([...CURRENT_SESSIONS.keys()], [known.sessionId]);
    const arrives = nextEvent(known.tabs[0]!, 'all');
    const quiet = expectNoEvent([anonymous], 'all');
    assert.equal(CURRENT_SESSIONS.emit('all', 1), 1);
    await arrives;
    await quiet;
  });
});

describe('SessionRegistry.emit', () => {
  it('reaches every connection of every app, encoding the packet once per channel', async () => {
    const app = await startApp();
    const a = await visitor(app, 2, 'Probe');
    const b = await visitor(app, 1, 'Probe');
    const c = await visitor(app, 2, 'Lobby');
    const everyone = [...a.tabs, ...b.tabs, ...c.tabs];

    const written: PreparedPacket[] = [];
    const original = WebSocketTransport.prototype.sendPrepared;
    WebSocketTransport.prototype.sendPrepared = function (this: WebSocketTransport, prepared: PreparedPacket) {
      written.push(prepared);
      original.call(this, prepared);
    };
    const arrivals = everyone.map((tab) => nextEvent(tab, 'news'));
    let reached: number;
    try {
      reached = CURRENT_SESSIONS.emit('news', { headline: 'for everyone' });
    } finally {
      WebSocketTransport.prototype.sendPrepared = original;
    }
    assert.equal(reached, 5);
    assert.deepEqual(await Promise.all(arrivals), Array(5).fill({ headline: 'for everyone' }));
    assert.equal(written.length, 5, 'one write per connection');
    assert.equal(new Set(written).size, 2, 'one encoded packet per channel (/ProbeSocket and /LobbySocket)');
  });
});

describe('SessionRegistry.in(app)', () => {
  it("limits get, has, size, keys and emit to one app's channel", async () => {
    const app = await startApp();
    // Ada has a tab on each app; Bo only on Probe; Cy only on Lobby.
    const ada = new Browser(app);
    const { sessionId: adaId } = await ada.state();
    const [adaProbe, adaLobby] = await Promise.all([ada.tab('Probe'), ada.tab('Lobby')]);
    const bo = await visitor(app, 1, 'Probe');
    const cy = await visitor(app, 1, 'Lobby');

    const lobby = CURRENT_SESSIONS.in('Lobby');
    assert.equal(lobby.size, 2);
    assert.deepEqual([...lobby.keys()].sort(), [adaId, cy.sessionId].sort());
    assert.equal(lobby.has(bo.sessionId), false, 'Bo has no Lobby tab');
    assert.equal(lobby.get(bo.sessionId), undefined);
    assert.equal(lobby.get(adaId)?.size, 1, "only Ada's Lobby tab");
    assert.deepEqual(Object.fromEntries([...lobby].map(([key, group]) => [key, group.size])), { [adaId]: 1, [cy.sessionId]: 1 });
    assert.equal(CURRENT_SESSIONS.get(adaId)?.size, 2, 'the whole registry still sees both of her tabs');
    assert.equal(CURRENT_SESSIONS.in('Probe').size, 2);
    assert.equal(CURRENT_SESSIONS.in('NoSuchApp').size, 0);

    const inLobby = [nextEvent(adaLobby, 'lobby-only'), nextEvent(cy.tabs[0]!, 'lobby-only')];
    const quiet = expectNoEvent([adaProbe, ...bo.tabs], 'lobby-only');
    assert.equal(lobby.emit('lobby-only', 'hi'), 2);
    assert.deepEqual(await Promise.all(inLobby), ['hi', 'hi']);
    await quiet;

    const mine = nextEvent(adaLobby, 'yours');
    const notThere = expectNoEvent([adaProbe], 'yours');
    assert.equal(lobby.get(adaId)!.emit('yours', 1), 1);
    await mine;
    await notThere;
  });

  it("scopes LOGGED_IN_SESSIONS to one app's channel too", async () => {
    const app = await startApp();
    await createUser(app, 'alice');
    const alice = new Browser(app);
    await alice.login('alice');
    const [probeTab, lobbyTab] = await Promise.all([alice.tab('Probe'), alice.tab('Lobby')]);

    assert.equal(LOGGED_IN_SESSIONS.get('alice')?.size, 2);
    assert.equal(LOGGED_IN_SESSIONS.in('Probe').get('alice')?.size, 1);
    const arrives = nextEvent(probeTab, 'whisper');
    const quiet = expectNoEvent([lobbyTab], 'whisper');
    assert.equal(LOGGED_IN_SESSIONS.in('Probe').get('alice')!.emit('whisper', 'psst'), 1);
    assert.equal(await arrives, 'psst');
    await quiet;
  });
});

describe('SessionRegistry bookkeeping', () => {
  /** Stand-ins for connections: the registry reads only `nsp.name`, `connected` and `id`. */
  const member = (id: string, channel = '/ProbeSocket') => ({ id, connected: true, nsp: { name: channel } }) as unknown as Member;
  const ids = (registry: SessionRegistry, key: string) => [...(registry.get(key) ?? [])].map((m) => m.id);

  it('keeps every connection of a key through adds, deletes and drops, in the order they came', () => {
    const registry = new SessionRegistry('T');
    const [a, b, c] = [member('a'), member('b'), member('c')];
    registry.add('k', a);
    registry.add('k', a);
    assert.deepEqual(ids(registry, 'k'), ['a'], 'added twice, held once');
    registry.add('k', b);
    registry.add('k', c);
    assert.deepEqual(ids(registry, 'k'), ['a', 'b', 'c']);
    registry.delete('k', b);
    assert.deepEqual(ids(registry, 'k'), ['a', 'c']);
    registry.delete('k', a);
    assert.deepEqual(ids(registry, 'k'), ['c']);
    registry.delete('k', a);
    assert.deepEqual(ids(registry, 'k'), ['c'], 'deleting one not held changes nothing');
    registry.add('k', b);
    assert.deepEqual(ids(registry, 'k'), ['c', 'b']);
    registry.delete('k', b);
    registry.delete('k', c);
    assert.equal(registry.get('k'), undefined);
    assert.equal(registry.has('k'), false);
    assert.equal(registry.size, 0, 'the last one takes the key with it');
    registry.delete('k', c);

    registry.add('k', a);
    registry.add('k', b);
    registry.add('k', c);
    assert.deepEqual(registry.drop('k', (m) => m !== b).map((m) => m.id), ['a', 'c']);
    assert.deepEqual(ids(registry, 'k'), ['b']);
    assert.deepEqual(registry.drop('k', () => false), []);
    assert.deepEqual(ids(registry, 'k'), ['b']);
    registry.add('k', a);
    assert.deepEqual(registry.drop('k', (m) => m === a).map((m) => m.id), ['a']);
    assert.deepEqual(ids(registry, 'k'), ['b']);
    registry.add('k', a);
    registry.add('k', c);
    assert.deepEqual(registry.drop('k', (m) => m === a).map((m) => m.id), ['a']);
    assert.deepEqual(ids(registry, 'k'), ['b', 'c']);
    registry.delete('k', c);
    assert.deepEqual(registry.drop('k').map((m) => m.id), ['b']);
    assert.equal(registry.size, 0);
    assert.deepEqual(registry.drop('k'), []);

    // Whatever the way down to none, no empty entry is left behind.
    registry.add('k', a);
    registry.add('k', b);
    registry.drop('k', (m) => m === a);
    registry.delete('k', b);
    assert.equal(registry.size, 0, 'a drop to one, then a delete');
    registry.add('k', a);
    registry.add('k', a);
    registry.delete('k', a);
    assert.equal(registry.size, 0, 'added twice, deleted once');
    registry.add('k', a);
    registry.add('k', b);
    assert.deepEqual(registry.drop('k').map((m) => m.id), ['a', 'b']);
    assert.equal(registry.size, 0, 'several dropped at once');
  });

  it('does not reach a connection dropped while an emit is still walking the registry', () => {
    const registry = new SessionRegistry('T');
    const [a, b, c] = [member('a'), member('b'), member('c')];
    for (const m of [a, b, c]) registry.add('k', m);
    const reached: string[] = [];
    // An adapter that walks lazily; the first delivery logs `b` out (a revoke, say).
    registry.adapter = {
      deliver(members) {
        for (const m of members) {
          reached.push(m.id);
          if (m === a) registry.drop('k', (x) => x === b);
        }
        return reached.length;
      },
    };
    registry.emit('e');
    assert.deepEqual(reached, ['a', 'c']);
  });

  it('tells a cluster how many connections of a key it holds on each channel, after every change', () => {
    const told: string[] = [];
    setRegistryCluster({
      remoteCount: () => 0,
      remoteKeys: () => [],
      publishEmit: () => {},
      presence: (registry, key, channel, count) => told.push(`${registry} ${key} ${channel} ${count}`),
      publishRevoke: () => {},
      publishRename: () => {},
    });
    try {
      const registry = new SessionRegistry('T');
      const [a, b, c] = [member('a'), member('b'), member('c', '/LobbySocket')];
      registry.add('k', a);
      registry.add('k', b);
      registry.add('k', c);
      registry.delete('k', a);
      registry.delete('k', a);
      assert.deepEqual([...registry.presenceEntries()], [['k', '/ProbeSocket', 1], ['k', '/LobbySocket', 1]]);
      registry.drop('k');
      assert.deepEqual([...registry.presenceEntries()], []);
      assert.deepEqual(told, ['T k /ProbeSocket 1', 'T k /ProbeSocket 2', 'T k /LobbySocket 1', 'T k /ProbeSocket 1', 'T k /ProbeSocket 0', 'T k /LobbySocket 0']);
    } finally {
      setRegistryCluster(null);
    }
  });
});
