import { expect } from 'chai';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { runFleet } from '../../examples/support/fleet';
import { PostgresServer, createDatabase, startPostgres } from '../../examples/support/postgres';
import { query } from '../support/pg-client';
import type { DropConfig, DropReport } from './drop-worker';

const WORKER = join(__dirname, 'drop-worker.js');

describe('A PostgreSQL restart (-m fast) while 8 processes store in a loop', function () {
  this.timeout(5 * 60_000);
  let server: PostgresServer;

  // A cluster of the test's own: restarting the shared one would pull it from under the other specs.
  before(async () => (server = await startPostgres({ ownCluster: true })));
  after(async () => server?.stop());

  it('loses no acknowledged store, and the backends and their LISTEN connection recover without restarting the app', async () => {
    const url = await createDatabase(server.url, 'restarted');
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true, poolSize: 2 }));
    // No periodic re-read: after the restart, only a NOTIFY on a reconnected LISTEN connection can wake it.
    const waiter = new ResultBackend(ds, { recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
    const writer = new ResultBackend(ds);
    try {
      const before = waiter.waitForResult('before', { timeoutMs: 10_000 });
      await writer.markAsDone('before', 1);
      expect(await before).to.equal(1);
      let restartedAt = 0;
      const run = await runFleet<DropConfig, DropReport>(
        Array.from({ length: 8 }, (_, worker) => ({ url, worker, durationMs: 8000 })),
        WORKER,
        () => {
          setTimeout(() => {
            restartedAt = performance.now();
            void server.restart!();
          }, 2000);
        },
      );
      expect(restartedAt, 'the server was restarted during the run').to.be.greaterThan(0);
      const acknowledged = run.reports.flatMap((r) => r.acknowledged);
      const errors = run.reports.flatMap((r) => r.errors);
      const [found] = await query<{ present: number; rows: number; distinct_ids: number }>(
        url,
        'SELECT (SELECT count(*)::int FROM celery_taskmeta WHERE task_id = ANY($1::text[])) AS present, count(*)::int AS rows, count(DISTINCT task_id)::int AS distinct_ids FROM celery_taskmeta',
        [acknowledged],
      );
      console.log(
        `    restart: ${acknowledged.length} stores acknowledged, ${found.present} in the table; ${errors.length} failures while the server was down ` +
          `(${[...new Set(errors.map((e) => e.name))].join(', ') || 'none'})`,
      );
      expect(found.present, 'acknowledged stores in the table').to.equal(acknowledged.length);
      expect(found.rows).to.equal(found.distinct_ids);
      expect(errors.filter((e) => !e.typed), 'failures that reached the caller untyped').to.deep.equal([]);
      // The same backends, never restarted: the pool reconnects, and a wait opens a new LISTEN connection
      // (it would fail with a DatabaseError if it could not) and resolves.
      const after = waiter.waitForResult('after', { timeoutMs: 15_000 });
      await writer.markAsDone('after', 2);
      expect(await after).to.equal(2);
    } finally {
      await waiter.close();
      await writer.close();
      await ds.destroy();
    }
  });
});
