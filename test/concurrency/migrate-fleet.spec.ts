import { expect } from 'chai';
import { join } from 'node:path';
import { runFleet } from '../../examples/support/fleet';
import { withFreshDatabase } from '../support/database';
import { untilTheRaceShows } from '../support/race';
import { query } from '../support/pg-client';
import type { MigrateWorkerConfig, MigrateWorkerReport } from './migrate-worker';

const WORKER = join(__dirname, 'migrate-worker.js');
const N = 8;
const MIGRATIONS = ['CreateUpLog1700000000001', 'CreateWidgets1700000000002'];

function fleet(url: string, mode: 'plain' | 'safe', transaction: MigrateWorkerConfig['transaction']): MigrateWorkerConfig[] {
  return Array.from({ length: N }, () => ({ url, mode, transaction }));
}

describe('Migrations from many processes started at once (real processes, fresh database)', function () {
  this.timeout(300_000);

  for (const transaction of ['all', 'each', 'none'] as const) {
    it(`SafeSynchronizer.initialize with migrationsRun runs each up() exactly once (transaction "${transaction}")`, async () => {
      await withFreshDatabase(`mig_safe_${transaction}`, async ({ url }) => {
        const { reports } = await runFleet<MigrateWorkerConfig, MigrateWorkerReport>(fleet(url, 'safe', transaction), WORKER);
        const failures = reports.filter((r) => !r.ok);
        console.log(`    safe, transaction "${transaction}": ${failures.length}/${N} processes failed`);
        expect(failures, JSON.stringify(failures)).to.deep.equal([]);
        // Every migration ran in exactly one process, and the others found nothing to do.
        expect(reports.flatMap((r) => r.executed).sort()).to.deep.equal(MIGRATIONS);
        expect(await query(url, 'SELECT name FROM migrations ORDER BY name')).to.deep.equal(MIGRATIONS.map((name) => ({ name })));
        expect(await query(url, 'SELECT migration, count(*)::int AS runs FROM up_log GROUP BY 1 ORDER BY 1')).to.deep.equal(
          MIGRATIONS.map((migration) => ({ migration, runs: 1 })),
        );
        expect(await query(url, 'SELECT count(*)::int AS n FROM widgets')).to.deep.equal([{ n: 1 }]);
        // The sync ran after the migrations, as in TypeORM's own order, and no lock is left.
        expect(await query(url, "SELECT to_regclass('celery_taskmeta') IS NOT NULL AS synced")).to.deep.equal([{ synced: true }]);
        expect(await query(url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).to.deep.equal([{ n: 0 }]);
      });
    });
  }

  it('plain TypeORM (migrationsRun: true) in the same harness fails, so the test above could fail', async () => {
    const { trials, failed, errors } = await untilTheRaceShows('plain migrationsRun', 5, async (url) => {
      const { reports } = await runFleet<MigrateWorkerConfig, MigrateWorkerReport>(fleet(url, 'plain', 'all'), WORKER);
      const failures = reports.filter((r) => !r.ok);
      return { failed: failures.length, errors: failures.map((f) => f.code ?? f.message ?? '?') };
    });
    expect(failed, `no plain process failed in ${trials} trials`).to.be.greaterThan(0);
    // What fails is the race on the catalog or on the migrations themselves, not something else.
    for (const code of errors) expect(['23505', '42P07', '42P06', '42710', '40P01']).to.include(code);
  });
});
