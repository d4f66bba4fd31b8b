import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { runFleet } from '../../examples/support/fleet';
import { postgresOptions, serverUrl, withFreshDatabase } from '../support/database';
import { Bouncer, findPgbouncer, startPgbouncer } from '../support/pgbouncer';
import { query } from '../support/pg-client';
import { untilTheRaceShows } from '../support/race';
import type { WorkerConfig, WorkerReport } from '../concurrency/sync-worker';
import type { MigrateWorkerConfig, MigrateWorkerReport } from '../concurrency/migrate-worker';

const SYNC_WORKER = join(__dirname, '..', 'concurrency', 'sync-worker.js');
const MIGRATE_WORKER = join(__dirname, '..', 'concurrency', 'migrate-worker.js');
const CLI = join(__dirname, '..', '..', 'lib', 'cli', 'bin.js');
const CLI_SOURCE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cli', 'data-source.cjs');
const ADVISORY_LOCKS = "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Waits resolved one after another, each stored by a second backend a moment after the wait began; resolves to the latencies from each store's acknowledgement. */
async function wakeLatencies(waiter: ResultBackend, writer: ResultBackend, label: string, n: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    let resolvedAt = 0;
    const waiting = waiter.waitForResult(`${label}-${i}`, { timeoutMs: 10_000 }).then(() => (resolvedAt = performance.now()));
    await new Promise((r) => setTimeout(r, 30));
    await writer.markAsDone(`${label}-${i}`, i);
    const stored = performance.now();
    await waiting;
    latencies.push(Math.max(0, resolvedAt - stored));
  }
  return latencies;
}

describe('Behind PgBouncer in transaction mode (Debian’s pgbouncer, started by the test)', function () {
  this.timeout(5 * 60_000);
  let bouncer: Bouncer | undefined;

  before(async function () {
    const { missing } = findPgbouncer();
    if (missing) {
      console.warn(`    SKIPPED: ${missing}`);
      this.skip();
    }
    bouncer = await startPgbouncer(serverUrl(), { poolMode: 'transaction', poolSize: 4 });
  });
  after(async () => bouncer?.stop());

  it('8 processes sync through it at once: none fails, and no advisory lock is left behind', async () => {
    await withFreshDatabase('bouncer_sync', async (db) => {
      const through = bouncer!.url(db.url);
      const configs = Array.from({ length: 8 }, (): WorkerConfig => ({ url: through, mode: 'safe', entitySet: 'full' }));
      const run = await runFleet<WorkerConfig, WorkerReport>(configs, SYNC_WORKER);
      const failed = run.reports.filter((r) => !r.ok);
      expect(failed, JSON.stringify(failed)).to.have.length(0);
      expect(run.reports.filter((r) => r.result?.changed)).to.have.length(1);
      const locks = await query(db.url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
      expect(locks).to.deep.equal([{ n: 0 }]);
    });
  });

  for (const transaction of ['all', 'each'] as const) {
    it(`8 processes run migrations through it (SafeMigrator, transaction "${transaction}"): each up() once, no failure, no lock left`, async () => {
      await withFreshDatabase(`bouncer_migrate_${transaction}`, async (db) => {
        const configs = Array.from({ length: 8 }, (): MigrateWorkerConfig => ({ url: bouncer!.url(db.url), mode: 'safe', transaction }));
        const { reports } = await runFleet<MigrateWorkerConfig, MigrateWorkerReport>(configs, MIGRATE_WORKER);
        expect(reports.filter((r) => !r.ok), JSON.stringify(reports)).to.have.length(0);
        expect(reports.flatMap((r) => r.executed)).to.have.length(2);
        expect(await query(db.url, 'SELECT migration, count(*)::int AS runs FROM up_log GROUP BY 1 ORDER BY 1')).to.deep.equal([
          { migration: 'CreateUpLog1700000000001', runs: 1 },
          { migration: 'CreateWidgets1700000000002', runs: 1 },
        ]);
        expect(await query(db.url, ADVISORY_LOCKS)).to.deep.equal([{ n: 0 }]);
      });
    });
  }

  it('the CLI syncs and reports status through it, 4 at once: all exit 0, no lock left', async () => {
    await withFreshDatabase('bouncer_cli', async (db) => {
      const env = { ...process.env, DATABASE_URL: bouncer!.url(db.url) };
      const runs = await Promise.all(
        Array.from({ length: 4 }, () => new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [CLI, 'sync', '-d', CLI_SOURCE, '--json'], { env, stdio: 'ignore' });
          child.once('exit', (code) => resolve(code));
        })),
      );
      expect(runs).to.deep.equal([0, 0, 0, 0]);
      const status = spawnSync(process.execPath, [CLI, 'status', '-d', CLI_SOURCE], { env, encoding: 'utf8' });
      expect(status.status, status.stdout + status.stderr).to.equal(0);
      expect(await query(db.url, ADVISORY_LOCKS)).to.deep.equal([{ n: 0 }]);
    });
  });

  it('plain synchronize: true through the same bouncer races, so the test above could fail', async () => {
    const outcome = await untilTheRaceShows('bouncer_plain', 5, async (url) => {
      const configs = Array.from({ length: 8 }, (): WorkerConfig => ({ url: bouncer!.url(url), mode: 'plain', entitySet: 'celery' }));
      const run = await runFleet<WorkerConfig, WorkerReport>(configs, SYNC_WORKER);
      const failed = run.reports.filter((r) => !r.ok);
      return { failed: failed.length, errors: failed.map((r) => r.code ?? String(r.message)) };
    });
    expect(outcome.failed, 'plain processes that failed through the bouncer').to.be.greaterThan(0);
  });

  it('a backend with default options finds that its LISTEN connection is deaf, says so once, and its waits poll', async () => {
    await withFreshDatabase('bouncer_deaf', async (db) => {
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
      const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(bouncer!.url(db.url), { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
      // No safety re-read: a wait can only end through a NOTIFY, or through the polling the probe switches to.
      const waiter = new ResultBackend(ds, { recheckIntervalMs: 0, pollIntervalMs: 100, listenProbeTimeoutMs: 1000, logger });
      const writer = new ResultBackend(ds);
      try {
        const latencies = await wakeLatencies(waiter, writer, 'deaf', 10);
        console.log(`    through the bouncer, deaf LISTEN detected, polling every 100 ms: p50 ${percentile(latencies, 50).toFixed(1)} ms`);
        expect(warnings.filter((w) => w.includes('did not receive its own probe notification'))).to.have.length(1);
        expect(warnings[0]).to.contain('listenConnection');
      } finally {
        await waiter.close();
        await writer.close();
        await ds.destroy();
      }
    });
  });

  it('with listenConnection straight to PostgreSQL, waits are woken by NOTIFY while the pool stays on the bouncer', async () => {
    await withFreshDatabase('bouncer_direct', async (db) => {
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
      const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(bouncer!.url(db.url), { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
      // recheckIntervalMs 0 and a poll interval far above the wait: only a NOTIFY can end these waits in time.
      const waiter = new ResultBackend(ds, { recheckIntervalMs: 0, pollIntervalMs: 60_000, listenConnection: db.url, listenProbeTimeoutMs: 10_000, logger });
      const writer = new ResultBackend(ds);
      try {
        const latencies = await wakeLatencies(waiter, writer, 'direct', 20);
        console.log(`    through the bouncer with a direct listenConnection: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`);
        expect(warnings).to.deep.equal([]);
      } finally {
        await waiter.close();
        await writer.close();
        await ds.destroy();
      }
    });
  });
});
