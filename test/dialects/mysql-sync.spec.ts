import { expect } from 'chai';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { InvalidOptionError, LockTimeoutError, MySqlTaskMeta, MySqlTaskSetMeta, SafeMigrator, SafeSynchronizer, TaskMeta, UnsupportedDriverError } from '../../lib';
import { runFleet } from '../../examples/support/fleet';
import { mysqlEntities } from '../fixtures/mysql-entities';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { rejection } from '../support/backend';
import { requireMySql, useMySqlDatabase, withFreshMySqlDatabase } from '../support/mariadb';
import type { WorkerConfig, WorkerReport } from '../concurrency/sync-worker';

const WORKER = join(__dirname, '..', 'concurrency', 'sync-worker.js');

/** Not idempotent: run twice, its CREATE TABLE fails; every run of up() leaves a row. */
class CreateUpLogMySql1700000000001 implements MigrationInterface {
  name = 'CreateUpLogMySql1700000000001';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE up_log (migration varchar(100) NOT NULL, connection_id bigint NOT NULL)');
    await queryRunner.query("INSERT INTO up_log VALUES ('CreateUpLogMySql1700000000001', CONNECTION_ID())");
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE up_log');
  }
}
const N = 8;

function fleet(url: string, mode: 'plain' | 'safe', n = N): WorkerConfig[] {
  return Array.from({ length: n }, () => ({ url, mode, entitySet: 'mariadb' as const }));
}

function summary(reports: WorkerReport[]): string {
  const failures = reports.filter((r) => !r.ok);
  return `${failures.length}/${reports.length} failed${failures.length ? `: ${[...new Set(failures.map((f) => `${f.code} ${f.message?.slice(0, 80)}`))].join('; ')}` : ''}`;
}

