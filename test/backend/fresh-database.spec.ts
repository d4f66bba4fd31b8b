import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta, TaskState, WaitTimeoutError } from '../../lib';
import { rejection } from '../support/backend';
import { postgresOptions, useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

/**
 * The seed's client side: a Node client that asks before any worker has made
 * the tables. Celery's own client makes them on first use; ours must at
 * least not fail: the task is PENDING, and a wait keeps waiting.
 */
describe('Waits on a fresh database, before any worker has made the tables', function () {
  const db = useTestDatabase();
  let ds: DataSource;
  let backend: ResultBackend;

  beforeEach(async function () {
    ds = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
    // No periodic re-read once the tables exist: from then on only the trigger's NOTIFY can wake a wait.
    backend = new ResultBackend(ds, { pollIntervalMs: 50, recheckIntervalMs: 0 });
  });

  afterEach(async function () {
    await backend.close();
    await ds.destroy();
  });

  /** What a worker does on a fresh database: makes the tables (here with the synchronizer, which installs the trigger). */
  async function workerMakesTheTables(): Promise<void> {
    const worker = await SafeSynchronizer.initialize(new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
    await worker.destroy();
  }

  function celeryStores(taskId: string): Promise<unknown> {
    return query(db.current().url, "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), $1, 'SUCCESS', $2, now() AT TIME ZONE 'UTC')", [
      taskId,
      Buffer.from(JSON.stringify(`done ${taskId}`)),
    ]);
  }

  async function interests(ids: string[]): Promise<number> {
    const [{ n }] = await query<{ n: number }>(db.current().url, "SELECT count(*)::int AS n FROM celery_taskmeta_waiters WHERE task_id = ANY($1)", [ids]);
    return n;
  }

  it('getTaskMeta answers PENDING, and a wait times out with WaitTimeoutError, not 42P01', async function () {
    expect(await backend.getTaskMeta('t1')).to.include({ taskId: 't1', status: TaskState.PENDING });
    const error = await rejection(backend.waitForResult('t1', { timeoutMs: 300 }));
    expect(error).to.be.instanceOf(WaitTimeoutError);
  });

  it('a wait keeps polling until the tables appear, then records its interest, and the trigger wakes it', async function () {
    const first = backend.waitForResult('first', { timeoutMs: 20_000 });
    const second = backend.waitForResult('second', { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200)); // several polls of a missing table
    await workerMakesTheTables();
    // The poll that finds the tables makes the waits record their interests: only then may a NOTIFY reach them.
    for (const deadline = Date.now() + 10_000; (await interests(['first', 'second'])) < 2; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > deadline) throw new Error('the waits did not record their interests once the tables appeared');
    }
    await celeryStores('first');
    await celeryStores('second');
    expect(await Promise.all([first, second])).to.deep.equal(['done first', 'done second']);
  });

  it('joinGroup waits for the group to be saved, then for its members', async function () {
    const join = backend.joinGroup('g1', { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    await workerMakesTheTables();
    const setup = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
    const client = new ResultBackend(setup);
    try {
      await client.saveGroup('g1', ['a', 'b']);
      await celeryStores('a');
      await client.markAsDone('b', 'done b');
      expect(await join).to.deep.equal(['done a', 'done b']);
    } finally {
      await client.close();
      await setup.destroy();
    }
  });

  it('joinGroup on a database with the tables still says GroupNotFoundError at once for a group nobody saved', async function () {
    await workerMakesTheTables();
    const error = await rejection(backend.joinGroup('never-saved', { timeoutMs: 20_000 }));
    expect(error).to.have.property('code', 'GROUP_NOT_FOUND');
  });
});
