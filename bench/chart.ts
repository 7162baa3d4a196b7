/**
 * Draws the primary figures as an SVG: one panel per figure, one group of bars per N, one bar per
 * server, each labelled with its value. Hand-written SVG, no dependency.
 */
import { writeFileSync } from 'node:fs';
import { PRIMARY_FIGURES, SERVER_LABELS, type Figure, type Medians, type ServerName } from './figures.ts';
import { fmt, type RunInfo } from './report.ts';

const COLORS: Record<ServerName, string> = {
  floor: '#9e9e9e',
  socketio: '#e07b39',
  'mojo-bare': '#2b6cb0',
  'mojo-app': '#63a4e8',
};

const PANEL_W = 400;
const PANEL_H = 270;
const COLUMNS = 3;
const TOP = 70;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel(figure: Figure, x0: number, y0: number, info: RunInfo, medians: Medians): string {
  const servers = info.servers;
  const ns = info.ns;
  const plotX = x0 + 20;
  const plotW = PANEL_W - 40;
  const plotTop = y0 + 44;
  const plotH = PANEL_H - 44 - 40;
  const values = ns.flatMap((n) => servers.map((s) => medians[s]?.[n]?.[figure.key])).filter((v): v is number => typeof v === 'number' && v > 0);
  const max = values.length ? Math.max(...values) * 1.15 : 1;
  const out: string[] = [];
  out.push(`<text x="${x0 + PANEL_W / 2}" y="${y0 + 18}" class="title">${escape(figure.label)}</text>`);
  out.push(`<text x="${x0 + PANEL_W / 2}" y="${y0 + 34}" class="sub">${escape(figure.unit)}, ${figure.better} is better</text>`);
  out.push(`<line x1="${plotX}" y1="${plotTop + plotH}" x2="${plotX + plotW}" y2="${plotTop + plotH}" class="axis"/>`);
  const groupW = plotW / ns.length;
  const barW = Math.min(40, (groupW - 20) / servers.length);
  ns.forEach((n, g) => {
    const gx = plotX + g * groupW + (groupW - barW * servers.length) / 2;
    servers.forEach((server, i) => {
      const value = medians[server]?.[n]?.[figure.key];
      const x = gx + i * barW;
      if (figure.notFor?.[server] || typeof value !== 'number') {
        out.push(`<text x="${x + barW / 2}" y="${plotTop + plotH - 4}" class="na">n/a</text>`);
        return;
      }
      const h = Math.max(1, (Math.max(value, 0) / max) * plotH);
      const y = plotTop + plotH - h;
      out.push(`<rect x="${x + 2}" y="${y.toFixed(1)}" width="${barW - 4}" height="${h.toFixed(1)}" fill="${COLORS[server]}"><title>${escape(`${SERVER_LABELS[server]}, N=${n}: ${fmt(value, figure.digits)} ${figure.unit}`)}</title></rect>`);
      out.push(`<text x="${x + barW / 2}" y="${(y - 4).toFixed(1)}" class="value">${escape(fmt(value, value >= 100 ? 0 : figure.digits))}</text>`);
    });
    out.push(`<text x="${plotX + g * groupW + groupW / 2}" y="${plotTop + plotH + 18}" class="n">N = ${n.toLocaleString('en-US')}</text>`);
  });
  return out.join('\n');
}

/** Writes the chart of `medians` to `file`. */
export function writeChart(file: string, info: RunInfo, medians: Medians): void {
  const figures = PRIMARY_FIGURES;
  const rows = Math.ceil(figures.length / COLUMNS);
  const width = COLUMNS * PANEL_W;
  const height = TOP + rows * PANEL_H + 20;
  const legend = info.servers
    .map((s, i) => `<rect x="${20 + i * 230}" y="44" width="14" height="14" fill="${COLORS[s]}"/><text x="${40 + i * 230}" y="56" class="legend">${escape(SERVER_LABELS[s])}</text>`)
    .join('\n');
  const panels = figures.map((f, i) => panel(f, (i % COLUMNS) * PANEL_W, TOP + Math.floor(i / COLUMNS) * PANEL_H, info, medians)).join('\n');
  const m = info.machine;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
.title { font-size: 14px; font-weight: bold; text-anchor: middle; fill: #222; }
.sub { font-size: 11px; text-anchor: middle; fill: #666; }
.value { font-size: 10px; text-anchor: middle; fill: #222; }
.na { font-size: 10px; text-anchor: middle; fill: #999; }
.n { font-size: 12px; text-anchor: middle; fill: #222; }
.legend { font-size: 12px; fill: #222; }
.head { font-size: 15px; font-weight: bold; fill: #222; }
.axis { stroke: #444; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="20" y="26" class="head">${escape(`Medians of ${info.rounds} round${info.rounds === 1 ? '' : 's'}${info.quick ? ' (quick smoke run)' : ''} — ${m.nproc} CPUs, ${m.cpuModel}, Node ${m.node} — ${info.command}`)}</text>
${legend}
${panels}
</svg>
`;
  writeFileSync(file, svg);
}
