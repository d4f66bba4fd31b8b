/**
 * One worker process of the result-store scenarios: initializes with
 * SafeSynchronizer on a possibly empty database, waits for the parent's "go",
 * then stores results.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

export interface BackendWorkerConfig {
  url: string;
  /** What to store, in order: [taskId, state, result]. */
  writes: [string, string, unknown][];
  /** Sync after "go" (a cold start together) or before "ready". */
  syncAfterGo: boolean;
  codec?: 'json' | 'celery';
}

export interface BackendWorkerReport {
  ok: boolean;
  stored: number;
  applied: number;
  errors: string[];
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as BackendWorkerConfig;

async function main(): Promise<BackendWorkerReport> {
  const ds = new DataSource({ type: 'postgres', url: config.url, applicationName: `trb-worker-${process.pid}`, poolSize: 2, entities: [TaskMeta, TaskSetMeta], synchronize: true });
  if (!config.syncAfterGo) await SafeSynchronizer.initialize(ds);
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const report: BackendWorkerReport = { ok: true, stored: 0, applied: 0, errors: [] };
  try {
    if (config.syncAfterGo) await SafeSynchronizer.initialize(ds);
    const backend = new ResultBackend(ds, { codec: config.codec ?? 'json' });
    for (const [taskId, state, result] of config.writes) {
      try {
        const outcome = await backend.storeResult(taskId, result, state, { worker: `w${process.pid}` });
        report.stored++;
        if (outcome.applied) report.applied++;
      } catch (error) {
        report.ok = false;
        report.errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
    }
    await backend.close();
  } catch (error) {
    report.ok = false;
    report.errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
  return report;
}

main().then((report) => process.send?.({ report }, () => process.exit(0)));
