import { expect } from 'chai';
import { Client } from 'pg';
import type { WorkerConfig, WorkerReport } from './sync-worker';
import { SEPARATE_SCHEMA } from '../fixtures/full-entities';
import { withFreshDatabase } from '../support/database';
import { join } from 'node:path';
import { runFleet } from '../../examples/support/fleet';

const SYNC_WORKER = join(__dirname, 'sync-worker.js');

/** Codes that mean "two sessions created the same catalog object": the race itself. */
const RACE_CODES = new Set(['23505', '42P07', '42P06', '42710', '40P01', 'XX000']);

async function precreate(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Tally {
  n: number;
  trials: number;
  failedTrials: number;
  failedProcesses: number;
  codes: Map<string, number>;
  allReadyMs: number[];
}

function tally(n: number): Tally {
  return { n, trials: 0, failedTrials: 0, failedProcesses: 0, codes: new Map(), allReadyMs: [] };
}

function record(t: Tally, reports: WorkerReport[], allReadyMs: number): void {
  const failures = reports.filter((r) => !r.ok);
  t.trials++;
  t.allReadyMs.push(allReadyMs);
  if (failures.length) t.failedTrials++;
  t.failedProcesses += failures.length;
  for (const f of failures) {
    const key = `${f.code ?? '?'}${f.constraint ? ` ${f.constraint}` : ''}`;
    t.codes.set(key, (t.codes.get(key) ?? 0) + 1);
  }
}

function print(label: string, rows: Tally[]): void {
  const lines = rows.map((t) => {
    const codes = [...t.codes].map(([c, k]) => `${c}×${k}`).join(', ') || '-';
    const median = [...t.allReadyMs].sort((a, b) => a - b)[Math.floor(t.allReadyMs.length / 2)] ?? 0;
    return `    ${label.padEnd(18)} N=${String(t.n).padEnd(3)} trials=${t.trials} failed trials=${t.failedTrials} failed processes=${t.failedProcesses}/${t.n * t.trials} all-ready median=${Math.round(median)}ms errors: ${codes}`;
  });
  console.log(lines.join('\n'));
}

function fleet(url: string, n: number, mode: 'plain' | 'safe', extra: Partial<WorkerConfig> = {}): WorkerConfig[] {
  return Array.from({ length: n }, () => ({ url, mode, entitySet: 'full' as const, ...extra }));
}

// Sized for a 2-core machine: every trial is a fresh database and real OS processes.
const PLAN: { n: number; trials: number }[] = [
  { n: 2, trials: 4 },
  { n: 8, trials: 3 },
  { n: 16, trials: 2 },
  { n: 32, trials: 1 },
];

describe('Replicas that start together on a fresh database', function () {
  this.timeout(15 * 60_000);

  it('with SafeSynchronizer, every process succeeds at N = 2, 8, 16 and 32', async () => {
    const rows: Tally[] = [];
    for (const { n, trials } of PLAN) {
      const t = tally(n);
      for (let i = 0; i < trials; i++) {
        await withFreshDatabase(`safe_${n}`, async (db) => {
          const run = await runFleet<WorkerConfig, WorkerReport>(fleet(db.url, n, 'safe'), SYNC_WORKER);
          record(t, run.reports, run.allReadyMs);
          const changed = run.reports.filter((r) => r.result?.changed);
          // Exactly one process found the database empty and built it; the rest found nothing to do.
          expect(changed, 'processes that changed the schema').to.have.length(1);
          // And each of the rest cost one fingerprint check, not a catalog crawl: the winner's
          // record matched, right after the lock or before it.
          const diffed = run.reports.filter((r) => r.result && !r.result.changed && r.result.verifiedBy !== 'fingerprint');
          expect(diffed, 'processes that re-ran the diff after the winner').to.have.length(0);
        });
      }
      rows.push(t);
    }
    print('safe', rows);
    for (const t of rows) expect(t.failedProcesses, `failed processes at N=${t.n}: ${[...t.codes.keys()]}`).to.equal(0);
  });

  it('with plain synchronize: true, the same harness catches the race', async () => {
    const rows: Tally[] = [];
    for (const { n, trials } of PLAN) {
      const t = tally(n);
      for (let i = 0; i < trials; i++) {
        await withFreshDatabase(`plain_${n}`, async (db) => {
          // Plain TypeORM never creates schemas; pre-create it so that every failure is the race.
          await precreate(db.url, `CREATE SCHEMA "${SEPARATE_SCHEMA}"`);
          const run = await runFleet<WorkerConfig, WorkerReport>(fleet(db.url, n, 'plain'), SYNC_WORKER);
          record(t, run.reports, run.allReadyMs);
          for (const r of run.reports.filter((x) => !x.ok)) expect(RACE_CODES.has(r.code ?? ''), `unexpected failure: ${r.code} ${r.message}`).to.equal(true);
        });
      }
      rows.push(t);
    }
    print('plain', rows);
    const failed = rows.reduce((sum, t) => sum + t.failedProcesses, 0);
    expect(failed, 'plain synchronize: true processes that failed').to.be.greaterThan(0);
  });

  it('in a mixed fleet, the SafeSynchronizer half never fails while plain processes race around it', async () => {
    const rows: Tally[] = [];
    for (const { n, trials } of [{ n: 8, trials: 3 }, { n: 16, trials: 2 }]) {
      const safe = tally(n / 2);
      const plain = tally(n / 2);
      for (let i = 0; i < trials; i++) {
        await withFreshDatabase(`mixed_${n}`, async (db) => {
          await precreate(db.url, `CREATE SCHEMA "${SEPARATE_SCHEMA}"`);
          const configs = [...fleet(db.url, n / 2, 'plain'), ...fleet(db.url, n / 2, 'safe')];
          const run = await runFleet<WorkerConfig, WorkerReport>(configs, SYNC_WORKER);
          record(safe, run.reports.filter((r) => r.mode === 'safe'), run.allReadyMs);
          record(plain, run.reports.filter((r) => r.mode === 'plain'), run.allReadyMs);
        });
      }
      print(`mixed-safe of ${n}`, [safe]);
      print(`mixed-plain of ${n}`, [plain]);
      rows.push(safe);
    }
    for (const t of rows) expect(t.failedProcesses, `safe processes that failed: ${[...t.codes.keys()]}`).to.equal(0);
  });

  for (const [label, extra] of [
    ['REPEATABLE READ', { isolationLevel: 'REPEATABLE READ' }],
    ['SERIALIZABLE', { isolationLevel: 'SERIALIZABLE' }],
    ['migrationsTransactionMode "none"', { transactionMode: 'none' }],
  ] as const) {
    it(`with a DataSource set to ${label}, 8 processes all succeed`, async () => {
      const t = tally(8);
      for (let i = 0; i < 2; i++) {
        await withFreshDatabase('variant', async (db) => {
          const run = await runFleet<WorkerConfig, WorkerReport>(fleet(db.url, 8, 'safe', extra), SYNC_WORKER);
          record(t, run.reports, run.allReadyMs);
        });
      }
      print(label.slice(0, 6), [t]);
      expect(t.failedProcesses, `failures: ${[...t.codes.keys()]}`).to.equal(0);
    });
  }
});
