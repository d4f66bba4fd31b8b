import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MissingSequenceError, ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta, createIdSequences } from '../../lib';
import { wakeNames, wakeStatements } from '../../lib/dialects/postgres/wake-sql';
import { postgresOptions, useTestDatabase } from '../support/database';
import { rejection } from '../support/backend';
import { query } from '../support/pg-client';

const ROOT = join(__dirname, '..', '..', '..');
const DATA_SOURCE = join(__dirname, '..', 'fixtures', 'typeorm-cli', 'data-source.js');
const SEQUENCES = "SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY relname";

/** TypeORM's own CLI, as a user runs it. */
function typeorm(url: string, args: string[], migrations?: string): string {
  return execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typeorm', 'cli.js'), ...args, '-d', DATA_SOURCE], {
    env: { ...process.env, TRB_DS_URL: url, TRB_DS_MIGRATIONS: migrations ?? '' },
    encoding: 'utf8',
  });
}

/** Stores and reads back through a ResultBackend on a DataSource that only connects. */
async function storeAndRead(url: string): Promise<unknown> {
  const ds = await new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
  const backend = new ResultBackend(ds);
  try {
    await backend.markAsDone('t1', { sum: 3 });
    await backend.saveGroup('g1', ['t1']);
    return await backend.joinGroup('g1');
  } finally {
    await backend.close();
    await ds.destroy();
  }
}

describe('The Celery entities, whatever made the schema', function () {
  this.timeout(120_000);
  const db = useTestDatabase();

  it('plain synchronize: true — the first write creates the missing id sequences, once', async () => {
    const ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })).initialize();
    await ds.destroy();
    expect(await query(db.current().url, SEQUENCES), 'plain TypeORM cannot express the sequences').to.deep.equal([]);
    expect(await storeAndRead(db.current().url)).to.deep.equal([{ sum: 3 }]);
    expect(await query(db.current().url, SEQUENCES)).to.deep.equal([{ relname: 'task_id_sequence' }, { relname: 'taskset_id_sequence' }]);
  });

  it('typeorm schema:sync — the same', async () => {
    typeorm(db.current().url, ['schema:sync']);
    expect(await query(db.current().url, "SELECT to_regclass('celery_taskmeta') IS NOT NULL AS made")).to.deep.equal([{ made: true }]);
    expect(await storeAndRead(db.current().url)).to.deep.equal([{ sum: 3 }]);
  });

  it('typeorm migration:generate + migration:run — the generated migration works as generated', async () => {
    // Inside the project, as an app's migrations are: TypeORM 0.3.20's JavaScript template requires "typeorm".
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.tmp', 'migrations-'));
    try {
      typeorm(db.current().url, ['migration:generate', join(dir, 'CeleryTables'), '-o', '-t', '1700000000000']);
      const [file] = readdirSync(dir);
      expect(readFileSync(join(dir, file), 'utf8')).to.contain('CREATE TABLE "celery_taskmeta"');
      typeorm(db.current().url, ['migration:run'], dir);
      expect(await storeAndRead(db.current().url)).to.deep.equal([{ sum: 3 }]);
      // Nothing is left for a sync to do: the generated tables, the created sequences, the indexes.
      const ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
      try {
        expect(await new SafeSynchronizer(ds).pendingStatements()).to.deep.equal([]);
      } finally {
        await ds.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pendingStatements() lists the sequences and wake-up objects that synchronize() would create, and nothing once it has', async () => {
    const ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })).initialize();
    try {
      const sync = new SafeSynchronizer(ds);
      const pending = await sync.pendingStatements();
      expect(pending.slice(0, 2)).to.deep.equal([
        'CREATE SEQUENCE IF NOT EXISTS "public"."task_id_sequence"',
        'CREATE SEQUENCE IF NOT EXISTS "public"."taskset_id_sequence"',
      ]);
      expect(pending.slice(2)).to.deep.equal(wakeStatements(wakeNames('public', 'celery_taskmeta')));
      expect((await sync.synchronize()).statements).to.deep.equal(pending);
      expect(await sync.pendingStatements()).to.deep.equal([]);
    } finally {
      await ds.destroy();
    }
  });

  it('createIdSequences(queryRunner) creates them from a migration, idempotently', async () => {
    const ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
    const runner = ds.createQueryRunner();
    try {
      expect(await createIdSequences(runner)).to.have.length(2);
      expect(await createIdSequences(runner)).to.deep.equal([]);
    } finally {
      await runner.release();
      await ds.destroy();
    }
    expect(await query(db.current().url, SEQUENCES)).to.deep.equal([{ relname: 'task_id_sequence' }, { relname: 'taskset_id_sequence' }]);
  });

  it('a role that may not create them gets a MissingSequenceError with the statements to run', async () => {
    const role = `trb_limited_${db.current().name}`;
    const ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })).initialize();
    await ds.destroy();
    await query(db.current().url, `CREATE ROLE ${role} LOGIN PASSWORD 'limited'; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}; REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
    const url = new URL(db.current().url);
    url.username = role;
    url.password = 'limited'; // the embedded server asks for one; the service trusts
    const limited = await new DataSource(postgresOptions(url.toString(), { entities: [TaskMeta, TaskSetMeta] })).initialize();
    try {
      const error = await rejection(new ResultBackend(limited).markAsDone('t1', 1));
      expect(error).to.be.instanceOf(MissingSequenceError);
      expect((error as MissingSequenceError).statements).to.deep.equal([
        'CREATE SEQUENCE IF NOT EXISTS "public"."task_id_sequence"',
        'CREATE SEQUENCE IF NOT EXISTS "public"."taskset_id_sequence"',
      ]);
      expect((error as Error).message).to.match(/not allowed to create them.*createIdSequences/);
    } finally {
      await limited.destroy();
      await query(db.current().url, `DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });
});
