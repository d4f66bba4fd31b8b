import { expect } from 'chai';
import { BackendFixture, openBackend } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

const HOUR = 3_600_000;

/**
 * 100k rows around the expiry cutoff, written straight in SQL as naive UTC,
 * the way Celery writes them. Ids encode which rows must go.
 */
const SEED = `
INSERT INTO celery_taskmeta (id, task_id, status, date_done)
SELECT nextval('task_id_sequence'), 'old-' || g, CASE g % 3 WHEN 0 THEN 'SUCCESS' WHEN 1 THEN 'FAILURE' ELSE 'REVOKED' END,
       (now() AT TIME ZONE 'UTC') - interval '25 hours' - (g % 100) * interval '1 minute'
FROM generate_series(1, 40000) g;
INSERT INTO celery_taskmeta (id, task_id, status, date_done)
SELECT nextval('task_id_sequence'), 'new-' || g, 'SUCCESS', (now() AT TIME ZONE 'UTC') - interval '23 hours' + (g % 100) * interval '1 minute'
FROM generate_series(1, 40000) g;
INSERT INTO celery_taskmeta (id, task_id, status, date_done)
SELECT nextval('task_id_sequence'), 'run-' || g, 'STARTED', NULL FROM generate_series(1, 20000) g;
INSERT INTO celery_tasksetmeta (id, taskset_id, date_done)
SELECT nextval('taskset_id_sequence'), 'grp-' || g, (now() AT TIME ZONE 'UTC') - CASE WHEN g <= 10 THEN interval '2 days' ELSE interval '1 hour' END
FROM generate_series(1, 20) g;`;

for (const timeZone of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
  describe(`ResultBackend.cleanup, with the session time zone ${timeZone}`, function () {
    this.timeout(120_000);
    const db = useTestDatabase();
    let f: BackendFixture;
    beforeEach(async () => {
      f = await openBackend(db.current().url, { expiresMs: 24 * HOUR, unfinishedExpiresMs: HOUR, cleanupBatchSize: 7000 }, { extra: { options: `-c TimeZone=${timeZone}` } } as never);
      await query(db.current().url, SEED);
    });
    afterEach(async () => f.close());

    it('removes exactly the results finished more than expiresMs ago, in batches', async () => {
      const [{ tz }] = await f.ds.query("SELECT current_setting('TimeZone') AS tz");
      expect(tz).to.equal(timeZone);
      const removed = await f.backend.cleanup();
      expect(removed).to.deep.equal({ tasks: 40000, unfinishedTasks: 0, groups: 10 });
      const left = await query(db.current().url, "SELECT split_part(task_id, '-', 1) AS kind, count(*)::int AS n FROM celery_taskmeta GROUP BY 1 ORDER BY 1");
      expect(left).to.deep.equal([{ kind: 'new', n: 40000 }, { kind: 'run', n: 20000 }]);
    });

    it('records when it first saw each unfinished row, in its own table, and removes those still unfinished past the horizon', async () => {
      await f.backend.cleanup();
      const [{ seen }] = await query<{ seen: number }>(db.current().url, 'SELECT count(*)::int AS seen FROM celery_taskmeta_first_seen');
      expect(seen).to.equal(20000);
      expect(await query(db.current().url, "SELECT count(*)::int AS n FROM celery_taskmeta WHERE task_id LIKE 'run-%' AND date_done IS NOT NULL"), "Celery's date_done is left alone").to.deep.equal([{ n: 0 }]);
      // Pretend half of them were first seen two hours ago; one of those finished since.
      await query(db.current().url, "UPDATE celery_taskmeta_first_seen SET first_seen = first_seen - interval '2 hours' WHERE right(task_id, 1) IN ('0','2','4','6','8')");
      await f.backend.markAsDone('run-10', 'finished');
      const removed = await f.backend.cleanup();
      expect(removed.unfinishedTasks).to.equal(9999);
      const [{ n }] = await query<{ n: number }>(db.current().url, "SELECT count(*)::int AS n FROM celery_taskmeta WHERE task_id LIKE 'run-%'");
      expect(n).to.equal(10001);
      expect((await f.backend.getTaskMeta('run-10')).status).to.equal('SUCCESS');
      // The finished one and the removed ones are forgotten; the rest keep their first sighting.
      const [{ left }] = await query<{ left: number }>(db.current().url, 'SELECT count(*)::int AS left FROM celery_taskmeta_first_seen');
      expect(left).to.equal(10000);
    });
  });
}
