/**
 * The fixture the official Engine.IO v4 and Socket.IO v5 compliance suites run against
 * (`npm run compliance-server`), built only with mojo-ts's own API: a bare Engine.IO echo at
 * /engine.io/ and, at /socket.io/, the namespaces "/" and "/custom" as the suites' README asks.
 */
import { createServer, type Server } from 'node:http';
import { EngineServer, RealtimeServer, type Socket } from 'mojo-ts';

const TIMING = { pingInterval: 300, pingTimeout: 200, maxPayload: 1e6, allowedOrigins: '*' } as const;

export function createComplianceServer(): Server {
  const http = createServer((_req, res) => {
    res.writeHead(404).end();
  });

  const engine = new EngineServer({ ...TIMING, path: '/engine.io/' }).attach(http);
  engine.on('connection', (socket) => {
    socket.listener = { onMessage: (data) => socket.send(data), onClose() {} };
  });

  const io = new RealtimeServer({ ...TIMING, connectTimeout: 1000 }).attach(http);
  const onConnection = (socket: Socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...args: unknown[]) => socket.emit('message-back', ...args));
    socket.on('message-with-ack', (...args: unknown[]) => {
      const ack = args.pop() as (...reply: unknown[]) => void;
      ack(...args);
    });
  };
  io.on('connection', onConnection);
  io.of('/custom').on('connection', onConnection);
  return http;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 3000);
  createComplianceServer().listen(port, () => {
    process.stdout.write(`compliance server listening on http://localhost:${port} (/engine.io/ and /socket.io/)\n`);
  });
}
