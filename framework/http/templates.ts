import nunjucks from 'nunjucks';

/**
 * A nunjucks environment that looks in `dirs` in order (an app's own `templates/` first, then
 * the project's), with autoescaping on: `{{ value }}` is HTML-escaped unless marked `| safe`.
 * @example const env = createTemplates(['apps/Chat/templates', 'templates'], { watch: false });
 */
export function createTemplates(dirs: readonly string[], options: { noCache: boolean }): nunjucks.Environment {
  const loader = new nunjucks.FileSystemLoader([...dirs], { noCache: options.noCache });
  return new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false });
}
