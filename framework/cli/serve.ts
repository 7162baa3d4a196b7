/**
 * `npm start`: loads the project's `mojo.config.ts` from the current folder and serves its apps
 * (port from the config, or PORT). The `mojo` command will grow around this.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, MojoApplication, type MojoConfig } from '../index.ts';

const root = resolve(process.cwd());
const configFile = join(root, 'mojo.config.ts');

function fail(message: string): never {
  process.stderr.write(`mojo: ${message}\n`);
  process.exit(1);
}

if (!existsSync(configFile)) fail(`no mojo.config.ts in ${root}: run this in a Mojo project`);

try {
  const config = ((await import(pathToFileURL(configFile).href)) as { default?: MojoConfig }).default;
  if (!config) fail('mojo.config.ts must `export default defineConfig({ ... })`');
  const mojo = await MojoApplication.create({ root, config });
  const port = process.env.PORT ? Number(process.env.PORT) : mojo.config.port;
  const address = await mojo.listen(port);
  const apps = mojo.apps.map((app) => app.name).join(', ') || 'no apps';
  process.stdout.write(`Mojo is serving http://localhost:${address.port} (${apps})\n`);
  const stop = () => {
    process.stdout.write('Mojo is stopping…\n');
    void mojo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(`port ${process.env.PORT ?? 'from mojo.config.ts'} is in use; set PORT to another one`);
  throw err;
}
