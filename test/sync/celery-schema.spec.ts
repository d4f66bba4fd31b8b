import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { SafeSynchronizer, SyncResult, TaskMeta, TaskSetMeta } from '../../lib';
import { wakeNames, wakeStatements } from '../../lib/dialects/postgres/wake-sql';
import { postgresOptions, useTestDatabase, withFreshDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { celeryFixture } from '../support/fixtures';

export const celerySchemaSql = celeryFixture('schema.sql');

const COLUMNS_SQL = `
  SELECT table_name, column_name, data_type, character_maximum_length AS length, is_nullable, column_default
  FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ('celery_taskmeta', 'celery_tasksetmeta') ORDER BY table_name, ordinal_position`;

const CONSTRAINTS_SQL = `
  SELECT c.conrelid::regclass::text AS table_name, c.contype, array_agg(a.attname ORDER BY a.attname)::text AS columns
  FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
  WHERE c.connamespace = 'public'::regnamespace AND c.conrelid::regclass::text IN ('celery_taskmeta', 'celery_tasksetmeta') GROUP BY 1, 2, c.conname ORDER BY 1, 2, 3`;

async function syncCelery(url: string): Promise<SyncResult> {
  let result: SyncResult | undefined;
  const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })), {
    onSynchronized: (r) => (result = r),
  });
  await ds.destroy();
  if (!result) throw new Error('no sync result');
  return result;
}

describe('The Celery entities and Celery 5.2.6’s own schema', () => {
  const db = useTestDatabase();

  it('syncing onto a schema Celery created changes nothing destructive: it only adds the two date_done indexes, and the package’s own wake-up trigger and tables', async () => {
    await query(db.current().url, celerySchemaSql);
    const before = await query(db.current().url, COLUMNS_SQL);
    const result = await syncCelery(db.current().url);
    expect(result.statements).to.have.length(2 + wakeStatements(wakeNames('public', 'celery_taskmeta')).length);
    expect(result.statements[0]).to.match(/^CREATE INDEX "IDX_\w+" ON "celery_taskmeta"\s+\("date_done"\)/);
    expect(result.statements[1]).to.match(/^CREATE INDEX "IDX_\w+" ON "celery_tasksetmeta"\s+\("date_done"\)/);
    // Then the wake-up objects: a table of its own, three functions with their grants revoked, and a trigger; nothing of Celery's altered.
    expect(result.statements.slice(2)).to.deep.equal(wakeStatements(wakeNames('public', 'celery_taskmeta')));
    expect(await query(db.current().url, COLUMNS_SQL)).to.deep.equal(before);
  });

  it('the tables we create have Celery’s columns, types, nullability, defaults and keys', async () => {
    await syncCelery(db.current().url);
    const ours = { columns: await query(db.current().url, COLUMNS_SQL), constraints: await query(db.current().url, CONSTRAINTS_SQL) };
    const celery = await withFreshDatabase('celery_ddl', async (other) => {
      await query(other.url, celerySchemaSql);
      return { columns: await query(other.url, COLUMNS_SQL), constraints: await query(other.url, CONSTRAINTS_SQL) };
    });
    expect(ours.columns).to.deep.equal(celery.columns);
    expect(ours.constraints).to.deep.equal(celery.constraints);
    expect(ours.columns.filter((c) => c.column_name === 'id').map((c) => c.column_default)).to.deep.equal([null, null]);
  });
});
