/**
 * `npm run bench`: each measurement is printed as a ratio against a baseline
 * run in the same process on the same database, so machine speed cancels out.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { createDatabase, dropDatabase, startPostgres } from '../examples/support/postgres';

const entities = [TaskMeta, TaskSetMeta];

async function time(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function withDb<T>(server: string, label: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `trb_bench_${label}_${process.pid}`;
  const url = await createDatabase(server, name);
  try {
    return await fn(url);
  } finally {
    await dropDatabase(server, name);
  }
}

/** Schema sync on an empty database: SafeSynchronizer against plain synchronize: true. */
async function syncOverhead(server: string): Promise<string> {
  const plain: number[] = [];
  const safe: number[] = [];
  for (let i = 0; i < 5; i++) {
    plain.push(await withDb(server, `plain${i}`, async (url) => time(async () => {
      const ds = new DataSource({ type: 'postgres', url, entities, synchronize: true });
      await ds.initialize();
      await ds.destroy();
    })));
    safe.push(await withDb(server, `safe${i}`, async (url) => time(async () => {
      const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities, synchronize: true }));
      await ds.destroy();
    })));
  }
  return `schema sync, fresh database (5 runs): SafeSynchronizer / plain synchronize = ${(median(safe) / median(plain)).toFixed(2)}x (median ${median(safe).toFixed(0)} ms vs ${median(plain).toFixed(0)} ms)`;
}

/** One upsert statement against Celery's SELECT, then INSERT or UPDATE, in a transaction. */
async function storeThroughput(server: string): Promise<string> {
  return withDb(server, 'store', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities, synchronize: true, poolSize: 4 }));
    const backend = new ResultBackend(ds);
    const N = 2000;
    const celeryStyle = await time(async () => {
      for (let i = 0; i < N; i++) {
        await ds.transaction(async (m) => {
          const found = await m.query('SELECT id FROM celery_taskmeta WHERE task_id = $1', [`c-${i}`]);
          if (found.length === 0) await m.query("INSERT INTO celery_taskmeta (id, task_id) VALUES (nextval('task_id_sequence'), $1)", [`c-${i}`]);
          await m.query("UPDATE celery_taskmeta SET status = 'SUCCESS', result = $2, date_done = now() AT TIME ZONE 'UTC' WHERE task_id = $1", [`c-${i}`, Buffer.from('1')]);
        });
      }
    });
    const ours = await time(async () => {
      for (let i = 0; i < N; i++) await backend.markAsDone(`o-${i}`, 1);
    });
    await backend.close();
    await ds.destroy();
    return `storeResult, ${N} sequential stores: upsert / Celery-style select-insert-update = ${(ours / celeryStyle).toFixed(2)}x time (${(N / (ours / 1000)).toFixed(0)} vs ${(N / (celeryStyle / 1000)).toFixed(0)} stores/s)`;
  });
}

/** Wake-up latency of waitForResult: NOTIFY against Celery's 0.5 s poll. */
async function waitLatency(server: string): Promise<string> {
  return withDb(server, 'wait', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities, synchronize: true }));
    const writer = new ResultBackend(ds);
    const measure = async (backend: ResultBackend, label: string): Promise<number[]> => {
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const id = `${label}-${i}`;
        const waiting = backend.waitForResult(id, { timeoutMs: 10_000 });
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
        const stored = performance.now();
        await writer.markAsDone(id, i);
        await waiting;
        latencies.push(performance.now() - stored);
      }
      return latencies;
    };
    const listening = new ResultBackend(ds, { recheckIntervalMs: 0 });
    const polling = new ResultBackend(ds, { listen: false, pollIntervalMs: 500 });
    const pushed = median(await measure(listening, 'push'));
    const polled = median(await measure(polling, 'poll'));
    await Promise.all([listening.close(), polling.close(), writer.close()]);
    await ds.destroy();
    return `waitForResult wake-up after commit (20 waits): LISTEN/NOTIFY / 500 ms polling = ${(pushed / polled).toFixed(3)}x (median ${pushed.toFixed(1)} ms vs ${polled.toFixed(1)} ms)`;
  });
}

async function main(): Promise<void> {
  const server = await startPostgres();
  try {
    console.log(await syncOverhead(server.url));
    console.log(await storeThroughput(server.url));
    console.log(await waitLatency(server.url));
  } finally {
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
