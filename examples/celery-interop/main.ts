/**
 * One PostgreSQL result backend shared by Python Celery and Node, in both
 * directions: a Python task's result read from Node, and a Node task's result
 * read by Python's AsyncResult.get(). Needs Debian's python3-celery,
 * python3-sqlalchemy and python3-psycopg2 (`/usr/bin/python3`).
 *
 *   npm run build && node dist/examples/celery-interop/main.js
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { createDatabase, dropDatabase, startPostgres } from '../support/postgres';

const PYTHON = '/usr/bin/python3';
const TASKS_PY = join(__dirname, '..', '..', '..', 'examples', 'celery-interop', 'tasks.py');

function python(...args: string[]): void {
  process.stdout.write(execFileSync(PYTHON, [TASKS_PY, ...args], { encoding: 'utf8' }));
}

async function main(): Promise<void> {
  const server = await startPostgres();
  const name = `trb_interop_${process.pid}`;
  const url = await createDatabase(server.url, name);
  try {
    const dataSource = await SafeSynchronizer.initialize(
      new DataSource({ type: 'postgres', url, applicationName: 'interop-example', entities: [TaskMeta, TaskSetMeta], synchronize: true }),
    );
    // The celery codec writes Celery's own layout, so Python can read what Node stores.
    const backend = new ResultBackend(dataSource, { codec: 'celery' });
    try {
      // Python → Node
      python('store', url, 'python-task-1');
      const fromPython = await backend.waitForResult('python-task-1', { timeoutMs: 10_000 });
      console.log('node read    ', fromPython);

      // Node → Python
      await backend.markAsDone('node-task-1', { greeting: 'hello from node', n: 2n ** 64n, when: new Date(Date.UTC(2026, 10, 24, 12)) });
      console.log('node stored   { greeting, n: 2n ** 64n, when: Date }');
      python('read', url, 'node-task-1');
    } finally {
      await backend.close();
      await dataSource.destroy();
    }
  } finally {
    await dropDatabase(server.url, name);
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
