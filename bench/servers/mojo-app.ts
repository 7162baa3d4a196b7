/**
 * The path Mojo users take: a `MojoApplication` with one app, `Bench` (bench/project/apps/Bench),
 * whose `SocketConnectionHandler extends MojoSocketHandler` serves the channel `/BenchSocket`.
 * Sessions live in SQLite (a file, as in production), every connection carries a signed
 * `session_id` cookie got from one GET of `/bench/session`, and is registered in
 * `CURRENT_SESSIONS`. Everything else is the framework's defaults (recovery on, 30 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MojoApplication } from '../../framework/index.ts';
import { MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT } from '../constants.ts';
import { serveControl } from './control.ts';

process.env.MOJO_LOG ??= 'warn';
const root = fileURLToPath(new URL('../project/', import.meta.url));
// The orchestrator gives a folder on tmpfs when it can, so SQLite's fsync costs no disk time.
const dataDir = mkdtempSync(path.join(process.env.BENCH_TMP ?? tmpdir(), 'mojo-bench-db-'));
process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));

const mojo = await MojoApplication.create({
  root,
  config: {
    cookieSecret: 'bench-secret-not-for-production',
    installedApps: ['Bench'],
    database: `sqlite:${path.join(dataDir, 'sessions.db')}`,
    socket: { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD },
  },
});
const { port } = await mojo.listen(0, '127.0.0.1');
serveControl(port, 'mojo-app');
