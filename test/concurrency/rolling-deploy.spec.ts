import { expect } from 'chai';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { SafeSynchronizer } from '../../lib';
import { runFleet } from '../../examples/support/fleet';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { AppVersion, appEntity, expectedRow } from '../support/rolling-versions';
import type { RollingConfig, RollingReport } from './rolling-worker';

const WORKER = join(__dirname, 'rolling-worker.js');
const ROWS = 20;
const CYCLES = 3;

interface Deploy {
  reports: RollingReport[][];
  failedStarts: RollingReport[];
  writeErrors: string[];
  lostValues: number;
  checkedValues: number;
}

describe('A rolling deploy: v1 and v2 replicas restarting in turns on one database', function () {
  this.timeout(300_000);
  const db = useTestDatabase();

  /** v1 is live first (4 replicas); then in each cycle 4 v2 and 4 v1 replicas restart together and write. */
  async function deploy(mode: 'safe' | 'plain'): Promise<Deploy> {
    const url = db.current().url;
    const replica = (cycle: number, version: AppVersion, i: number): RollingConfig => ({ url, version, mode, writer: `c${cycle}-${version}-${i}`, rows: ROWS });
    const reports: RollingReport[][] = [];
    reports.push((await runFleet<RollingConfig, RollingReport>([0, 1, 2, 3].map((i) => replica(0, 'v1', i)), WORKER)).reports);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const fleet = [0, 1, 2, 3].flatMap((i) => [replica(cycle, 'v2', i), replica(cycle, 'v1', i)]);
      reports.push((await runFleet<RollingConfig, RollingReport>(fleet, WORKER)).reports);
    }
    // Every value any replica wrote, read back from what the table holds now.
    const columns = new Set((await query<{ c: string }>(url, "SELECT attname AS c FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped")).map((r) => r.c));
    const select = ['customer', 'legacy', 'note'].map((c) => (columns.has(c) ? `"${c}"` : `NULL AS "${c}"`)).join(', ');
    let lostValues = 0;
    let checkedValues = 0;
    for (const report of reports.flat().filter((r) => r.ok)) {
      const rows = await query<Record<string, string | null>>(url, `SELECT ${select} FROM orders WHERE writer = $1 ORDER BY id`, [report.writer]);
      for (let n = 1; n <= report.written; n++) {
        const want = expectedRow(report.version, report.writer, n) as Record<string, string>;
        for (const [column, value] of Object.entries(want)) {
          checkedValues++;
          if (rows[n - 1]?.[column] !== value) lostValues++;
        }
      }
    }
    const all = reports.flat();
    return { reports, failedStarts: all.filter((r) => !r.ok), writeErrors: all.flatMap((r) => r.writeErrors), lostValues, checkedValues };
  }

  it('SafeSynchronizer: 0 values lost, 0 failed starts, nothing pending for v2, and the warm starts of the last cycle are one fingerprint query each', async () => {
    const run = await deploy('safe');
    console.log(`      safe: ${run.reports.flat().length} starts, ${run.failedStarts.length} failed, ${run.writeErrors.length} failed writes, ${run.lostValues} of ${run.checkedValues} values lost`);
    expect(run.failedStarts.map((r) => `${r.writer}: ${r.error}`)).to.deep.equal([]);
    expect(run.writeErrors).to.deep.equal([]);
    expect(run.checkedValues).to.equal((4 + 8 * CYCLES) * ROWS * 2);
    expect(run.lostValues).to.equal(0);

    // v1 met v2's schema at least once with a full sync, and kept v2's column and v2's wider customer.
    const v1Kept = run.reports.slice(1).flat().filter((r) => r.version === 'v1' && r.kept && r.kept.length > 0);
    expect(v1Kept.length, 'v1 starts that kept what v2 made').to.be.greaterThan(0);
    expect(v1Kept[0].kept).to.include.members(['orders.note', 'orders.customer']);
    // By the last cycle both versions are recorded, and v1's syncs ran no DDL: every start is one query.
    expect(run.reports[CYCLES].map((r) => r.verifiedBy)).to.deep.equal(Array(8).fill('fingerprint'));

    const v2 = await new DataSource({ type: 'postgres', url: db.current().url, entities: [appEntity('v2')] } as DataSourceOptions).initialize();
    try {
      expect(await new SafeSynchronizer(v2).pendingStatements()).to.deep.equal([]);
    } finally {
      await v2.destroy();
    }
  });

  it('plain synchronize: true in the same harness loses values or fails starts (so the spec above could fail)', async () => {
    const run = await deploy('plain');
    console.log(`      plain: ${run.reports.flat().length} starts, ${run.failedStarts.length} failed, ${run.writeErrors.length} failed writes, ${run.lostValues} of ${run.checkedValues} values lost`);
    expect(run.lostValues + run.failedStarts.length + run.writeErrors.length).to.be.greaterThan(0);
  });
});
