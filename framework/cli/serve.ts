/**
 * `npm start` for now: serves the project's `static/` folder and a realtime channel on one port
 * (default 8000, or PORT), so a fresh checkout shows the realtime core working in a browser.
 * The app loader and the `mojo serve` command replace this as they land.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { RealtimeServer } from '../index.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const root = resolve('static');
const port = Number(process.env.PORT ?? 8000);

const http = createServer((req, res) => {
  let pathname: string;
  try {
    pathname = decodeURIComponent((req.url ?? '/').split('?')[0]!);
  } catch {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end('Bad request');
    return;
  }
  const file = normalize(join(root, pathname === '/' ? 'index.html' : pathname));
  if (!file.startsWith(root + '/')) {
    res.writeHead(404).end('Not found');
    return;
  }
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found');
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
});

const io = new RealtimeServer().attach(http);
let visitors = 0;
io.on('connection', (socket) => {
  visitors++;
  io.emit('visitors', visitors);
  socket.on('say', (text: unknown, ack?: (reply: unknown) => void) => {
    if (typeof text !== 'string' || text.length === 0 || text.length > 500) {
      ack?.({ error: 'say something between 1 and 500 characters' });
      return;
    }
    io.emit('said', { from: socket.id.slice(0, 6), text });
    ack?.({ ok: true });
  });
  socket.on('disconnect', () => {
    visitors--;
    io.emit('visitors', visitors);
  });
});

http.on('error', (err: NodeJS.ErrnoException) => {
  process.stderr.write(err.code === 'EADDRINUSE' ? `Port ${port} is in use; set PORT to another one.\n` : `${err.message}\n`);
  process.exit(1);
});
http.listen(port, () => process.stdout.write(`Mojo is serving http://localhost:${port}\n`));
