/**
 * One app's life in a process of its own, for no-warnings.spec: a cold start
 * that syncs and migrates, a warm start, stores, a pushed wait, a group, a
 * cleanup. It reports every process warning it saw (a DeprecationWarning from
 * pg or TypeORM included) on stdout, as JSON.
 */
import 'reflect-metadata';
import { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

class CreateNotes1700000000001 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE notes (id int PRIMARY KEY)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE notes');
  }
}

function options(): ConstructorParameters<typeof DataSource>[0] {
  return { type: 'postgres', url: process.env.TRB_URL, entities: [TaskMeta, TaskSetMeta], synchronize: true, migrations: [CreateNotes1700000000001], migrationsRun: true };
}

async function main(): Promise<void> {
  const cold = await SafeSynchronizer.initialize(new DataSource(options()));
  await cold.destroy();
  const ds = await SafeSynchronizer.initialize(new DataSource(options()));
  const backend = new ResultBackend(ds);
  const writer = new ResultBackend(ds);
  const waited = backend.waitForResult('w1', { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 100));
  await writer.markAsDone('w1', 'one');
  await waited;
  await backend.saveGroup('g', ['w1', 'w2']);
  await writer.markAsDone('w2', 'two');
  await backend.joinGroup('g', { timeoutMs: 10_000 });
  await backend.cleanup({ olderThanMs: 0 });
  await backend.close();
  await writer.close();
  await ds.destroy();
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  process.stdout.write(JSON.stringify({ warnings }));
}

main().catch((error: unknown) => {
  process.stdout.write(JSON.stringify({ warnings, error: String(error) }));
  process.exitCode = 1;
});
