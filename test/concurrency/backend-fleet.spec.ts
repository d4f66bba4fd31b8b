import { expect } from 'chai';
import { join } from 'node:path';
import { BackendFixture, openBackend } from '../support/backend';
import { withFreshDatabase } from '../support/database';
import { runFleet } from '../../examples/support/fleet';
import { query } from '../support/pg-client';
import type { BackendWorkerConfig, BackendWorkerReport } from './backend-worker';

const WORKER = join(__dirname, 'backend-worker.js');
const fleet = (configs: BackendWorkerConfig[], onReleased?: () => void) => runFleet<BackendWorkerConfig, BackendWorkerReport>(configs, WORKER, onReleased);

describe('The result store under real concurrency', function () {
  this.timeout(10 * 60_000);

  it('the seed scenario: 8 workers cold-start together, each stores its share of a group, and the client joins every result', async () => {
    const TRIALS = 4;
    const WORKERS = 8;
    const PER_WORKER = 5;
    const tally = { trials: 0, workerErrors: 0, joined: 0 };
    for (let trial = 0; trial < TRIALS; trial++) {
      await withFreshDatabase('seed', async (db) => {
        const taskIds = Array.from({ length: WORKERS * PER_WORKER }, (_, i) => `seed-${trial}-${i}`);
        const configs = Array.from({ length: WORKERS }, (_, w): BackendWorkerConfig => ({
          url: db.url,
          syncAfterGo: true,
          writes: taskIds.slice(w * PER_WORKER, (w + 1) * PER_WORKER).flatMap((id, k) => [[id, 'STARTED', null], [id, 'SUCCESS', { worker: w, part: k }]] as [string, string, unknown][]),
        }));
        let client: Promise<unknown[]> | undefined;
        let fixture: BackendFixture | undefined;
        const run = await fleet(configs, () => {
          // The client starts with the workers, on the same empty database.
          client = (async () => {
            fixture = await openBackend(db.url);
            await fixture.backend.saveGroup(`group-${trial}`, taskIds);
            return fixture.backend.joinGroup(`group-${trial}`, { timeoutMs: 60_000 });
          })();
        });
        try {
          const values = await client!;
          tally.trials++;
          tally.workerErrors += run.reports.reduce((n, r) => n + r.errors.length, 0);
          tally.joined += values.length;
          expect(run.reports.flatMap((r) => r.errors)).to.deep.equal([]);
          expect(values).to.deep.equal(taskIds.map((_, i) => ({ worker: Math.floor(i / PER_WORKER), part: i % PER_WORKER })));
        } finally {
          await fixture?.close();
        }
      });
    }
    console.log(`    seed scenario: ${tally.trials} trials × ${WORKERS} workers, ${tally.joined} results joined, ${tally.workerErrors} worker errors`);
  });

  it('same-id storm: 8 processes each store the same 200 ids at once; no error, one row per id', async () => {
    await withFreshDatabase('storm', async (db) => {
      const ids = Array.from({ length: 200 }, (_, i) => `storm-${i}`);
      const configs = Array.from({ length: 8 }, (): BackendWorkerConfig => ({ url: db.url, syncAfterGo: false, writes: ids.map((id) => [id, 'SUCCESS', id]) }));
      const run = await fleet(configs);
      const errors = run.reports.flatMap((r) => r.errors);
      const rows = await query<{ rows: number; ids: number }>(db.url, 'SELECT count(*)::int AS rows, count(DISTINCT task_id)::int AS ids FROM celery_taskmeta');
      console.log(`    same-id storm: 8 processes × 200 ids = ${run.reports.reduce((n, r) => n + r.stored, 0)} stores, ${errors.length} errors, ${rows[0].rows} rows`);
      expect(errors).to.deep.equal([]);
      expect(rows).to.deep.equal([{ rows: 200, ids: 200 }]);
    });
  });

  it('precedence under a race: SUCCESS and a late STARTED from different processes always end as SUCCESS', async () => {
    await withFreshDatabase('precedence', async (db) => {
      const ids = Array.from({ length: 300 }, (_, i) => `race-${i}`);
      const configs: BackendWorkerConfig[] = [
        ...Array.from({ length: 2 }, (): BackendWorkerConfig => ({ url: db.url, syncAfterGo: false, writes: ids.map((id) => [id, 'SUCCESS', 'done']) })),
        ...Array.from({ length: 2 }, (): BackendWorkerConfig => ({ url: db.url, syncAfterGo: false, writes: ids.map((id) => [id, 'STARTED', null]) })),
      ];
      const run = await fleet(configs);
      expect(run.reports.flatMap((r) => r.errors)).to.deep.equal([]);
      const rows = await query(db.url, "SELECT status, result = convert_to('\"done\"', 'UTF8') AS result_kept, date_done IS NOT NULL AS dated, count(*)::int AS n FROM celery_taskmeta GROUP BY 1, 2, 3");
      const dropped = run.reports.slice(2).reduce((n, r) => n + (r.stored - r.applied), 0);
      console.log(`    precedence race: ${ids.length} ids, late STARTED writes refused: ${dropped}`);
      expect(rows).to.deep.equal([{ status: 'SUCCESS', result_kept: true, dated: true, n: 300 }]);
    });
  });
});
