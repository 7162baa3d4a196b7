/**
 * Preloaded into README examples by test/readme.test.ts: whatever port an example listens on,
 * it gets a free one instead, and the port is announced on stdout for the test to connect to.
 */
import { Server } from 'node:net';

const listen = Server.prototype.listen;
Server.prototype.listen = function patchedListen(this: Server, ...args: unknown[]) {
  if (typeof args[0] === 'number') args[0] = 0;
  else if (typeof args[0] === 'object' && args[0] !== null && 'port' in args[0]) args[0] = { ...args[0], port: 0 };
  this.once('listening', () => {
    const address = this.address();
    if (address && typeof address === 'object') process.stdout.write(`README_EXAMPLE_LISTENING ${address.port}\n`);
  });
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof Server.prototype.listen;
