import { expect } from 'chai';
import { join } from 'node:path';
import { runFleet } from '../../examples/support/fleet';
import { withFreshDatabase } from '../support/database';
import { connect, query } from '../support/pg-client';
import type { DropConfig, DropReport } from './drop-worker';

const WORKER = join(__dirname, 'drop-worker.js');

describe('Dropped connections: pg_terminate_backend every 250 ms while 4 processes store, group, join and clean up', function () {
  this.timeout(5 * 60_000);

  it('every acknowledged store is in the table once, and every failure reached its caller as a typed error', async () => {
    await withFreshDatabase('dropped', async (db) => {
      const killer = await connect(db.url, 'trb-drop-killer');
      let terminated = 0;
      let timer: NodeJS.Timeout | undefined;
      const configs = Array.from({ length: 4 }, (_, worker): DropConfig => ({ url: db.url, worker, durationMs: 5000 }));
      try {
        const run = await runFleet<DropConfig, DropReport>(configs, WORKER, () => {
          timer = setInterval(() => {
            killer
              .query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'trb-drop-worker'")
              .then((r) => (terminated += (r.rows[0] as { n: number }).n))
              .catch(() => undefined);
          }, 250);
        });
        clearInterval(timer);
        const acknowledged = run.reports.flatMap((r) => r.acknowledged);
        const errors = run.reports.flatMap((r) => r.errors);
        const operations = run.reports.reduce((n, r) => n + r.operations, 0);
        const [found] = await query<{ present: number; rows: number; distinct_ids: number }>(
          db.url,
          'SELECT (SELECT count(*)::int FROM celery_taskmeta WHERE task_id = ANY($1::text[])) AS present, count(*)::int AS rows, count(DISTINCT task_id)::int AS distinct_ids FROM celery_taskmeta',
          [acknowledged],
        );
        console.log(
          `    dropped connections: ${terminated} connections terminated, ${operations} operations, ${acknowledged.length} stores acknowledged, ` +
            `${found.present} of them in the table, ${errors.length} failures (${[...new Set(errors.map((e) => e.name))].join(', ') || 'none'})`,
        );
        // The faults were real: connections were terminated while work was under way.
        expect(terminated, 'connections terminated').to.be.greaterThan(0);
        expect(acknowledged.length, 'stores acknowledged').to.be.greaterThan(0);
        expect(found.present, 'acknowledged stores in the table').to.equal(acknowledged.length);
        expect(found.rows, 'rows for one task id').to.equal(found.distinct_ids);
        expect(errors.filter((e) => !e.typed), 'failures that reached the caller untyped').to.deep.equal([]);
      } finally {
        clearInterval(timer);
        await killer.end();
      }
    });
  });
});
