/**
 * Cold start: N replicas released together on an empty database, timed from
 * the release until the last one is initialized. SafeSynchronizer against
 * plain `synchronize: true` and a Celery-style retry around it.
 */
import { join } from 'node:path';
import { runFleet } from '../examples/support/fleet';
import type { ColdConfig, ColdMode, ColdReport } from './cold-worker';
import { BenchContext, median, ms, withDb } from './support';

const WORKER = join(__dirname, 'cold-worker.js');
const ENTITIES = 20;

interface Outcome {
  allReadyMs: number;
  failed: number;
  processes: number;
}

async function trial(server: string, n: number, mode: ColdMode, i: number): Promise<Outcome> {
  return withDb(server, `cold_${mode}_${n}_${i}`, async (url) => {
    const configs = Array.from({ length: n }, (): ColdConfig => ({ url, mode, entities: ENTITIES }));
    const run = await runFleet<ColdConfig, ColdReport>(configs, WORKER);
    return { allReadyMs: run.allReadyMs, failed: run.reports.filter((r) => !r.ok).length, processes: n };
  });
}

export async function coldStart(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [1, 4] : [1, 8, 16, 32];
  const trials = ctx.smoke ? 1 : 3;
  const results = new Map<string, Outcome[]>();
  for (const n of sizes) {
    for (let i = 0; i < trials; i++) {
      // Interleaved, so that the three modes see the same machine.
      for (const mode of ['safe', 'plain', 'retry', 'bare'] as const) {
        const key = `${mode}:${n}`;
        results.set(key, [...(results.get(key) ?? []), await trial(ctx.server, n, mode, i)]);
      }
    }
  }
  const summary = (mode: ColdMode, n: number) => {
    const outcomes = results.get(`${mode}:${n}`)!;
    return {
      readyMs: median(outcomes.map((o) => o.allReadyMs)),
      failed: outcomes.reduce((s, o) => s + o.failed, 0),
      processes: outcomes.reduce((s, o) => s + o.processes, 0),
    };
  };
  const safeAtOne = summary('safe', 1).readyMs;
  for (const n of sizes) {
    const safe = summary('safe', n);
    const plain = summary('plain', n);
    const retry = summary('retry', n);
    const bare = summary('bare', n);
    const targetRow = n === 16;
    ctx.rows.push({
      benchmark: 'cold start',
      case: `N=${n}, ${ENTITIES} entities, ${trials} trial(s)`,
      ours: `${ms(safe.readyMs)}, ${safe.failed}/${safe.processes} failed`,
      baseline:
        `plain: ${ms(plain.readyMs)}, ${plain.failed}/${plain.processes} failed; retry: ${ms(retry.readyMs)}, ${retry.failed}/${retry.processes} failed; ` +
        `no sync at all (the floor): ${ms(bare.readyMs)}`,
      ratio: `${(safe.readyMs / safeAtOne).toFixed(2)}× of N=1`,
      target: targetRow ? '0 failures, ≤ 2× of N=1' : n === Math.max(...sizes) ? '0 failures' : '',
      met: targetRow ? safe.failed === 0 && safe.readyMs <= 2 * safeAtOne : safe.failed === 0 ? null : false,
    });
  }
}
