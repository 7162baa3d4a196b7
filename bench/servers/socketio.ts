/**
 * The official `socket.io` 4.8 server, as its documentation sets it up (default options, so the
 * `ws` engine it ships with), serving the benchmark's namespace and events.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { MAX_PAYLOAD, NAMESPACE, PING_INTERVAL, PING_TIMEOUT } from '../constants.ts';
import { serveControl } from './control.ts';

const http = createServer((_req, res) => res.writeHead(404).end());
const io = new Server(http, { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxHttpBufferSize: MAX_PAYLOAD });
const nsp = io.of(NAMESPACE);
nsp.on('connection', (socket) => {
  socket.on('echo', (payload: unknown) => socket.emit('echo', payload));
  socket.on('fanout', (payload: unknown) => nsp.emit('fanout', payload));
  socket.on('ack', (payload: unknown, ack: (reply: unknown) => void) => ack(payload));
});

http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  serveControl(typeof address === 'object' && address ? address.port : 0, 'socketio');
});
