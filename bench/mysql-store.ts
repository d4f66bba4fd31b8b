/**
 * The result store on MySQL/MariaDB (MYSQL_URL, or this machine's MariaDB):
 * storeResult throughput against a raw mysql2 pool of the same size sending
 * the same upsert, and how long a wait takes to see a stored result when it
 * polls (MySQL has no LISTEN/NOTIFY), against the poll interval.
 */
import { createPool } from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { MariaDbTaskMeta, MariaDbTaskSetMeta, ResultBackend, SafeSynchronizer } from '../lib';
import { storeSql } from '../lib/dialects/mysql/backend-sql';
import { jsonCodec } from '../lib/celery/codec';
import { createMySqlDatabase, dropMySqlDatabase, mysqlUnavailable } from '../examples/support/mysql';
import { BenchContext, drive, median, ms, percentile, ratio, sideBySide } from './support';


export async function mysqlStore(ctx: BenchContext): Promise<void> {
  const missing = await mysqlUnavailable();
  if (missing) {
    ctx.rows.push({ benchmark: 'MySQL storeResult', case: 'skipped', ours: missing, baseline: '', ratio: '', target: '', met: null });
    return;
  }
  const name = `trb_bench_mysql_${process.pid}`;
  const url = await createMySqlDatabase(name);
  try {
    const levels = ctx.smoke ? [1, 4] : [1, 4, 16];
    const total = ctx.smoke ? 300 : 3000;
    let round = 0;
    for (const c of levels) {
      const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true, poolSize: c }));
      const backend = new ResultBackend(ds);
      const pool = createPool({ uri: url, connectionLimit: c });
      const tables = { task: '`celery_taskmeta`', group: '`celery_tasksetmeta`', firstSeen: '`celery_taskmeta_first_seen`', taskSequence: '`task_id_sequence`', groupSequence: '`taskset_id_sequence`' };
      try {
        await Promise.all(Array.from({ length: c }, (_, i) => backend.getTaskMeta(`warm-${i}`)));
        await Promise.all(Array.from({ length: c }, () => pool.query('SELECT 1')));
        const runs = await sideBySide(
          ctx.smoke ? 1 : 3,
          () => {
            const r = round++;
            return drive(total, c, (i) => backend.markAsDone(`o-${r}-${i}`, i));
          },
          () => {
            const r = round++;
            return drive(total, c, (i) => {
              const q = storeSql(tables, { taskId: `r-${r}-${i}`, status: 'SUCCESS', result: jsonCodec.encodeResult(i), traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null, extra: [] });
              return pool.query(q.text, q.values);
            });
          },
        );
        const ours = median(runs.ours);
        const raw = median(runs.baseline);
        ctx.rows.push({
          benchmark: 'MySQL storeResult',
          case: `MariaDB, ${c} writer(s), ${total} stores`,
          ours: `${ours.toFixed(0)}/s`,
          baseline: `raw mysql2 upsert ${raw.toFixed(0)}/s`,
          ratio: ratio(ours / raw),
          target: '≥ 0.8× raw',
          met: ours / raw >= 0.8,
        });
      } finally {
        await pool.end();
        await backend.close();
        await ds.destroy();
      }
    }
    // Wake latency by polling: a writer stores while a wait polls every pollIntervalMs.
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true, poolSize: 4 }));
    try {
      for (const pollIntervalMs of [100, 500]) {
        const waiter = new ResultBackend(ds, { pollIntervalMs });
        const writer = new ResultBackend(ds);
        const latencies: number[] = [];
        for (let i = 0; i < (ctx.smoke ? 5 : 40); i++) {
          const id = `wake-${pollIntervalMs}-${i}`;
          const waited = waiter.waitForResult(id, { timeoutMs: 10_000 }).then(() => performance.now());
          await new Promise((r) => setTimeout(r, Math.random() * pollIntervalMs));
          await writer.markAsDone(id, i);
          const stored = performance.now();
          latencies.push((await waited) - stored);
        }
        await waiter.close();
        ctx.rows.push({
          benchmark: 'MySQL wake latency',
          case: `MariaDB, polling every ${pollIntervalMs} ms`,
          ours: `p50 ${ms(median(latencies))}, p99 ${ms(percentile(latencies, 99))}`,
          baseline: `poll interval ${pollIntervalMs} ms`,
          ratio: '',
          target: `p99 ≤ ${pollIntervalMs} ms + a read`,
          met: percentile(latencies, 99) <= pollIntervalMs + 50,
        });
      }
    } finally {
      await ds.destroy();
    }
  } finally {
    await dropMySqlDatabase(name);
  }
}
