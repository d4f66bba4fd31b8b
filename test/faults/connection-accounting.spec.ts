import { expect } from 'chai';
import type { Pool } from 'pg';
import { DataSource, MigrationInterface } from 'typeorm';
import {
  DatabaseError,
  LockTimeoutError,
  ResultBackend,
  ResultBackendError,
  SafeMigrator,
  SafeSynchronizer,
  TaskMeta,
  TaskSetMeta,
  WaitTimeoutError,
  defineCeleryEntities,
} from '../../lib';
import { freePort } from '../../examples/support/postgres';
import { rejection } from '../support/backend';
import { postgresOptions, useTestDatabase } from '../support/database';
import { Client } from 'pg';
import { connect } from '../support/pg-client';

const APP = 'trb-accounting';

class FailingMigration1700000000009 implements MigrationInterface {
  async up(): Promise<void> {
    throw new Error('this migration fails on purpose');
  }
  async down(): Promise<void> {}
}

/**
 * Every provoked failure below is followed by the same audit, read from
 * pg_stat_activity by application_name: the sessions of this DataSource are
 * exactly its pool's connections, all of them idle in the pool (none checked
 * out and forgotten), plus the backend's one LISTEN connection while it is open.
 */
describe('Resource hygiene: every connection the package opens is closed on every failure path', function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  // Nested, so that these hooks run inside the database's: the audit ends before the database is dropped.
  describe('after each provoked failure, the sessions are the pool’s, all idle', () => {
    let ds: DataSource;
    let peer: Client;

    async function sessions(): Promise<number> {
      const { rows } = await peer.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [APP]);
      return rows[0].n;
    }

    /** A backend exits a moment after its client hangs up: poll until the count settles, then compare. */
    async function expectSessions(extra: number, after: string, settleMs = 5_000): Promise<void> {
      const pool = (ds.driver as unknown as { master: Pool }).master;
      const deadline = Date.now() + settleMs;
      let seen = await sessions();
      while (seen !== pool.totalCount + extra && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        seen = await sessions();
      }
      expect({ after, sessions: seen, idleInPool: pool.idleCount }).to.deep.equal({ after, sessions: pool.totalCount + extra, idleInPool: pool.totalCount });
    }

    beforeEach(async () => {
      peer = await connect(db.current().url);
      ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(db.current().url, { applicationName: APP, entities: [TaskMeta, TaskSetMeta], migrations: [FailingMigration1700000000009], synchronize: true })));
    });
    afterEach(async () => {
      if (ds.isInitialized) await ds.destroy();
      // And once the DataSource is gone, nothing of ours is left at all.
      const deadline = Date.now() + 5_000;
      while ((await sessions()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await sessions()).to.equal(0);
      await peer.end();
    });

    it('a wait whose LISTEN setup fails (the task entity is not registered in the DataSource)', async () => {
      const other = defineCeleryEntities({ taskTable: 'other_taskmeta', groupTable: 'other_tasksetmeta' });
      const backend = new ResultBackend(ds, { entities: other });
      expect(await rejection(backend.waitForResult('t', { timeoutMs: 1_000 }))).to.be.instanceOf(ResultBackendError);
      await expectSessions(0, 'the failed wait');
      await backend.close();
      await expectSessions(0, 'close()');
    });

    it('a listenConnection that cannot connect (nothing listens on its port)', async () => {
      const backend = new ResultBackend(ds, { listenConnection: { host: '127.0.0.1', port: await freePort(), user: 'postgres', database: 'postgres' } });
      await backend.storeResult('t', 1, 'STARTED');
      expect(await rejection(backend.waitForResult('t', { timeoutMs: 2_000 }))).to.be.instanceOf(DatabaseError);
      await expectSessions(0, 'the refused LISTEN connection');
      await backend.close();
      await expectSessions(0, 'close()');
    });

    it('a wait that times out keeps only the LISTEN connection, and close() ends it', async () => {
      const backend = new ResultBackend(ds);
      expect(await rejection(backend.waitForResult('never', { timeoutMs: 200 }))).to.be.instanceOf(WaitTimeoutError);
      await expectSessions(1, 'the timed-out wait');
      await backend.close();
      await expectSessions(0, 'close()');
    });

    it('a sync that times out on the lock (another session holds it)', async () => {
      await peer.query('BEGIN');
      await peer.query('SELECT pg_advisory_xact_lock(31, 32)');
      const error = await rejection(new SafeSynchronizer(ds, { lockKey: [31, 32], lockTimeoutMs: 200, verify: 'full' }).synchronize());
      await peer.query('ROLLBACK');
      expect(error).to.be.instanceOf(LockTimeoutError);
      await expectSessions(0, 'the sync lock timeout');
    });

    for (const transaction of ['all', 'each', 'none'] as const) {
      it(`migrations (transaction "${transaction}") that time out on the lock, then a migration that throws`, async () => {
        await peer.query('BEGIN');
        await peer.query('SELECT pg_advisory_xact_lock(33, 34)');
        const timedOut = await rejection(new SafeMigrator(ds, { lockKey: [33, 34], lockTimeoutMs: 200, transaction }).run());
        await peer.query('ROLLBACK');
        expect(timedOut).to.be.instanceOf(LockTimeoutError);
        await expectSessions(0, 'the migration lock timeout');
        const failed = await rejection(new SafeMigrator(ds, { lockKey: [33, 34], transaction }).run());
        expect((failed as Error).message).to.include('fails on purpose');
        await expectSessions(0, 'the failed migration');
      });
    }

    it('the audit catches a leak: a connection checked out and never released, and a stray client of the same application', async () => {
      const runner = ds.createQueryRunner();
      await runner.connect();
      const forgotten = (await rejection(expectSessions(0, 'a forgotten query runner', 300))) as { actual: { idleInPool: number; sessions: number } };
      expect(forgotten.actual.idleInPool).to.be.lessThan(forgotten.actual.sessions);
      await runner.release();
      const stray = await connect(db.current().url, APP);
      const strayed = (await rejection(expectSessions(0, 'a stray client', 300))) as { actual: { idleInPool: number; sessions: number } };
      expect(strayed.actual.sessions).to.be.greaterThan(strayed.actual.idleInPool);
      await stray.end();
      await expectSessions(0, 'both ended');
    });
  });
});
