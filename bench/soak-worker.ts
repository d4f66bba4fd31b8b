/**
 * One worker of the soak: stores, waits and cleans up in a loop until its
 * deadline, and reports its memory and open handles every couple of seconds.
 */
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DataSource } from 'typeorm';
import { ResultBackend, TaskMeta, TaskSetMeta } from '../lib';

export interface SoakConfig {
  url: string;
  worker: number;
  durationMs: number;
}

export interface SoakSample {
  sample: { heapUsed: number; rss: number; handles: number; at: number };
}

export interface SoakReport {
  operations: number;
  errors: string[];
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as SoakConfig;

/**
 * A full collection before each sample, so the figure is what the worker
 * retains, not where the collector happened to be: without it, a 30 s run
 * reads as growth (18 → 30 MiB seen) what is only garbage not yet collected.
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function handles(): number {
  return (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
}

async function main(): Promise<SoakReport> {
  const ds = await new DataSource({ type: 'postgres', url: config.url, applicationName: 'trb-soak', poolSize: 2, entities: [TaskMeta, TaskSetMeta] }).initialize();
  const backend = new ResultBackend(ds);
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const report: SoakReport = { operations: 0, errors: [] };
  const started = Date.now();
  const sampler = setInterval(() => {
    collect();
    const m = process.memoryUsage();
    process.send?.({ sample: { heapUsed: m.heapUsed, rss: m.rss, handles: handles(), at: Date.now() - started } } satisfies SoakSample);
  }, 2000);
  const deadline = started + config.durationMs;
  for (let i = 0; Date.now() < deadline; i++) {
    const id = `s${config.worker}-${i}`;
    try {
      await backend.markAsStarted(id);
      // Wait and store at once: the wake-up path, every time.
      const [value] = await Promise.all([backend.waitForResult<number>(id, { timeoutMs: 30_000 }), backend.markAsDone(id, i)]);
      if (value !== i) report.errors.push(`${id}: read ${value}, stored ${i}`);
      // Only rows long read: a younger one may be the result another worker is about to read.
      if (i % 200 === 199) await backend.cleanup({ olderThanMs: 3000 });
      report.operations += 3;
    } catch (error) {
      report.errors.push(String(error).slice(0, 200));
    }
  }
  clearInterval(sampler);
  await backend.close();
  await ds.destroy();
  return report;
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { operations: 0, errors: [`fatal: ${String(error)}`] } }, () => process.exit(1)),
);
