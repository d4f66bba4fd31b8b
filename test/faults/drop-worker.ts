/**
 * One process of the dropped-connections scenario: stores results, saves and
 * joins groups, and cleans up, in a loop, while the parent terminates its
 * connections. Reports which stores were acknowledged and every error, typed or not.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, ResultBackendError, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

export interface DropConfig {
  url: string;
  worker: number;
  durationMs: number;
}

export interface DropReport {
  acknowledged: string[];
  operations: number;
  errors: { typed: boolean; name: string; message: string }[];
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as DropConfig;

async function main(): Promise<DropReport> {
  const ds = await SafeSynchronizer.initialize(
    new DataSource({ type: 'postgres', url: config.url, applicationName: 'trb-drop-worker', poolSize: 3, entities: [TaskMeta, TaskSetMeta], synchronize: true }),
  );
  const backend = new ResultBackend(ds, { recheckIntervalMs: 300, maxRetries: 5, retryDelayMs: 20 });
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const report: DropReport = { acknowledged: [], operations: 0, errors: [] };
  const attempt = async (run: () => Promise<unknown>): Promise<boolean> => {
    report.operations++;
    try {
      await run();
      return true;
    } catch (error) {
      const e = error as Error;
      report.errors.push({ typed: error instanceof ResultBackendError, name: e?.name ?? typeof error, message: String(e?.message ?? error).slice(0, 200) });
      return false;
    }
  };
  const deadline = Date.now() + config.durationMs;
  for (let i = 0; Date.now() < deadline; i++) {
    const id = `w${config.worker}-${i}`;
    if (await attempt(() => backend.markAsDone(id, i))) report.acknowledged.push(id);
    if (i % 10 === 9) {
      const members = report.acknowledged.slice(-5);
      const group = `g${config.worker}-${i}`;
      if (await attempt(() => backend.saveGroup(group, members))) await attempt(() => backend.joinGroup(group, { timeoutMs: 10_000 }));
    }
    if (i % 40 === 39) await attempt(() => backend.cleanup({ olderThanMs: 3_600_000 }));
  }
  await backend.close();
  await ds.destroy();
  return report;
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { acknowledged: [], operations: 0, errors: [{ typed: false, name: 'fatal', message: String(error) }] } }, () => process.exit(1)),
);
