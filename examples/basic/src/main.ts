// A worker and a client in one process: sync the schema safely, store a group's results, join them.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from 'typeorm-result-backend';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/example');

const dataSource = await SafeSynchronizer.initialize(
  new DataSource({ type: 'postgres', url, applicationName: 'example-basic', entities: [TaskMeta, TaskSetMeta], synchronize: true }),
  { onSynchronized: (r) => console.log(`schema: ${r.changed ? `${r.statements.length} statement(s) run` : 'already in sync'}`) },
);
const backend = new ResultBackend(dataSource);
try {
  const taskIds = ['add-1', 'add-2', 'add-3'];
  await backend.saveGroup('sums', taskIds);
  // The "worker": each task stores STARTED, then its result.
  for (const [i, id] of taskIds.entries()) {
    await backend.markAsStarted(id);
    await backend.markAsDone(id, { sum: i + i });
  }
  // The "client": wait for the whole group, in task order.
  const sums = await backend.joinGroup<{ sum: number }>('sums', { timeoutMs: 10_000 });
  console.log(`joined ${sums.length} results: ${sums.map((s) => s.sum).join(', ')}`);
} finally {
  await backend.close();
  await dataSource.destroy();
}
