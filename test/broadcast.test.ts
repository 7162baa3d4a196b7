import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { RealtimeServer } from 'mojo-ts';
import { PreparedPacket } from '../framework/engine/index.ts';
import { WebSocketTransport } from '../framework/engine/transports/websocket.ts';

describe('broadcast', () => {
  const http = createServer();
  const server = new RealtimeServer().attach(http);
  const clients: ClientSocket[] = [];
  after(() => {
    for (const client of clients) client.close();
    server.close();
    http.close();
  });

  it('encodes a broadcast once and writes the same websocket frame to every client', async () => {
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    for (let i = 0; i < 5; i++) {
      const client = io(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
      clients.push(client);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    }
    const polling = io(url, { forceNew: true, reconnection: false, transports: ['polling'] });
    clients.push(polling);
    await new Promise<void>((resolve) => polling.once('connect', () => resolve()));

    const written: Array<{ prepared: PreparedPacket; frame: Buffer[] | undefined }> = [];
    const original = WebSocketTransport.prototype.sendPrepared;
    WebSocketTransport.prototype.sendPrepared = function (this: WebSocketTransport, prepared: PreparedPacket) {
      original.call(this, prepared);
      written.push({ prepared, frame: prepared.frame });
    };
    const received = clients.map((client) => new Promise((resolve) => client.once('news', resolve)));
    try {
      server.emit('news', { headline: 'same bytes for everyone' });
    } finally {
      WebSocketTransport.prototype.sendPrepared = original;
    }
    assert.deepEqual(await Promise.all(received), Array(6).fill({ headline: 'same bytes for everyone' }));
    assert.equal(written.length, 5, 'one prepared write per websocket client');
    assert.ok(written.every((w) => w.prepared === written[0]!.prepared), 'one encoded packet shared by all');
    assert.ok(written[0]!.frame, 'the websocket frame was built');
    assert.ok(written.every((w) => w.frame === written[0]!.frame), 'one frame shared by all');
  });
});
