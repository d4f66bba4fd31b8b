/**
 * joinGroup of 1,000 and 10,000 finished tasks against one raw
 * `task_id = ANY($1)` query; and cleanup of many expired rows, with the
 * longest time a concurrent store waited meanwhile.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { selectOutcomesSql } from '../lib/dialects/postgres/backend-sql';
import { BenchContext, median, ms, percentile, ratio, sideBySide, time, withDb } from './support';

const TABLES = { task: '"public"."celery_taskmeta"' } as Parameters<typeof selectOutcomesSql>[0];

/** Finished rows written in one statement, each result the JSON of its index, as storeResult writes them. */
async function seedFinished(ds: DataSource, prefix: string, n: number, ageSeconds = 0): Promise<void> {
  await ds.query(
    `INSERT INTO celery_taskmeta (id, task_id, status, result, date_done)
     SELECT nextval('task_id_sequence'), $1 || i, 'SUCCESS', convert_to(i::text, 'UTF8'), (now() AT TIME ZONE 'UTC') - make_interval(secs => $3::float8)
     FROM generate_series(0, $2::int - 1) AS i`,
    [prefix, n, ageSeconds],
  );
}

export async function joinGroup(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [1000] : [1000, 10_000];
  await withDb(ctx.server, 'join', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true, poolSize: 4 }));
    const backend = new ResultBackend(ds);
    const pool = new Pool({ connectionString: url, max: 1 });
    try {
      for (const n of sizes) {
        const prefix = `j${n}-`;
        await seedFinished(ds, prefix, n);
        const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
        await backend.saveGroup(`group-${n}`, ids);
        await ds.query('ANALYZE celery_taskmeta');
        const q = selectOutcomesSql(TABLES, ids);
        // Warm-up, unmeasured: the first calls of either side pay for JIT compilation and plan caching.
        for (let i = 0; i < 3; i++) {
          await backend.joinGroup(`group-${n}`);
          await pool.query(q.text, q.values);
        }
        const runs = await sideBySide(
          ctx.smoke ? 3 : 15,
          () => time(() => backend.joinGroup(`group-${n}`)),
          () => time(() => pool.query(q.text, q.values)),
        );
        const ours = median(runs.ours);
        const raw = median(runs.baseline);
        ctx.rows.push({
          benchmark: 'joinGroup',
          case: `${n} finished tasks`,
          ours: ms(ours),
          baseline: `${ms(raw)} (one raw task_id = ANY($1) query)`,
          ratio: ratio(raw / ours),
          target: '≥ 0.8×',
          met: raw / ours >= 0.8,
        });
      }
    } finally {
      await backend.close();
      await pool.end();
      await ds.destroy();
    }
  });
}

/** Store latencies of 4 concurrent writers until `stop` resolves. */
async function storeLatencies(backend: ResultBackend, label: string, stop: Promise<unknown>): Promise<number[]> {
  let done = false;
  void stop.finally(() => (done = true));
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !done; i++) {
        const started = performance.now();
        await backend.markAsDone(`${label}-${w}-${i}`, i);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

export async function cleanup(ctx: BenchContext): Promise<void> {
  const rows = ctx.smoke ? 10_000 : 1_000_000;
  await withDb(ctx.server, 'cleanup', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true, poolSize: 8 }));
    const backend = new ResultBackend(ds, { expiresMs: 86_400_000 });
    try {
      await seedFinished(ds, 'old-', rows, 2 * 86_400);
      await ds.query('ANALYZE celery_taskmeta');
      // Baseline: the same writers for a fixed second, with no cleanup running.
      const quiet = await storeLatencies(backend, 'quiet', new Promise((r) => setTimeout(r, 1000)));
      let deleted = 0;
      let cleanupMs = 0;
      const run = (async () => {
        cleanupMs = await time(async () => (deleted = (await backend.cleanup()).tasks));
      })();
      const busy = await storeLatencies(backend, 'busy', run);
      await run;
      ctx.rows.push({
        benchmark: 'cleanup',
        case: `${rows.toLocaleString('en-US')} expired rows, 4 writers storing meanwhile`,
        ours: `${(deleted / (cleanupMs / 1000)).toFixed(0)} rows/s (${deleted} in ${ms(cleanupMs)}); longest store ${ms(Math.max(...busy))}, p99 ${ms(percentile(busy, 99))}`,
        baseline: `stores without cleanup: longest ${ms(Math.max(...quiet))}, p99 ${ms(percentile(quiet, 99))}`,
        ratio: '',
        target: 'report',
        met: deleted === rows ? null : false,
      });
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });
}
