import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const BUNDLES = new Set(['socket.io.js', 'socket.io.min.js', 'socket.io.esm.min.js']);

interface Asset {
  body: Buffer;
  etag: string;
}

const cache = new Map<string, Asset>();
let distDir: string | null = null;
let version = '';

function load(file: string): Asset {
  let asset = cache.get(file);
  if (!asset) {
    if (!distDir) {
      const manifest = require.resolve('socket.io-client/package.json');
      distDir = join(dirname(manifest), 'dist');
      version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
    }
    asset = { body: readFileSync(join(distDir, file)), etag: `"${version}-${file}"` };
    cache.set(file, asset);
  }
  return asset;
}

/**
 * Serves the stock `socket.io-client` browser bundle under `path` (`socket.io.js`, `.min.js`,
 * `.esm.min.js` and their `.map`s), as the official server does. Returns false for other URLs.
 */
export function serveClientBundle(path: string, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '';
  const end = url.indexOf('?');
  const pathname = end === -1 ? url : url.slice(0, end);
  if (!pathname.startsWith(path)) return false;
  const file = pathname.slice(path.length);
  const isMap = file.endsWith('.map');
  if (!BUNDLES.has(isMap ? file.slice(0, -4) : file)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const asset = load(file);
  const headers = {
    'Content-Type': isMap ? 'application/json; charset=utf-8' : 'application/javascript; charset=utf-8',
    'Cache-Control': 'public, max-age=0',
    ETag: asset.etag,
  };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, headers).end();
    return true;
  }
  res.writeHead(200, { ...headers, 'Content-Length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
  return true;
}
