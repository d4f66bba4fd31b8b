/**
 * storeResult throughput at 1, 4, 16 and 64 concurrent writers, against a raw
 * `pg` pool of the same size sending the same upsert to the same table, its
 * wake-up trigger included, as a user measuring us against a raw loop would:
 * so the ratio holds what the package adds in Node (validation, encoding, the
 * query path). For reference, the design before the trigger: the upsert with
 * an inline NOTIFY on every store, on a table without the trigger.
 */
import { Client, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { storeSql } from '../lib/dialects/postgres/backend-sql';
import { jsonCodec } from '../lib/celery/codec';
import { createIdSequences } from '../lib';
import { driverPool } from '../lib/dialects/postgres/pool-query';
import { BenchContext, drive, median, ratio, sideBySide, withDb } from './support';

const TABLES = {
  task: '"public"."celery_taskmeta"',
  group: '"public"."celery_tasksetmeta"',
  taskSequence: '"public"."task_id_sequence"',
  groupSequence: '"public"."taskset_id_sequence"',
  channel: 'trb_bench',
  firstSeen: '"public"."celery_taskmeta_first_seen"',
};

function rawStore(taskId: string, value: number, notify: boolean) {
  return storeSql(
    TABLES,
    { taskId, status: 'SUCCESS', result: jsonCodec.encodeResult(value), traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null, extra: [] },
    notify,
  );
}


export async function storeThroughput(ctx: BenchContext): Promise<void> {
  const levels = ctx.smoke ? [1, 4] : [1, 4, 16, 64];
  const total = ctx.smoke ? 400 : 4000;
  await withDb(ctx.server, 'store_ours', async (oursUrl) =>
    withDb(ctx.server, 'store_raw', async (rawUrl) => {
      // The inline-NOTIFY reference's table: made by plain TypeORM, so it has no wake-up trigger.
      const plain = await new DataSource({ type: 'postgres', url: rawUrl, entities: [TaskMeta, TaskSetMeta], synchronize: true }).initialize();
      const runner = plain.createQueryRunner();
      await createIdSequences(runner);
      await runner.release();
      await plain.destroy();
      let round = 0;
      for (const c of levels) {
        // Each side opens its pool for its own run and closes it after, so that the two never
        // hold 2 × 64 connections at once (a server's max_connections is often 100); connecting
        // and a warm-up query on every connection happen before the clock starts.
        const oursRun = async (label: string, body: (backend: ResultBackend, ds: DataSource) => Promise<number>) => {
          const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url: oursUrl, entities: [TaskMeta, TaskSetMeta], synchronize: true, poolSize: c }));
          const backend = new ResultBackend(ds);
          try {
            await Promise.all(Array.from({ length: c }, (_, i) => backend.getTaskMeta(`${label}-warm-${i}`)));
            await backend.markAsDone(`${label}-warm`, 0);
            return await body(backend, ds);
          } finally {
            await backend.close();
            await ds.destroy();
          }
        };
        const rawRun = async (notify: boolean, waited = false) => {
          // The baseline writes where we write; the inline-NOTIFY reference on the table without the trigger.
          const pool = new Pool({ connectionString: notify ? rawUrl : oursUrl, max: c });
          // pg-pool's end() resolves before its clients' sockets have closed; the database drop that
          // follows terminates them (57P01), and an 'error' event nobody listens to would end the run.
          pool.on('error', () => undefined);
          const r = round++;
          const listener = waited ? await inlineWaiter(rawUrl, Array.from({ length: total }, (_, i) => `r-${r}-${i}`)) : null;
          try {
            await Promise.all(Array.from({ length: c }, () => pool.query('SELECT 1')));
            const rate = await drive(total, c, (i) => {
              const q = rawStore(`r-${r}-${i}`, i, notify);
              return pool.query(q.text, q.values);
            });
            await listener?.all;
            return rate;
          } finally {
            await listener?.close();
            await pool.end();
          }
        };
        const rounds = ctx.smoke ? 1 : 3;
        const runs = await sideBySide(
          rounds,
          () => oursRun('o', (backend) => {
            const r = round++;
            return drive(total, c, (i) => backend.markAsDone(`o-${r}-${i}`, i));
          }),
          () => rawRun(false),
        );
        // Throughput: higher is better, so the ratio is ours / raw.
        const ours = median(runs.ours);
        const raw = median(runs.baseline);
        // For reference, what every store paid before: the same upsert with an inline NOTIFY.
        const notifying = await rawRun(true);
        // And with a waiter on every task: each store's trigger finds an interest and NOTIFYs. The
        // old design's figure with the same waiter: every store NOTIFYs, a LISTEN client re-reads each woken task.
        const waited = await oursRun('w', (backend) => withWaiters(oursUrl, backend, total, c, round++));
        const notifyingWaited = await rawRun(true, true);
        ctx.rows.push({
          benchmark: 'storeResult',
          case: `${c} writer(s), ${total} stores`,
          ours: `${ours.toFixed(0)}/s (nobody waits); ${waited.toFixed(0)}/s (a waiter on every task)`,
          baseline: `raw upsert ${raw.toFixed(0)}/s; raw upsert + NOTIFY ${notifying.toFixed(0)}/s (${notifyingWaited.toFixed(0)}/s with the same waiter)`,
          ratio: `${ratio(ours / raw)} (waited: ${ratio(waited / raw)}; ${ratio(waited / notifyingWaited)} of NOTIFY-every-store with its waiter)`,
          target: `≥ 0.9× raw; waited ${c === 16 ? '≥ 0.6× raw and ' : ''}no worse than NOTIFY-every-store with its waiter`,
          met: ours / raw >= 0.9 && waited >= notifyingWaited && (c !== 16 || waited / raw >= 0.6),
        });
      }
    }),
  );
}

