import { expect } from 'chai';
import type { Client } from 'pg';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { NOTIFY_QUEUE_LIMIT, wakeNames } from '../../lib/dialects/postgres/wake-sql';
import { PostgresServer, createDatabase, dropDatabase, startPostgres } from '../../examples/support/postgres';
import { rejection } from '../support/backend';
import { postgresOptions } from '../support/database';
import { connect } from '../support/pg-client';

const CELERY = wakeNames('public', 'celery_taskmeta');

/**
 * A listener that never reads (idle in a transaction: an app that LISTENs
 * and then hangs) holds the NOTIFY queue's tail, and once the queue is full
 * every transaction that sent a NOTIFY fails at commit. PostgreSQL's queue is
 * 8 GB by default; PostgreSQL 17 made its size a setting, so this spec runs
 * its own server with a queue of 64 pages (512 kB) and fills it for real.
 */
describe('a full NOTIFY queue never fails a store (the trigger and the inline NOTIFY stop notifying above the limit)', function () {
  this.timeout(180_000);
  let server: PostgresServer;
  let url: string;
  const name = 'trb_notify_queue';
  const open: Client[] = [];

  before(async function () {
    server = await startPostgres({ ownCluster: true, settings: { max_notify_queue_pages: '64' } });
    url = await createDatabase(server.url, name);
    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
    await ds.destroy();
  });

  after(async function () {
    for (const c of open) await c.end().catch(() => undefined);
    if (url) await dropDatabase(server.url, name);
    await server?.stop();
  });

  async function session(label: string): Promise<Client> {
    const c = await connect(url, label);
    open.push(c);
    return c;
  }

  async function usage(c: Client): Promise<number> {
    const { rows } = await c.query<{ u: number }>('SELECT pg_notification_queue_usage()::float8 AS u');
    return rows[0].u;
  }

  it('fills the queue for real (a plain NOTIFY then fails with 54000), while Celery inserts, Node stores and waits still complete', async function () {
    const [{ rows: version }] = [await (await session('trb-test-version')).query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")];
    expect(version[0].v, 'the embedded server is PostgreSQL 17 or later, where the queue size is a setting').to.be.at.least(170000);

    // The listener that stalls the queue.
    const stuck = await session('trb-test-stuck-listener');
    await stuck.query(`LISTEN ${CELERY.channel}`);
    await stuck.query('BEGIN');
    await stuck.query('SELECT 1');

    // Fill it, a few notifications per transaction, until one is refused: the failure the guard must avoid.
    const filler = await session('trb-test-filler');
    let refused: { code?: string; message: string } | undefined;
    for (let i = 0; i < 1000 && !refused; i++) {
      await filler.query(`SELECT pg_notify('${CELERY.channel}', repeat('x', 7000) || g) FROM generate_series(1, 4) g`).catch((e: { code?: string; message: string }) => (refused = e));
    }
    expect(refused, 'the harness fills the queue until a plain NOTIFY fails').to.include({ code: '54000' });
    const full = await usage(filler);
    expect(full).to.be.above(NOTIFY_QUEUE_LIMIT);

    // A waiter of our own, with the periodic re-read: it must wake without a NOTIFY.
    const ds = await new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
    const backend = new ResultBackend(ds, { recheckIntervalMs: 100 });
    try {
      const celeryWait = backend.waitForResult('stored-by-celery', { timeoutMs: 20_000 });
      const nodeWait = backend.waitForResult('stored-by-node', { timeoutMs: 20_000 });
      // Celery's insert fires the trigger, which finds the interest and would NOTIFY.
      const celery = await session('trb-test-celery-writer');
      await celery.query("SET statement_timeout = '5s'");
      for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 10))) {
        const { rows } = await celery.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${CELERY.interestTable} WHERE task_id IN ('stored-by-celery', 'stored-by-node')`);
        if (rows[0].n === 2) break;
        if (Date.now() > deadline) throw new Error('the waits did not record their interests within 10 s');
      }
      const started = performance.now();
      await celery.query("INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), 'stored-by-celery', 'SUCCESS', $1, now())", [Buffer.from('"celery"')]);
      const celeryMs = performance.now() - started;
      await backend.storeResult('stored-by-node', { value: 42 }, 'SUCCESS');
      const nodeMs = performance.now() - started - celeryMs;
      expect(await Promise.all([celeryWait, nodeWait])).to.deep.equal(['celery', { value: 42 }]);
      const wokenMs = performance.now() - started;
      console.log(
        `    queue ${(full * 100).toFixed(0)}% full: Celery insert ${celeryMs.toFixed(1)} ms, storeResult ${nodeMs.toFixed(1)} ms, both waits woken by the re-read after ${wokenMs.toFixed(0)} ms`,
      );

      // Unguarded, the same insert's NOTIFY fails the writer's transaction: what the guard is for.
      const unguarded = await rejection(celery.query(`BEGIN; INSERT INTO celery_taskmeta (id, task_id, status) VALUES (nextval('task_id_sequence'), 'unguarded', 'SUCCESS'); SELECT pg_notify('${CELERY.channel}', repeat('y', 7000)); COMMIT`));
      expect(unguarded).to.include({ code: '54000' });
      await celery.query('ROLLBACK').catch(() => undefined);
    } finally {
      await backend.close();
      await ds.destroy();
      await stuck.query('ROLLBACK');
    }
  });
});
