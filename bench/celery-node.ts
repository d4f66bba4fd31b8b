/**
 * celery-node round trips through a real Celery 5.2.6 worker (RabbitMQ):
 * a celery-node client waiting with this package as its result backend (push
 * wake-ups), against celery-node's own Redis backend (its AsyncResult.get
 * polls every 500 ms) and Python's own `.get()` on Celery's database backend
 * (which polls every 500 ms too), p50 and p99, in one run.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { join } from 'node:path';
import * as celery from 'celery-node';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../lib';
import { useResultBackend } from '../lib/celery-node';
import { BenchContext, ms, percentile, withDb } from './support';

const PYTHON = '/usr/bin/python3';
const APP_DIR = join(__dirname, '..', '..', 'test', 'interop', 'celery_app');
const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672//';
const REDIS_URL = 'redis://127.0.0.1:6379/15';

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.connect(port, '127.0.0.1');
  });
}

function env(url: string, queue: string, backend?: string): NodeJS.ProcessEnv {
  return { ...process.env, TRB_CELERY_DB: url.replace(/^postgres:/, 'postgresql:'), TRB_CELERY_QUEUE: queue, TRB_CELERY_BACKEND: backend ?? '', PYTHONPATH: APP_DIR };
}

/** One `celery worker --pool=solo` on its own queue: one task at a time, so the round trips are not queued behind each other. */
async function worker(url: string, queue: string, backend?: string): Promise<ChildProcess> {
  const child = spawn(PYTHON, ['-m', 'celery', '-A', 'proj', 'worker', '--pool=solo', '-Q', queue, '-n', `bench-${queue}@%h`, '--without-mingle', '--without-gossip', '--loglevel=INFO'], {
    cwd: APP_DIR,
    env: env(url, queue, backend),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/ ready\./.test(log)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the bench's Celery worker exited with ${code}:\n${log.slice(-1500)}`)));
  });
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGTERM');
  });
}

/** Round trips of `proj.add` through a celery-node client, each `.get()` timed from the send. */
async function clientRoundTrips(app: ReturnType<typeof celery.createClient>, calls: number): Promise<number[]> {
  const took: number[] = [];
  await app.createTask('proj.add').applyAsync([0, 0]).get(30_000); // warm: connections, the worker's first task
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await app.createTask('proj.add').applyAsync([i, 1]).get(30_000);
    took.push(performance.now() - started);
  }
  return took;
}

/** Python's own client: `AsyncResult.get()` on Celery's database backend, at its default interval. */
function pythonRoundTrips(url: string, queue: string, calls: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const run = spawn(PYTHON, [join(APP_DIR, 'client.py')], { cwd: APP_DIR, env: env(url, queue) });
    let out = '';
    let err = '';
    run.stdout.on('data', (d) => (out += d));
    run.stderr.on('data', (d) => (err += d));
    run.once('close', (code) => (code === 0 ? resolve((JSON.parse(out) as { ms: number[] }).ms.slice(1)) : reject(new Error(`client.py: ${err}`))));
    const tasks = Array.from({ length: calls + 1 }, (_, i) => ['proj.add', [i, 1]]);
    run.stdin.end(JSON.stringify({ command: 'send_named', queue, tasks }));
  });
}

function summary(values: number[]): string {
  return `p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}`;
}

export async function celeryNode(ctx: BenchContext): Promise<void> {
  const calls = ctx.smoke ? 10 : 200;
  const missing = !(await answers(5672)) ? 'RabbitMQ at 127.0.0.1:5672 does not answer' : !(await answers(6379)) ? 'Redis at 127.0.0.1:6379 does not answer' : undefined;
  if (missing) {
    console.warn(`  SKIPPED the celery-node round trips: ${missing}`);
    ctx.rows.push({ benchmark: 'celery-node round trip', case: 'client → Python worker', ours: `SKIPPED: ${missing}`, baseline: '', ratio: '', target: '', met: null });
    return;
  }
  await withDb(ctx.server, 'celery_node', async (url) => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true }));
    const backend = new ResultBackend(ds, { codec: 'celery' });
    const id = randomBytes(3).toString('hex');
    const dbQueue = `bench_db_${id}`;
    const redisQueue = `bench_redis_${id}`;
    const workers = [await worker(url, dbQueue), await worker(url, redisQueue, REDIS_URL)];
    const ours = useResultBackend(celery.createClient(BROKER_URL, 'unused://', dbQueue), backend);
    const theirs = celery.createClient(BROKER_URL, REDIS_URL, redisQueue);
    try {
      const pushed = await clientRoundTrips(ours, calls);
      const redis = await clientRoundTrips(theirs, calls);
      const python = await pythonRoundTrips(url, dbQueue, calls);
      const row = (label: string, baseline: number[], baselineLabel: string) =>
        ctx.rows.push({
          benchmark: 'celery-node round trip',
          case: `${label} (${calls} calls)`,
          ours: summary(pushed),
          baseline: `${baselineLabel}: ${summary(baseline)}`,
          ratio: `${(percentile(baseline, 50) / percentile(pushed, 50)).toFixed(0)}× faster at p50`,
          target: 'faster than polling',
          met: percentile(pushed, 50) < percentile(baseline, 50),
        });
      row('celery-node client → Python worker, this package as its backend', redis, "celery-node's own Redis backend");
      row('the same, against Python', python, "Python's AsyncResult.get() on Celery's DB backend");
    } finally {
      await ours.disconnect();
      await theirs.disconnect();
      for (const w of workers) await stop(w);
      await ds.destroy();
      // The queues were declared for this run only.
      for (const queue of [dbQueue, redisQueue]) spawnSync(PYTHON, [join(APP_DIR, 'client.py')], { cwd: APP_DIR, env: env(url, queue), input: JSON.stringify({ command: 'delete_queue', queue }) });
    }
  });
}
