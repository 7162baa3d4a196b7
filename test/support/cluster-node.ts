/**
 * One node of a test cluster, run as a child process by test/cluster.test.ts: the fixture project
 * with `redis` set, listening on a free port. It prints `LISTENING <port>` and stops on SIGTERM.
 */
import { MojoApplication } from 'mojo-ts';

const root = new URL('../fixtures/project/', import.meta.url).pathname;
const mojo = await MojoApplication.create({
  root,
  config: {
    cookieSecret: 'cluster-secret',
    installedApps: ['Probe', 'Lobby'],
    database: `sqlite:${process.env.MOJO_TEST_DB}`,
    redis: process.env.MOJO_TEST_REDIS,
    cluster: { presenceTtl: Number(process.env.MOJO_TEST_TTL ?? 1) },
    socket: { sessionExpiry: 0 },
  },
});
const { port } = await mojo.listen(0, '127.0.0.1');
process.stdout.write(`LISTENING ${port}\n`);
process.once('SIGTERM', () => {
  void mojo.close().then(() => process.exit(0));
});
