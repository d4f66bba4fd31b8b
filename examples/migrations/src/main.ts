// At start-up, every replica runs the pending migrations under the lock: each one runs once.
import dataSource from './data-source';
import { ResultBackend, SafeMigrator, SafeSynchronizer } from 'typeorm-result-backend';

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/example');
  await dataSource.initialize();
  try {
    const migrator = new SafeMigrator(dataSource);
    console.log(`pending migrations: ${(await migrator.pending()).join(', ') || 'none'}`);
    const { executed } = await migrator.run();
    console.log(`ran: ${executed.join(', ') || 'nothing (already up to date)'}`);
    // The migration made everything the entities need: a sync would have nothing left to do.
    console.log(`statements a sync would still run: ${(await new SafeSynchronizer(dataSource).pendingStatements()).length}`);
    const backend = new ResultBackend(dataSource);
    await backend.markAsDone('migrated-1', 'stored');
    console.log(`migrated-1 is ${(await backend.getTaskMeta('migrated-1')).status}`);
    await backend.close();
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