describe('SafeSynchronizer on MySQL/MariaDB (GET_LOCK)', function () {
  this.timeout(10 * 60_000);
  requireMySql();

  it(`${N} processes released together on a fresh database all succeed, and plain synchronize: true in the same harness fails`, async () => {
    let safeFailed = 0;
    for (let trial = 1; trial <= 2; trial++) {
      await withFreshMySqlDatabase('safe_fleet', async (db) => {
        const run = await runFleet<WorkerConfig, WorkerReport>(fleet(db.url, 'safe'), WORKER);
        console.log(`    safe, trial ${trial}: ${summary(run.reports)}`);
        safeFailed += run.reports.filter((r) => !r.ok).length;
        expect(run.reports.filter((r) => r.result?.changed)).to.have.length(1);
        const ds = await new DataSource({ type: 'mariadb', url: db.url, entities: mysqlEntities }).initialize();
        try {
          expect(await new SafeSynchronizer(ds).pendingStatements()).to.deep.equal([]);
        } finally {
          await ds.destroy();
        }
      });
    }
    expect(safeFailed).to.equal(0);

    let plainFailed = 0;
    for (let trial = 1; trial <= 5 && plainFailed === 0; trial++) {
      await withFreshMySqlDatabase('plain_fleet', async (db) => {
        const run = await runFleet<WorkerConfig, WorkerReport>(fleet(db.url, 'plain'), WORKER);
        console.log(`    plain, trial ${trial}: ${summary(run.reports)}`);
        plainFailed += run.reports.filter((r) => !r.ok).length;
      });
    }
    expect(plainFailed, 'plain synchronize: true never failed, so this harness could not show the race').to.be.greaterThan(0);
  });

  it('safe processes racing plain ones still all succeed: duplicate-object errors are retried until a fresh diff is empty', async () => {
    await withFreshMySqlDatabase('mixed_fleet', async (db) => {
      const configs = [...fleet(db.url, 'plain', N / 2), ...fleet(db.url, 'safe', N / 2)];
      const run = await runFleet<WorkerConfig, WorkerReport>(configs, WORKER);
      const safe = run.reports.filter((r) => r.mode === 'safe');
      console.log(`    mixed: safe ${summary(safe)}; plain ${summary(run.reports.filter((r) => r.mode === 'plain'))}; safe attempts ${safe.map((r) => r.result?.attempts).join(',')}`);
      expect(safe.filter((r) => !r.ok)).to.deep.equal([]);
    });
  });

  describe('on one database', () => {
    const db = useMySqlDatabase();

    it('gives up after lockTimeoutMs with a LockTimeoutError that names the connection holding GET_LOCK', async () => {
      const holder = await createConnection({ uri: db.current().url });
      try {
        const [[{ id }]] = (await holder.query("SELECT CONNECTION_ID() AS id, GET_LOCK('trb_spec_lock', 0) AS locked")) as unknown as [[{ id: number }]];
        // The "mysql" driver type on a MariaDB server: TypeORM's diff never settles there (see the README), but the lock is the same.
        const ds = await new DataSource({ type: 'mysql', url: db.current().url, entities: mysqlEntities }).initialize();
        try {
          const started = Date.now();
          const error = await rejection(new SafeSynchronizer(ds, { lockName: 'trb_spec_lock', lockTimeoutMs: 300 }).synchronize());
          const waited = Date.now() - started;
          expect(error).to.be.instanceOf(LockTimeoutError);
          const timeout = error as LockTimeoutError;
          expect(timeout.lockName).to.equal('trb_spec_lock');
          expect(timeout.holders.map((h) => h.pid)).to.deep.equal([Number(id)]);
          expect(timeout.message).to.match(/GET_LOCK\('trb_spec_lock'\), held by connection \d+, user@host \(as reported by the server\) "root@/);
          expect(waited).to.be.within(300, 3_000);
        } finally {
          await ds.destroy();
        }
      } finally {
        await holder.end();
      }
    });

    it('a holder whose connection dies frees GET_LOCK at once: the waiting sync then proceeds', async () => {
      const holder = await createConnection({ uri: db.current().url });
      await holder.query("SELECT GET_LOCK('trb_spec_dead_holder', 0)");
      const ds = await new DataSource({ type: 'mariadb', url: db.current().url, entities: mysqlEntities }).initialize();
      try {
        const sync = new SafeSynchronizer(ds, { lockName: 'trb_spec_dead_holder', lockTimeoutMs: 20_000 }).synchronize();
        // Once the sync waits on the lock, the holder's connection goes away without releasing it.
        for (;;) {
          const [rows] = (await holder.query("SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT GET_LOCK(%' AND ID <> CONNECTION_ID()")) as unknown as [[{ n: number }]];
          if (Number(rows[0].n) > 0) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        holder.destroy();
        const result = await sync;
        expect(result).to.deep.include({ changed: true, lockName: 'trb_spec_dead_holder' });
        expect(result.lockWaitMs).to.be.lessThan(20_000);
      } finally {
        await ds.destroy();
      }
    });

    it('a sync, then a second one, finds nothing to do; the lock name is derived from the database', async () => {
      // A pool of one: the lock is held on a connection of its own, so the sync still has the pool's.
      const ds = await new DataSource({ type: 'mariadb', url: db.current().url, poolSize: 1, entities: mysqlEntities }).initialize();
      try {
        const first = await new SafeSynchronizer(ds).synchronize();
        expect(first.changed).to.equal(true);
        expect(first.lockKey).to.equal(null);
        expect(first.lockName).to.match(/^typeorm_result_backend:[0-9a-f]{32}$/);
        const second = await new SafeSynchronizer(ds).synchronize();
        expect(second).to.deep.include({ changed: false, statements: [], verifiedBy: 'diff', lockName: first.lockName });
      } finally {
        await ds.destroy();
      }
    });

    it('8 migrators at once, each waiting on GET_LOCK on a connection of its own: a migration that is not idempotent runs once', async () => {
      const ds = await new DataSource({ type: 'mariadb', url: db.current().url, migrations: [CreateUpLogMySql1700000000001] }).initialize();
      try {
        const results = await Promise.all(Array.from({ length: 8 }, () => new SafeMigrator(ds).run()));
        expect(results.flatMap((r) => r.executed)).to.deep.equal(['CreateUpLogMySql1700000000001']);
        expect(await ds.query('SELECT count(*) AS n FROM up_log')).to.deep.equal([{ n: '1' }]);
        expect(results.every((r) => r.lockName?.startsWith('typeorm_result_backend:'))).to.equal(true);
      } finally {
        await ds.destroy();
      }
    });

    it('refuses a lock option meant for another database, and the PostgreSQL entities, with typed errors', async () => {
      const ds = new DataSource({ type: 'mariadb', url: db.current().url, entities: [MySqlTaskMeta, MySqlTaskSetMeta] });
      expect(() => new SafeSynchronizer(ds, { lockKey: [1, 2] })).to.throw(InvalidOptionError, /lockKey was given for a mysql DataSource.*Pass lockName instead/);
      expect(() => new SafeSynchronizer(new DataSource({ type: 'postgres', entities: [TaskMeta] }), { lockName: 'x' })).to.throw(InvalidOptionError, /lockName was given for a postgres DataSource/);
      expect(() => new SafeSynchronizer({ options: { type: 'mssql' } } as unknown as DataSource)).to.throw(UnsupportedDriverError, /"mssql" is not supported by SafeSynchronizer.*postgres, mysql, mariadb, sqlite, better-sqlite3/);
    });
  });
});
