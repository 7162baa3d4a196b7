/**
 * A tiny run of the benchmark harness (bench/run.ts): a few hundred connections, one round, quick
 * batches, written to a temporary folder. It checks that the harness runs every server and reports
 * every figure, never how fast anything is.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { FIGURES, SERVERS, SERVER_LABELS, type Medians, type Sample } from '../bench/figures.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const N = 200;
const LIMIT_MS = 50_000;

interface Results {
  medians: Medians;
  samples: Sample[];
  targets: Array<{ id: string; ratio: number | null }>;
}

/** Runs the orchestrator; on timeout it gets SIGTERM (it kills its own children), then SIGKILL. */
function runBench(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--n', String(N), '--rounds', '1', '--quick', '--out', out], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n(smoke run still going after ${LIMIT_MS} ms: stopped)`;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }, LIMIT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the benchmark harness (npm run bench)', () => {
  it('runs every server and reports every figure, in JSON, markdown and a chart', { timeout: LIMIT_MS + 10_000 }, async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'mojo-bench-smoke-'));
    try {
      const { code, output } = await runBench(out);
      assert.equal(code, 0, `bench/run.ts failed:\n${output.slice(-3000)}`);

      const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
      for (const server of SERVERS) {
        const row = results.medians[server]?.[N];
        assert.ok(row, `no figures for ${server}`);
        for (const figure of FIGURES) {
          const value = row[figure.key];
          if (figure.notFor?.[server]) {
            assert.equal(value, null, `${server} cannot have "${figure.label}" (${figure.notFor[server]}), yet reports ${value}`);
          } else {
            assert.equal(typeof value, 'number', `${server} reports no "${figure.label}"`);
            assert.ok(Number.isFinite(value), `${server} reports "${figure.label}" as ${value}`);
          }
        }
        const sample = results.samples.find((s) => s.server === server);
        assert.equal(sample?.held, true, `${server} did not hold its ${N} clients`);
      }
      assert.ok(results.targets.length > 0 && results.targets.every((t) => typeof t.ratio === 'number'), 'every target has a ratio');

      const report = readFileSync(path.join(out, 'BENCHMARKS.md'), 'utf8');
      for (const figure of FIGURES) assert.ok(report.includes(figure.label), `BENCHMARKS.md lacks "${figure.label}"`);
      for (const server of SERVERS) assert.ok(report.includes(SERVER_LABELS[server]), `BENCHMARKS.md lacks ${SERVER_LABELS[server]}`);
      assert.match(report, /Machine: \d+ CPUs/);
      assert.match(report, /npm run bench -- --n 200/);

      const chart = path.join(out, 'results.svg');
      assert.ok(existsSync(chart));
      const svg = readFileSync(chart, 'utf8');
      assert.match(svg, /^<svg /);
      for (const figure of FIGURES.filter((f) => f.primary)) assert.ok(svg.includes(figure.label.replace(/&/g, '&amp;')), `the chart lacks "${figure.label}"`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
