import { expect } from 'chai';
import { ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { CeleryAsyncResult, CeleryGroupResult, ResultBackend, SafeSynchronizer, TaskFailedError, TaskMeta, TaskSetMeta, resultFromTuple } from '../../lib';
import * as celery from 'celery-node';
import { CeleryNodeBackend, CeleryNodeError, useResultBackend } from '../../lib/celery-node';
import { openBackend, rejection } from '../support/backend';
import { asRole, postgresOptions, serverUrl, withFreshDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { GRANTS } from '../support/roles';
import { repoRoot } from '../support/fixtures';
import { PYTHON } from '../pickle/support';

const APP_DIR = join(repoRoot(), 'test', 'interop', 'celery_app');
const BROKER = { host: '127.0.0.1', port: 5672 };
const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672//';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const WORKERS = 4;
const PROCESSES_PER_WORKER = 2;

function brokerAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.connect(BROKER.port, BROKER.host);
  });
}

function celeryEnv(url: string, queue: string): NodeJS.ProcessEnv {
  return { ...process.env, TRB_CELERY_DB: url.replace(/^postgres:/, 'postgresql:'), TRB_CELERY_QUEUE: queue, PYTHONPATH: APP_DIR };
}

/** One command of the Python Celery client (test/interop/celery_app/client.py). */
function client<T>(url: string, queue: string, request: Record<string, unknown>): T {
  const run = spawnSync(PYTHON, [join(APP_DIR, 'client.py')], { cwd: APP_DIR, env: celeryEnv(url, queue), input: JSON.stringify(request), encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`client.py ${String(request.command)} failed (exit ${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** The same, without blocking this process: for when the worker that must answer runs in it (celery-node's). */
function clientAsync<T>(url: string, queue: string, request: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const run = spawn(PYTHON, [join(APP_DIR, 'client.py')], { cwd: APP_DIR, env: celeryEnv(url, queue) });
    let out = '';
    let err = '';
    run.stdout.on('data', (d) => (out += d));
    run.stderr.on('data', (d) => (err += d));
    run.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`client.py ${String(request.command)} failed (exit ${code}):\n${err}`))));
    run.stdin.end(JSON.stringify(request));
  });
}

/** Real `celery worker --pool=prefork` processes on their own queue; resolves once each says it is ready. */
async function startWorkers(url: string, queue: string): Promise<{ stop(): Promise<void> }> {
  const workers: ChildProcess[] = [];
  const ready = Array.from({ length: WORKERS }, (_, i) => {
    const args = ['-m', 'celery', '-A', 'proj', 'worker', '--pool=prefork', `-c`, String(PROCESSES_PER_WORKER), '-n', `trb${i}-${queue}@%h`, '-Q', queue, '--without-mingle', '--without-gossip', '--loglevel=INFO'];
    const worker = spawn(PYTHON, args, { cwd: APP_DIR, env: celeryEnv(url, queue), stdio: ['ignore', 'pipe', 'pipe'] });
    workers.push(worker);
    return new Promise<void>((resolve, reject) => {
      let log = '';
      const onData = (d: Buffer) => {
        log += d.toString();
        if (/ ready\./.test(log)) resolve();
      };
      worker.stdout!.on('data', onData);
      worker.stderr!.on('data', onData);
      worker.once('exit', (code) => reject(new Error(`worker ${i} exited with ${code} before it was ready:\n${log.slice(-2000)}`)));
    });
  });
  const stop = async () => {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            const timer = setTimeout(() => w.kill('SIGKILL'), 10_000);
            w.once('exit', () => (clearTimeout(timer), resolve()));
            w.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    await Promise.all(ready);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** A Node service in its own process: SafeSynchronizer at start-up, as a replica does. */
function nodeService(url: string): Promise<{ ok: boolean; error?: string }> {
  const child = fork(join(__dirname, 'node-service.js'), [], { env: { ...process.env, TRB_SERVICE_URL: url }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as { ok: boolean; error?: string }));
    child.once('exit', (code) => resolve({ ok: false, error: `exited with ${code}` }));
  });
}

describe('Real Celery 5.2.6 workers (prefork, RabbitMQ) and Node on one result backend', function () {
  this.timeout(300_000);
  const queue = `trb_${randomBytes(4).toString('hex')}`;
  let brokerUp = false;

  before(async function () {
    brokerUp = await brokerAnswers();
    if (!brokerUp) {
      const what = `RabbitMQ at ${BROKER.host}:${BROKER.port} does not answer (apt-get install rabbitmq-server; rabbitmq-server -detached)`;
      if (process.env.CI) throw new Error(`${what}: CI must have a broker.`);
      console.log(`    SKIPPED, LOUDLY: ${what}`);
      this.skip();
    }
  });

  it("the seed's scenario: a group as the very first task on a fresh database, with a Node service syncing at the same moment", async () => {
    await withFreshDatabase('celery_seed', async ({ url }) => {
      const workers = await startWorkers(url, queue);
      try {
        // The client sends the group (the workers' first results make Celery run create_all) while Node syncs.
        const service = nodeService(url);
        const python = new Promise<{ group_id: string; task_ids: string[]; values: number[] }>((resolve, reject) => {
          const run = spawn(PYTHON, [join(APP_DIR, 'client.py')], { cwd: APP_DIR, env: celeryEnv(url, queue) });
          let out = '';
          let err = '';
          run.stdout.on('data', (d) => (out += d));
          run.stderr.on('data', (d) => (err += d));
          run.once('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client.py seed_group: ${err}`))));
          run.stdin.end(JSON.stringify({ command: 'seed_group', size: 16 }));
        });
        const [node, seeded] = await Promise.all([service, python]);
        expect(node, 'the Node service started').to.deep.equal({ ok: true });
        expect(seeded.values).to.deep.equal(Array.from({ length: 16 }, (_, i) => i * i));
        const f = await openBackend(url, { codec: 'celery' });
        try {
          expect(await f.backend.joinGroup<number>(seeded.group_id, { timeoutMs: 10_000 })).to.deep.equal(seeded.values);
        } finally {
          await f.close();
        }
        console.log(`    seed: ${WORKERS} workers × ${PROCESSES_PER_WORKER} processes, 16 tasks; Node service ok; Python g.get() and Node joinGroup equal`);
      } finally {
        await workers.stop();
      }
    });
  });

  it("the seed's order from Node's side: Node joins the group first, on a database with no tables, then 4 workers start and the client sends it", async () => {
    await withFreshDatabase('celery_seed_node_first', async ({ url }) => {
      const ds = await new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
      const backend = new ResultBackend(ds, { codec: 'celery' });
      try {
        const groupId = `seed-${randomBytes(4).toString('hex')}`;
        const joined = backend.joinGroup<number>(groupId, { timeoutMs: 120_000 });
        expect((await backend.getTaskMeta(`${groupId}-member`)).status, 'a task on a database without tables is PENDING').to.equal('PENDING');
        const workers = await startWorkers(url, queue);
        try {
          const seeded = client<{ group_id: string; values: number[] }>(url, queue, { command: 'seed_group', size: 16, group_id: groupId });
          expect(seeded.group_id).to.equal(groupId);
          expect(await joined, "Node's join equals Python's g.get()").to.deep.equal(seeded.values);
        } finally {
          await workers.stop();
        }
      } finally {
        await backend.close();
        await ds.destroy();
      }
    });
  });

  it('a chain, a chord, a failure, a retry, and tasks that returned a chain or a group, run by the workers, read the same from Node', async () => {
    await withFreshDatabase('celery_flows', async ({ url }) => {
      const workers = await startWorkers(url, queue);
      try {
        const flows = client<{
          launched_chain: string;
          launched_group: string;
          chain: { id: string; links: string[]; value: number };
          chord: { id: string; header_id: string; header_task_ids: string[]; value: number };
          failed: { id: string; state: string };
          retried: { id: string; value: string };
        }>(url, queue, { command: 'flows' });
        const f = await openBackend(url, { codec: 'celery' });
        try {
          const b = f.backend;
          // Every link of the chain, from the last back to the first: 1+2, +10, +100.
          expect(await Promise.all(flows.chain.links.map((id) => b.waitForResult<number>(id, { timeoutMs: 10_000 })))).to.deep.equal([113, 13, 3]);
          expect(await b.waitForResult(flows.chord.id, { timeoutMs: 10_000 })).to.equal(flows.chord.value);
          expect(await b.joinGroup<number>(flows.chord.header_id, { timeoutMs: 10_000 })).to.deep.equal([0, 1, 4, 9]);
          const failure = await b.waitForResult(flows.failed.id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
          expect(failure).to.be.instanceOf(TaskFailedError).and.include({ excType: 'ValueError', excModule: 'builtins' });
          expect(await b.waitForResult(flows.retried.id, { timeoutMs: 10_000 })).to.equal(flows.retried.value);
          expect((await b.getTaskMeta(flows.retried.id)).name).to.equal('proj.flaky');
          // A task that returned a chain stored its AsyncResult: Node follows the parent links to every link's value.
          // (Celery stores the returned result as its as_tuple(); resultFromTuple rebuilds it, as result_from_tuple does.)
          let link: CeleryAsyncResult | CeleryGroupResult | null = resultFromTuple(await b.waitForResult(flows.launched_chain, { timeoutMs: 10_000 }));
          const values: number[] = [];
          while (link instanceof CeleryAsyncResult) {
            values.push(await b.waitForResult<number>(link.id, { timeoutMs: 10_000 }));
            link = link.parent;
          }
          expect(values).to.deep.equal([10, 6, 3]);
          // A task that returned a (saved) group: Node joins the group it names.
          const launched = resultFromTuple(await b.waitForResult(flows.launched_group, { timeoutMs: 10_000 }));
          expect(launched).to.be.instanceOf(CeleryGroupResult);
          expect(await b.joinGroup<number>(launched.id!, { timeoutMs: 10_000 })).to.deep.equal([0, 1, 4]);
        } finally {
          await f.close();
        }
      } finally {
        await workers.stop();
      }
    });
  });

  it('Node stores results for task ids a Python client created; AsyncResult.get() and GroupResult.restore().get() return them', async () => {
    await withFreshDatabase('celery_node_stores', async ({ url }) => {
      const f = await openBackend(url, { codec: 'celery' });
      try {
        const ids = ['py-made-1', 'py-made-2', 'py-made-3'];
        client(url, queue, { command: 'await_ids', group_id: 'py-made-group', task_ids: ids });
        for (const [i, id] of ids.entries()) await f.backend.markAsDone(id, { n: i, tag: 'from node' });
        const got = client<{ values: unknown[]; group_values: unknown[] }>(url, queue, { command: 'get_ids', group_id: 'py-made-group', task_ids: ids });
        const expected = ids.map((_, n) => ({ n, tag: 'from node' }));
        expect(got).to.deep.equal({ values: expected, group_values: expected });
      } finally {
        await f.close();
      }
    });
  });

  it("workers logged in with only Celery's grants store through the wake-up trigger, and their stores wake Node's waits", async () => {
    await withFreshDatabase('celery_least_privilege', async ({ url }) => {
      // The installer (here the superuser) makes the tables and the trigger; the workers get exactly GRANTS.celeryWorker.
      const installed = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
      await installed.destroy();
      const role = `trb_celery_${randomBytes(3).toString('hex')}`;
      await query(serverUrl(), `CREATE ROLE "${role}" LOGIN PASSWORD 'celery-password'`);
      try {
        for (const grant of GRANTS.celeryWorker) await query(url, grant.replaceAll('$ROLE', `"${role}"`));
        const celeryUrl = asRole(url, role, 'celery-password');
        const workers = await startWorkers(celeryUrl, queue);
        // No periodic re-read: only a NOTIFY from the trigger, fired by the workers' own INSERTs, can wake these waits.
        const f = await openBackend(url, { codec: 'celery', recheckIntervalMs: 0 });
        try {
          const ids = Array.from({ length: 8 }, (_, i) => `least-privilege-${i}`);
          const waits = ids.map((id) => f.backend.waitForResult<number>(id, { timeoutMs: 30_000 }));
          for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 10))) {
            const [{ n }] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM celery_taskmeta_waiters WHERE task_id = ANY($1)', [ids]);
            if (n === ids.length) break;
            if (Date.now() > deadline) throw new Error(`only ${n} of ${ids.length} interests were recorded within 10 s`);
          }
          const sent = client<{ values: number[] }>(celeryUrl, queue, { command: 'send_ids', task_ids: ids });
          expect(sent.values, "Python's .get() read every store").to.deep.equal(ids.map((_, i) => i * i));
          expect(await Promise.all(waits), 'every Node wait was woken').to.deep.equal(sent.values);
        } finally {
          await f.close();
          await workers.stop();
        }
      } finally {
        await query(url, `DROP OWNED BY "${role}"`);
        await query(serverUrl(), `DROP ROLE "${role}"`);
      }
    });
  });

  it('celery-node clients: tasks sent to the Python workers, waited for with push wake-ups through useResultBackend (200 calls, and a failure)', async () => {
    await withFreshDatabase('celery_node_client', async ({ url }) => {
      const f = await openBackend(url, { codec: 'celery' });
      const workers = await startWorkers(url, queue);
      // The backend URL is never read: useResultBackend gives celery-node its backend.
      const app = useResultBackend(celery.createClient(BROKER_URL, 'unused://', queue), f.backend);
      try {
        const took: number[] = [];
        for (let i = 0; i < 200; i++) {
          const started = performance.now();
          expect(await app.createTask('proj.add').applyAsync([i, 1]).get(10_000)).to.equal(i + 1);
          took.push(performance.now() - started);
        }
        const failed = (await rejection(app.createTask('proj.fail').applyAsync(['boom']).get(10_000))) as CeleryNodeError;
        expect(failed.message, 'rejects as celery-node does').to.equal('FAILURE');
        expect(failed).to.include({ exc_type: 'ValueError', exc_module: 'builtins' });
        expect(failed.cause).to.be.instanceOf(TaskFailedError);
        const meta = await (app.backend as unknown as CeleryNodeBackend).getTaskMeta(app.asyncResult('never-sent').taskId);
        expect(meta).to.include({ status: 'PENDING', result: null });
        console.log(`    celery-node client → Python worker → push wake-up: p50 ${percentile(took, 50).toFixed(1)} ms, p99 ${percentile(took, 99).toFixed(1)} ms over ${took.length} calls`);
      } finally {
        await app.disconnect();
        await workers.stop();
        await f.close();
      }
    });
  });

  it("celery-node workers: results Python's .get() reads; a task that throws, and one whose result cannot be encoded, are FAILUREs and the worker lives on", async () => {
    await withFreshDatabase('celery_node_worker', async ({ url }) => {
      const nodeQueue = `${queue}_node`;
      const f = await openBackend(url, { codec: 'celery' });
      const worker = useResultBackend(celery.createWorker(BROKER_URL, 'unused://', nodeQueue), f.backend);
      worker.register('node.add', (a: number, b: number) => a + b);
      worker.register('node.boom', (message: string) => {
        throw new TypeError(message);
      });
      worker.register('node.unencodable', () => () => 'a function');
      worker.register('node.nothing', () => undefined);
      const info = console.info;
      console.info = () => undefined; // celery-node logs every task with console.info
      try {
        void worker.start();
        const tasks = [['node.add', [1, 2]], ['node.boom', ['bad input']], ['node.unencodable', []], ['node.nothing', []], ...Array.from({ length: 200 }, (_, i) => ['node.add', [i, i]])];
        const got = await clientAsync<{ results: { state: string; value?: unknown; exc_type?: string; exc_module?: string; message?: string }[]; ms: number[] }>(url, queue, {
          command: 'send_named',
          queue: nodeQueue,
          tasks,
          interval: 0.01, // Celery's DB backend polls; 10 ms instead of its 500 ms default
        });
        expect(got.results[0]).to.deep.equal({ state: 'SUCCESS', value: 3 });
        expect(got.results[1]).to.include({ state: 'FAILURE', exc_type: 'TypeError', exc_module: 'builtins', message: 'bad input' });
        expect(got.results[2]).to.include({ state: 'FAILURE', exc_type: 'EncodeError', exc_module: 'kombu.exceptions' });
        expect(got.results[2].message).to.contain('could not be stored');
        expect(got.results[3]).to.deep.equal({ state: 'SUCCESS', value: null });
        expect(got.results.slice(4), 'the worker lived on').to.deep.equal(Array.from({ length: 200 }, (_, i) => ({ state: 'SUCCESS', value: 2 * i })));
        const ms = got.ms.slice(4);
        console.log(`    Python client → celery-node worker → Python .get(): p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms over ${ms.length} calls`);
      } finally {
        console.info = info;
        await worker.disconnect();
        await f.close();
        client('postgresql://unused@127.0.0.1/unused', nodeQueue, { command: 'delete_queue', queue: nodeQueue });
      }
    });
  });

  // Leave nothing behind on the broker either: the queue was declared for this run only.
  after(() => {
    if (brokerUp) client('postgresql://unused@127.0.0.1/unused', queue, { command: 'delete_queue', queue });
  });
});
