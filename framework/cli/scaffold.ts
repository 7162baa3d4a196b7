import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.ts';

const STUBS = join(dirname(fileURLToPath(import.meta.url)), 'stubs');
/** The folder holding this framework's package.json. */
export const FRAMEWORK_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const APP_NAME = /^[A-Z][A-Za-z0-9]*$/;
const RESERVED = new Set(['Mojo', 'Static', 'Socket', 'Templates', 'Apps', 'Test', 'Node', 'Index', 'Root']);

/** Fills `{{key}}` placeholders (no spaces inside the braces: `{{ x }}` is left to nunjucks). */
function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole);
}

function writeStub(stub: string, target: string, values: Record<string, string>, written: string[]): void {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, fill(readFileSync(join(STUBS, stub), 'utf8'), values));
  written.push(target);
}

/** `TodoList` → `todo-list`. */
export function slugOf(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** Why `name` cannot be an app name, or undefined when it can. */
export function checkAppName(name: string | undefined): string | undefined {
  if (!name) return 'give the app a name, like: mojo app Blog';
  if (!APP_NAME.test(name)) return `"${name}" is not an app name: use a capitalised identifier such as "Blog" or "TodoList"`;
  if (RESERVED.has(name)) return `"${name}" is reserved; choose another name`;
  return undefined;
}

/** How a new project depends on this framework: the local checkout when run from one, else the registry. */
export function mojoDependency(): string {
  const manifest = JSON.parse(readFileSync(join(FRAMEWORK_ROOT, 'package.json'), 'utf8')) as { version: string };
  return FRAMEWORK_ROOT.split(sep).includes('node_modules') ? `^${manifest.version}` : `file:${FRAMEWORK_ROOT}`;
}

/** Creates a project in `dir` (which must not exist or be empty); returns the files written. */
export function createProject(dir: string): string[] {
  const root = resolve(dir);
  if (existsSync(root) && (!statSync(root).isDirectory() || readdirSync(root).length > 0)) {
    throw new CliError(`${dir} already exists and is not empty; choose a new folder`);
  }
  const projectName = basename(root);
  const values = {
    projectName,
    packageName: projectName.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'mojo-project',
    secret: randomBytes(32).toString('base64url'),
    mojoDependency: mojoDependency(),
  };
  const written: string[] = [];
  for (const [stub, target] of [
    ['project/package.json.stub', 'package.json'],
    ['project/tsconfig.json.stub', 'tsconfig.json'],
    ['project/mojo.config.ts.stub', 'mojo.config.ts'],
    ['project/gitignore.stub', '.gitignore'],
    ['project/README.md.stub', 'README.md'],
    ['project/templates/base.html.stub', 'templates/base.html'],
    ['project/templates/error.html.stub', 'templates/error.html'],
    ['project/static/css/site.css.stub', 'static/css/site.css'],
  ] as const) {
    writeStub(stub, join(root, target), values, written);
  }
  mkdirSync(join(root, 'apps'), { recursive: true });
  mkdirSync(join(root, 'test'), { recursive: true });
  return written;
}

/**
 * Adds app `name` to the project at `root`: its folder with urls, socket handlers, a template, a
 * static folder and a test, and its name in `installedApps`. `route` defaults to `/<slug>/`.
 */
export function createApp(root: string, name: string, route?: string): string[] {
  const problem = checkAppName(name);
  if (problem) throw new CliError(problem, 2);
  const dir = join(root, 'apps', name);
  if (existsSync(dir)) throw new CliError(`apps/${name} already exists; choose another name`);
  const configFile = join(root, 'mojo.config.ts');
  const config = readFileSync(configFile, 'utf8');
  const updated = addInstalledApp(config, name);
  const slug = slugOf(name);
  const values = { Name: name, slug, route: route ?? `/${slug}/` };
  const written: string[] = [];
  writeStub('app/urls.ts.stub', join(dir, 'urls.ts'), values, written);
  writeStub('app/socket_handlers.ts.stub', join(dir, 'socket_handlers.ts'), values, written);
  writeStub('app/templates/page.html.stub', join(dir, 'templates', `${slug}.html`), values, written);
  writeStub('app/static/app.css.stub', join(dir, 'static', 'app.css'), values, written);
  writeStub('app/test.ts.stub', join(root, 'test', `${slug}.test.ts`), values, written);
  writeFileSync(configFile, updated);
  written.push(configFile);
  return written.map((file) => relative(root, file));
}

/** Adds `name` to the `installedApps: [...]` list of a config file's text. */
export function addInstalledApp(config: string, name: string): string {
  const match = /installedApps\s*:\s*\[([^\]]*)\]/.exec(config);
  if (!match) throw new CliError(`could not find "installedApps: [...]" in mojo.config.ts; add "${name}" to it by hand`);
  const listed = [...match[1]!.matchAll(/['"`]([^'"`]+)['"`]/g)].map((m) => m[1]);
  if (listed.includes(name)) throw new CliError(`"${name}" is already in installedApps`);
  const items = match[1]!.trim().replace(/,\s*$/, '');
  const list = items ? `${items}, '${name}'` : `'${name}'`;
  return config.slice(0, match.index) + `installedApps: [${list}]` + config.slice(match.index + match[0].length);
}
