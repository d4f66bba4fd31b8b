import { expect } from 'chai';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';
import { DataLossError, ResultBackend, defineCeleryEntities } from '../../lib';
import { InjectResultBackend, TaskResultModule, safeDataSourceFactory } from '../../lib/nestjs';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

/** This spec is compiled to CommonJS: it is the CommonJS Nest app (Nest 12 itself is ESM, loaded through require()). */
const reports = defineCeleryEntities({ taskTable: 'report_taskmeta', groupTable: 'report_groupmeta' });

class SeedInvoices1700000000001 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE invoices (id int PRIMARY KEY)');
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE invoices');
  }
}

@Injectable()
class Reports {
  constructor(
    readonly tasks: ResultBackend,
    @InjectResultBackend('reports') readonly reports: ResultBackend,
  ) {}
}

function appModule(url: string): new () => unknown {
  @Module({
    imports: [
      TypeOrmModule.forRootAsync({
        useFactory: () => ({
          type: 'postgres' as const,
          url,
          applicationName: 'trb-nest-cjs',
          autoLoadEntities: true,
          synchronize: true,
          migrations: [SeedInvoices1700000000001],
          migrationsRun: true,
          retryAttempts: 1,
        }),
        dataSourceFactory: safeDataSourceFactory(),
      }),
      TaskResultModule.forRoot({ recheckIntervalMs: 500 }),
      TaskResultModule.forRootAsync({ name: 'reports', entities: reports, useFactory: () => ({ codec: 'celery' as const }) }),
    ],
    providers: [Reports],
  })
  class AppModule {}
  return AppModule;
}

describe('TaskResultModule in a CommonJS Nest app', function () {
  this.timeout(60_000);
  const db = useTestDatabase();

  it('registers the entities for autoLoadEntities, runs migrations and sync under the lock, and injects default and named backends', async () => {
    const app = await NestFactory.createApplicationContext(appModule(db.current().url), { logger: false });
    try {
      const { tasks, reports: named } = app.get(Reports);
      expect(tasks).to.be.instanceOf(ResultBackend);
      expect(named).to.be.instanceOf(ResultBackend).and.not.equal(tasks);
      await tasks.markAsDone('t1', { ok: true });
      await named.markAsDone('r1', 'done');
      // A wait opens the backend's LISTEN connection, which shutdown must close.
      expect(await tasks.waitForResult('t1', { timeoutMs: 5000 })).to.deep.equal({ ok: true });
      expect(await query(db.current().url, "SELECT to_regclass('invoices') IS NOT NULL AS migrated, to_regclass('report_taskmeta') IS NOT NULL AS synced")).to.deep.equal([
        { migrated: true, synced: true },
      ]);
      // The named backend writes Celery's pickles (its codec came from the async factory).
      const [row] = await query<{ first: number }>(db.current().url, "SELECT get_byte(result, 0) AS first FROM report_taskmeta WHERE task_id = 'r1'");
      expect(row.first).to.equal(0x80);
    } finally {
      await app.close();
    }
    expect(await query(db.current().url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'trb-nest-cjs'")).to.deep.equal([{ n: 0 }]);
  });

  it('safeDataSourceFactory keeps the data guard: a narrowing fails the start with DataLossError, and allowDataLoss in the factory lets it through', async () => {
    const url = db.current().url;
    const orders = (scale: number) => new EntitySchema({ name: 'orders', columns: { id: { type: 'int', primary: true, generated: 'increment' }, amount: { type: 'decimal', precision: 10, scale, nullable: true } } });
    const app = (scale: number, factory: ReturnType<typeof safeDataSourceFactory>) => {
      @Module({ imports: [TypeOrmModule.forRootAsync({ useFactory: () => ({ type: 'postgres' as const, url, entities: [orders(scale)], synchronize: true, retryAttempts: 0 }), dataSourceFactory: factory })] })
      class OrdersModule {}
      return NestFactory.createApplicationContext(OrdersModule, { logger: false, abortOnError: false });
    };
    await (await app(4, safeDataSourceFactory())).close();
    await query(url, 'INSERT INTO orders (amount) VALUES (1.2345)');
    let error: unknown;
    try {
      await (await app(2, safeDataSourceFactory())).close();
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(DataLossError);
    await (await app(2, safeDataSourceFactory({ allowDataLoss: ['orders.amount'] }))).close();
    expect(await query(url, 'SELECT amount::text AS amount FROM orders')).to.deep.equal([{ amount: '1.23' }]);
  });

  it('refuses entities of the wrong shape when the module is defined', () => {
    expect(() => TaskResultModule.forRoot({ entities: { tasks: reports.TaskMeta } as never })).to.throw(/entities is an object with the keys tasks/);
  });
});