/**
 * The RPC pattern: a client process waits on every task while a worker stores them. The waiter has a
 * DataSource (and pool) of its own, as a separate app would; every wait has recorded its interest and
 * made its reads before the clock starts, and none re-reads on a timer, so a missed wake-up would hang the run.
 */
async function withWaiters(url: string, writer: ResultBackend, total: number, c: number, round: number): Promise<number> {
  const ds = await new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], poolSize: 4 }).initialize();
  const waiter = new ResultBackend(ds, { recheckIntervalMs: 0 });
  try {
    const ids = Array.from({ length: total }, (_, i) => `w-${round}-${i}`);
    const waits = ids.map((id) => waiter.waitForResult(id, { timeoutMs: 120_000 }));
    for (;;) {
      const [{ n }] = (await ds.query('SELECT count(*)::int AS n FROM celery_taskmeta_waiters WHERE task_id = ANY($1::text[])', [ids])) as { n: number }[];
      if (n === total) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Recorded is not finished: each wait then reads its task once more (nothing stored in between may be
    // missed). Those setup reads must end before the clock starts, or they are timed as the stores' cost:
    // the old design's waiter, for its figure, sets nothing up. So wait until the waiter's pool is quiet.
    const pool = driverPool(ds)!;
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setTimeout(r, 10));
      quiet = pool.waitingCount === 0 && pool.idleCount === pool.totalCount ? quiet + 1 : 0;
    }
    const rate = await drive(total, c, (i) => writer.markAsDone(ids[i], i));
    await Promise.all(waits);
    return rate;
  } finally {
    await waiter.close();
    await ds.destroy();
  }
}

/**
 * The waiter of the old design, for its reference figure: LISTEN on the channel the inline NOTIFY
 * uses, and re-read the woken tasks, batched per tick, until every one has been read back.
 */
async function inlineWaiter(url: string, ids: readonly string[]): Promise<{ all: Promise<void>; close(): Promise<void> }> {
  const listener = new Client({ connectionString: url });
  const reader = new Pool({ connectionString: url, max: 4 });
  // As in rawRun: connections still closing when the database is dropped must not end the run.
  reader.on('error', () => undefined);
  listener.on('error', () => undefined);
  await listener.connect();
  const pending = new Set(ids);
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const woken = new Set<string>();
  let flushing = false;
  const flush = (): void => {
    if (flushing || woken.size === 0) return;
    flushing = true;
    setImmediate(async () => {
      const batch = [...woken];
      woken.clear();
      const { rows } = await reader.query<{ task_id: string }>('SELECT task_id, status, result FROM "public"."celery_taskmeta" WHERE task_id = ANY($1::text[])', [batch]);
      for (const row of rows) pending.delete(row.task_id);
      if (pending.size === 0) done();
      flushing = false;
      flush();
    });
  };
  listener.on('notification', (n) => {
    if (n.payload) woken.add(n.payload);
    flush();
  });
  await listener.query(`LISTEN ${TABLES.channel}`);
  return {
    all,
    close: async () => {
      await listener.end();
      await reader.end();
    },
  };
}
