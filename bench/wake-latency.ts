/**
 * Wake latency: from a store's commit to the waiter resolving, p50 and p99.
 * Node writes (ResultBackend), Python writes (real Celery's DatabaseBackend,
 * which never NOTIFYs: the trigger wakes the waiter), and polling at 100 ms
 * and at Celery's own 500 ms as baselines.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { BenchContext, ms, percentile, withDb } from './support';

const PYTHON = '/usr/bin/python3';
const WRITER = join(__dirname, '..', '..', 'bench', 'celery_writer.py');

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Node writer. The commit lies between the store's call and its
 * acknowledgement: latency counts from the acknowledgement (0 when the waiter
 * was woken before the writer heard back), and `fromCall` from the call, an upper bound.
 */
async function nodeSamples(waiter: ResultBackend, writer: ResultBackend, label: string, samples: number, fromCall: number[] = []): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const id = `${label}-${i}`;
    let resolvedAt = 0;
    const waiting = waiter.waitForResult(id, { timeoutMs: 10_000 }).then(() => (resolvedAt = wallMs()));
    // Let the wait settle into waiting (its reads done, its interest recorded); not measured.
    await sleep(30 + Math.random() * 20);
    const calledAt = wallMs();
    await writer.markAsDone(id, i);
    const acknowledgedAt = wallMs();
    await waiting;
    latencies.push(Math.max(0, resolvedAt - acknowledgedAt));
    fromCall.push(resolvedAt - calledAt);
  }
  return latencies;
}

function celeryAvailable(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import celery, sqlalchemy, psycopg2'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `${PYTHON} cannot import celery, sqlalchemy and psycopg2 (apt-get install python3-celery python3-sqlalchemy python3-psycopg2)`;
}

/** Python writer: latency from the wall time Python prints right after its commit. */
async function pythonSamples(url: string, waiter: ResultBackend, samples: number): Promise<number[]> {
  const child = spawn(PYTHON, [WRITER, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value ?? '');
  try {
    if ((await next()) !== 'ready') throw new Error('celery_writer.py did not start');
    const latencies: number[] = [];
    for (let i = 0; i < samples; i++) {
      const id = `py-${i}`;
      let resolvedAt = 0;
      const waiting = waiter.waitForResult(id, { timeoutMs: 10_000 }).then(() => (resolvedAt = wallMs()));
      await sleep(30 + Math.random() * 20);
      child.stdin.write(`${id}\n`);
      const [, committedAt] = (await next()).split(' ');
      await waiting;
      latencies.push(Math.max(0, resolvedAt - Number(committedAt)));
    }
    return latencies;
  } finally {
    child.stdin.end();
    child.kill();
  }
}

function row(ctx: BenchContext, label: string, latencies: number[], baseline: string, target: string, limit: number | null): void {
  const p50 = percentile(latencies, 50);
  ctx.rows.push({
    benchmark: 'wake latency',
    case: `${label} (${latencies.length} waits)`,
    ours: `p50 ${ms(p50)}, p99 ${ms(percentile(latencies, 99))}`,
    baseline,
    ratio: '',
    target,
    met: limit === null ? null : p50 <= limit,
  });
}

export async function wakeLatency(ctx: BenchContext): Promise<void> {
  const samples = ctx.smoke ? 10 : 40;
  await withDb(ctx.server, 'wake', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true, poolSize: 4 }));
    const writer = new ResultBackend(ds);
    // No periodic re-read: only a NOTIFY can wake these waits early.
    const listening = new ResultBackend(ds, { recheckIntervalMs: 0 });
    const poll100 = new ResultBackend(ds, { listen: false, pollIntervalMs: 100 });
    const poll500 = new ResultBackend(ds, { listen: false, pollIntervalMs: 500 });
    try {
      const p100 = await nodeSamples(poll100, writer, 'poll100', samples);
      const p500 = await nodeSamples(poll500, writer, 'poll500', samples);
      const polled = `polling 100 ms: p50 ${ms(percentile(p100, 50))}; 500 ms (Celery's): p50 ${ms(percentile(p500, 50))}`;
      const fromCall: number[] = [];
      const node = await nodeSamples(listening, writer, 'node', samples, fromCall);
      row(ctx, `Node writer, LISTEN + trigger (from the store's call: p50 ${ms(percentile(fromCall, 50))})`, node, polled, 'p50 ≤ 5 ms', 5);
      const missing = celeryAvailable();
      if (missing) {
        console.warn(`  SKIPPED the Python-writer wake latency: ${missing}`);
        ctx.rows.push({ benchmark: 'wake latency', case: 'Python Celery writer', ours: `SKIPPED: ${missing}`, baseline: '', ratio: '', target: 'p50 ≤ 20 ms', met: null });
      } else {
        row(ctx, 'Python Celery 5.2.6 writer, trigger', await pythonSamples(url, listening, samples), polled, 'p50 ≤ 20 ms', 20);
      }
    } finally {
      await Promise.all([writer.close(), listening.close(), poll100.close(), poll500.close()]);
      await ds.destroy();
    }
  });
}
