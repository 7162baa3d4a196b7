import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MojoConfig } from '../config.ts';
import { CliError } from './errors.ts';

export const CONFIG_FILE = 'mojo.config.ts';

/** The Mojo project containing `from`: the nearest folder upwards with a `mojo.config.ts`. */
export function findProject(from: string = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new CliError(`not in a Mojo project (no ${CONFIG_FILE} here or above ${resolve(from)}); create one with: mojo new <dir>`);
    dir = parent;
  }
}

/** Imports the project's `mojo.config.ts` and returns its default export. */
export async function loadConfig(root: string): Promise<MojoConfig> {
  const file = join(root, CONFIG_FILE);
  const module = (await import(pathToFileURL(file).href)) as { default?: MojoConfig };
  if (!module.default || typeof module.default !== 'object') throw new CliError(`${file} must \`export default defineConfig({ ... })\``);
  return module.default;
}
