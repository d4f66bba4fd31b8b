/**
 * `npm run soak`: 16 worker processes store, wait and clean up for 10 minutes
 * (`--seconds 30` in CI). It fails (exit 1) on any error, on connections that
 * grow past what the pools allow, on open handles that grow, and on a heap
 * that keeps growing after the warm-up.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { Command } from 'commander';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { runFleet } from '../examples/support/fleet';
import { startPostgres } from '../examples/support/postgres';
import type { SoakConfig, SoakReport, SoakSample } from './soak-worker';
import { median, withDb } from './support';

const POOL = 2;

async function main(): Promise<void> {
  const options = new Command()
    .name('soak')
    .option('--seconds <n>', 'how long the workers run', (v) => Number(v), 600)
    .option('--workers <n>', 'worker processes', (v) => Number(v), 16)
    .parse()
    .opts<{ seconds: number; workers: number }>();
  const server = await startPostgres({ maxConnections: 200 });
  let failed: string[] = [];
  try {
    failed = await withDb(server.url, 'soak', async (url) => {
      const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true }));
      await ds.destroy();
      const samples = new Map<number, SoakSample['sample'][]>();
      const connections: number[] = [];
      const watcher = new Client({ connectionString: url, application_name: 'trb-soak-watcher' });
      await watcher.connect();
      const configs = Array.from({ length: options.workers }, (_, worker): SoakConfig => ({ url, worker, durationMs: options.seconds * 1000 }));
      let timer: NodeJS.Timeout | undefined;
      const run = await runFleet<SoakConfig, SoakReport>(configs, join(__dirname, 'soak-worker.js'), () => {
        timer = setInterval(() => {
          watcher
            .query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'trb-soak'")
            .then((r) => connections.push((r.rows[0] as { n: number }).n))
            .catch(() => undefined);
        }, 2000);
      }, (worker, message) => {
        const sample = (message as Partial<SoakSample>).sample;
        if (sample) samples.set(worker, [...(samples.get(worker) ?? []), sample]);
      });
      clearInterval(timer);
      await watcher.end();
      const problems: string[] = [];
      const errors = run.reports.flatMap((r) => r.errors);
      const operations = run.reports.reduce((n, r) => n + r.operations, 0);
      if (errors.length) problems.push(`${errors.length} errors, first: ${errors[0]}`);
      const allowed = options.workers * (POOL + 1);
      if (Math.max(...connections) > allowed) problems.push(`connections reached ${Math.max(...connections)}, over the ${allowed} the pools and LISTEN connections allow`);
      // After a warm-up of a fifth of the run, handles must not grow, and the heap must not keep growing.
      let heapEarly = 0;
      let heapLate = 0;
      let handlesGrew = 0;
      for (const [worker, list] of samples) {
        const steady = list.slice(Math.floor(list.length / 5));
        if (steady.length < 4) continue;
        const half = Math.floor(steady.length / 2);
        const early = median(steady.slice(0, half).map((s) => s.heapUsed));
        const late = median(steady.slice(half).map((s) => s.heapUsed));
        heapEarly += early;
        heapLate += late;
        if (Math.max(...steady.map((s) => s.handles)) > Math.min(...steady.map((s) => s.handles)) + 2) handlesGrew++;
        if (late > early * 1.5 && late - early > 8 * 1024 * 1024) problems.push(`worker ${worker}: heap grew from ${(early / 2 ** 20).toFixed(1)} to ${(late / 2 ** 20).toFixed(1)} MiB`);
      }
      if (handlesGrew) problems.push(`${handlesGrew} workers' open handles grew`);
      console.log(
        `soak: ${options.workers} workers × ${options.seconds} s, ${operations} operations, ${errors.length} errors; ` +
          `connections ${Math.min(...connections)}–${Math.max(...connections)} (allowed ${allowed}); ` +
          `heap after a full GC, summed over workers: ${(heapEarly / 2 ** 20).toFixed(0)} MiB early, ${(heapLate / 2 ** 20).toFixed(0)} MiB late; handles grew in ${handlesGrew} workers`,
      );
      return problems;
    });
  } finally {
    await server.stop();
  }
  if (failed.length) {
    console.error(`soak FAILED:\n  ${failed.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
