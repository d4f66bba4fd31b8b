import { expect } from 'chai';
import { DataSource, DataSourceOptions, MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidOptionError, LockTimeoutError, MigrationRunResult, SafeMigrator, SafeSynchronizer, SyncResult, TaskMeta, TaskSetMeta } from '../../lib';
import { nonIdempotentMigrations } from '../fixtures/migrations';
import { postgresOptions, useTestDatabase } from '../support/database';
import { rejection } from '../support/backend';
import { connect, query } from '../support/pg-client';

/** Needs to run outside a transaction: PostgreSQL refuses CREATE INDEX CONCURRENTLY inside one. */
class ConcurrentIndex1700000000003 implements MigrationInterface {
  name = 'ConcurrentIndex1700000000003';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE INDEX CONCURRENTLY widgets_label ON widgets (label)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX widgets_label');
  }
}

describe('SafeMigrator', () => {
  const db = useTestDatabase();
  const open = async (extra: Partial<DataSourceOptions> = {}): Promise<DataSource> =>
    new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], migrations: nonIdempotentMigrations, ...extra } as Partial<DataSourceOptions>)).initialize();

  it('lists pending migrations in order without creating anything', async () => {
    const ds = await open();
    try {
      expect(await new SafeMigrator(ds).pending()).to.deep.equal(['CreateUpLog1700000000001', 'CreateWidgets1700000000002']);
      expect(await query(db.current().url, "SELECT to_regclass('migrations') AS t")).to.deep.equal([{ t: null }]);
    } finally {
      await ds.destroy();
    }
  });

  it('runs the pending migrations once, and a second run finds nothing to do', async () => {
    const ds = await open();
    try {
      const first = await new SafeMigrator(ds).run();
      expect(first.executed).to.deep.equal(['CreateUpLog1700000000001', 'CreateWidgets1700000000002']);
      expect(first.transaction).to.equal('all');
      const second = await new SafeMigrator(ds).run();
      expect(second.executed).to.deep.equal([]);
      expect(await new SafeMigrator(ds).pending()).to.deep.equal([]);
      expect(await query(db.current().url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).to.deep.equal([{ n: 0 }]);
    } finally {
      await ds.destroy();
    }
  });

  it('runs a migration that must not be in a transaction (CREATE INDEX CONCURRENTLY) in "each" mode', async () => {
    const ds = await open({ migrations: [...nonIdempotentMigrations, ConcurrentIndex1700000000003], migrationsTransactionMode: 'each' });
    try {
      const result = await new SafeMigrator(ds).run();
      expect(result.transaction).to.equal('each');
      expect(result.executed).to.have.length(3);
      expect(await query(db.current().url, "SELECT to_regclass('widgets_label') IS NOT NULL AS made")).to.deep.equal([{ made: true }]);
    } finally {
      await ds.destroy();
    }
  });

  it('keeps the migrations before a failing one in "each" mode, as TypeORM does', async () => {
    class Fails1700000000009 implements MigrationInterface {
      name = 'Fails1700000000009';
      async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query('SELECT 1/0');
      }
      async down(): Promise<void> {}
    }
    const ds = await open({ migrations: [...nonIdempotentMigrations, Fails1700000000009] });
    try {
      const error = await rejection(new SafeMigrator(ds, { transaction: 'each' }).run());
      expect((error as Error).message).to.match(/division by zero/);
      expect(await query(db.current().url, 'SELECT name FROM migrations ORDER BY name')).to.deep.equal([{ name: 'CreateUpLog1700000000001' }, { name: 'CreateWidgets1700000000002' }]);
      expect(await query(db.current().url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).to.deep.equal([{ n: 0 }]);
    } finally {
      await ds.destroy();
    }
  });

  it('works with a pool of one connection: the lock sits on a connection of its own', async () => {
    const ds = await open({ poolSize: 1 });
    try {
      expect((await new SafeMigrator(ds).run()).executed).to.have.length(2);
    } finally {
      await ds.destroy();
    }
  });

  it('waits for the lock held by another session, then finds the work done', async () => {
    const ds = await open();
    const other = await connect(db.current().url, 'trb-other-migrator');
    try {
      const key = (await new SafeMigrator(ds, { lockKey: [7, 8] }).run()).lockKey;
      expect(key).to.deep.equal([7, 8]);
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(7, 8)');
      const error = await rejection(new SafeMigrator(ds, { lockKey: [7, 8], lockTimeoutMs: 200 }).run());
      expect(error).to.be.instanceOf(LockTimeoutError);
      expect((error as LockTimeoutError).holders.map((h) => h.applicationName)).to.deep.equal(['trb-other-migrator']);
    } finally {
      await other.end();
      await ds.destroy();
    }
  });

  it('shares the synchronizer’s lock key, so a migration and a sync never overlap', async () => {
    let migrated: MigrationRunResult | undefined;
    let synced: SyncResult | undefined;
    const order: string[] = [];
    const ds = await SafeSynchronizer.initialize(
      new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], migrations: nonIdempotentMigrations, migrationsRun: true, synchronize: true })),
      {
        onMigrated: (r) => {
          migrated = r;
          order.push('migrations');
        },
        onSynchronized: (r) => {
          synced = r;
          order.push('sync');
        },
      },
    );
    await ds.destroy();
    expect(order, "TypeORM's order: migrations first").to.deep.equal(['migrations', 'sync']);
    expect(migrated!.lockKey).to.deep.equal(synced!.lockKey);
  });

  it('refuses a transaction mode TypeORM does not know', () => {
    const ds = new DataSource(postgresOptions('postgres://u@127.0.0.1:1/x', { entities: [TaskMeta] }));
    expect(() => new SafeMigrator(ds, { transaction: 'some' as 'all' })).to.throw(InvalidOptionError, /"some".*"all", "each" and "none"/);
  });
});
