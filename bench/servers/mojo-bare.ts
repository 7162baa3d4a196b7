/**
 * Our realtime server with nothing on top: `RealtimeServer` (the socket.io-style API over our
 * Engine.IO server) with default options, serving the benchmark's namespace and events exactly as
 * the socket.io server does.
 */
import { createServer } from 'node:http';
import { RealtimeServer } from '../../framework/realtime/index.ts';
import { MAX_PAYLOAD, NAMESPACE, PING_INTERVAL, PING_TIMEOUT } from '../constants.ts';
import { serveControl } from './control.ts';

const http = createServer((_req, res) => res.writeHead(404).end());
const io = new RealtimeServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD }).attach(http);
const nsp = io.of(NAMESPACE);
nsp.on('connection', (socket) => {
  socket.on('echo', (payload: unknown) => socket.emit('echo', payload));
  socket.on('fanout', (payload: unknown) => nsp.emit('fanout', payload));
  socket.on('ack', (payload: unknown, ack: (reply: unknown) => void) => ack(payload));
});

http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  serveControl(typeof address === 'object' && address ? address.port : 0, 'mojo-bare');
});
