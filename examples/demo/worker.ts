/**
 * A Celery-style worker process of the demo: on a fresh database it syncs the
 * schema (plain TypeORM or SafeSynchronizer), then stores the results of its
 * share of a group's tasks.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

export interface DemoWorkerConfig {
  url: string;
  mode: 'plain' | 'safe';
  index: number;
  taskIds: string[];
}

export interface DemoWorkerReport {
  stored: number;
  error?: string;
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as DemoWorkerConfig;

async function main(): Promise<DemoWorkerReport> {
  const ds = new DataSource({ type: 'postgres', url: config.url, applicationName: `demo-worker-${config.index}`, poolSize: 2, entities: [TaskMeta, TaskSetMeta], synchronize: true });
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  try {
    if (config.mode === 'safe') await SafeSynchronizer.initialize(ds);
    else await ds.initialize();
    const backend = new ResultBackend(ds);
    for (const [k, taskId] of config.taskIds.entries()) {
      await backend.markAsStarted(taskId, { worker: config.index });
      await backend.markAsDone(taskId, { worker: config.index, square: (config.index * 10 + k) ** 2 });
    }
    await backend.close();
    return { stored: config.taskIds.length };
  } catch (error) {
    // PostgreSQL's own words and SQLSTATE, as the worker's log would show them.
    const e = error as { code?: string; driverError?: { code?: string }; message?: string };
    const code = e.driverError?.code ?? e.code;
    return { stored: 0, error: `${e.message ?? String(error)}${code ? ` (SQLSTATE ${code})` : ''}` };
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
}

main().then((report) => process.send?.({ report }, () => process.exit(0)));
