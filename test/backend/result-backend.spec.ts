import { expect } from 'chai';
import {
  BackendClosedError,
  GroupNotFoundError,
  TaskFailedError,
  TaskRevokedError,
  WaitTimeoutError,
} from '../../lib';
import { BackendFixture, openBackend, rejection } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

describe('ResultBackend', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  beforeEach(async () => {
    f = await openBackend(db.current().url, { recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
  });
  afterEach(async () => f.close());

  describe('storing and reading', () => {
    it('stores a result with its extended fields and reads it back', async () => {
      await f.backend.storeResult('t1', { sum: 3 }, 'SUCCESS', { name: 'proj.add', args: [1, 2], kwargs: { x: 'y' }, worker: 'w1@host', retries: 0, queue: 'celery' });
      const meta = await f.backend.getTaskMeta('t1');
      expect(meta).to.deep.include({ taskId: 't1', status: 'SUCCESS', result: { sum: 3 }, traceback: null, name: 'proj.add', args: [1, 2], kwargs: { x: 'y' }, worker: 'w1@host', retries: 0, queue: 'celery' });
      expect(meta.dateDone).to.be.instanceOf(Date);
      expect(Math.abs(meta.dateDone!.getTime() - Date.now())).to.be.below(60_000);
    });

    it('writes date_done as naive UTC, and only for ready states', async () => {
      await f.backend.storeResult('ready', 1, 'SUCCESS');
      await f.backend.markAsStarted('running');
      const rows = await query(db.current().url, "SELECT task_id, abs(extract(epoch FROM date_done - (now() AT TIME ZONE 'UTC'))) < 60 AS utc FROM celery_taskmeta ORDER BY task_id");
      expect(rows).to.deep.equal([{ task_id: 'ready', utc: true }, { task_id: 'running', utc: null }]);
    });

    it('stores a None result as SQL NULL, as Celery does', async () => {
      await f.backend.markAsDone('nothing', null);
      expect(await query(db.current().url, 'SELECT result FROM celery_taskmeta')).to.deep.equal([{ result: null }]);
      expect((await f.backend.getTaskMeta('nothing')).result).to.equal(null);
    });

    it('reads an unknown id as PENDING with everything else null', async () => {
      expect(await f.backend.getTaskMeta('never-stored')).to.deep.equal({
        taskId: 'never-stored', status: 'PENDING', result: null, dateDone: null, traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null,
      });
    });

    it('stores a failure as Celery does: exc_type, exc_message as the args list, exc_module, and the stack as traceback', async () => {
      await f.backend.markAsFailure('bad', new TypeError('boom'));
      const meta = await f.backend.getTaskMeta('bad');
      expect(meta.status).to.equal('FAILURE');
      expect(meta.result).to.deep.equal({ exc_type: 'TypeError', exc_message: ['boom'], exc_module: 'builtins' });
      expect(meta.traceback).to.contain('TypeError: boom');
    });

    it('keeps the extended fields of an earlier write when a later one omits them', async () => {
      await f.backend.markAsStarted('t', { pid: 1 }, { name: 'proj.slow', worker: 'w1' });
      await f.backend.markAsDone('t', 'ok');
      expect(await f.backend.getTaskMeta('t')).to.deep.include({ status: 'SUCCESS', result: 'ok', name: 'proj.slow', worker: 'w1' });
    });
  });

  describe('state precedence', () => {
    it('keeps SUCCESS when a late STARTED arrives, and says the late write was not applied', async () => {
      expect(await f.backend.markAsDone('t', 7)).to.deep.equal({ applied: true });
      expect(await f.backend.markAsStarted('t')).to.deep.equal({ applied: false });
      expect(await f.backend.getTaskMeta('t')).to.deep.include({ status: 'SUCCESS', result: 7 });
    });

    it('keeps a ready state against every non-ready one, custom progress states included', async () => {
      const b = f.backend;
      await b.markAsRevoked('r');
      for (const state of ['PENDING', 'RECEIVED', 'STARTED', 'RETRY']) expect(await b.storeResult('r', null, state), state).to.deep.equal({ applied: false });
      expect((await b.getTaskMeta('r')).status).to.equal('REVOKED');
    });

    it('lets the last ready write win, as Celery does', async () => {
      await f.backend.markAsDone('t', 1);
      await f.backend.markAsFailure('t', new Error('late'));
      expect((await f.backend.getTaskMeta('t')).status).to.equal('FAILURE');
    });
  });

  describe('waiting', () => {
    it('wakes on the NOTIFY sent when another connection’s store commits (polling is off here)', async () => {
      const other = await openBackend(db.current().url);
      try {
        const waiting = f.backend.waitForResult('w', { timeoutMs: 20_000 });
        await new Promise((r) => setTimeout(r, 100));
        await other.backend.markAsStarted('w');
        await other.backend.markAsDone('w', { answer: 42 });
        expect(await waiting).to.deep.equal({ answer: 42 });
      } finally {
        await other.close();
      }
    });

    it('resolves at once for a result stored before the wait began', async () => {
      await f.backend.markAsDone('early', 'here');
      expect(await f.backend.waitForResult('early', { timeoutMs: 5000 })).to.equal('here');
    });

    it('rejects with WaitTimeoutError when the task is not ready in time', async () => {
      await f.backend.markAsStarted('slow');
      const error = await rejection(f.backend.waitForResult('slow', { timeoutMs: 150 }));
      expect(error).to.be.instanceOf(WaitTimeoutError);
      expect((error as WaitTimeoutError).taskIds).to.deep.equal(['slow']);
    });

    it('rejects with TaskFailedError carrying the stored error, or returns it with propagate: false', async () => {
      await f.backend.markAsFailure('f', { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' }, 'Traceback ...');
      const error = await rejection(f.backend.waitForResult('f', { timeoutMs: 5000 }));
      expect(error).to.be.instanceOf(TaskFailedError);
      expect(error).to.deep.include({ taskId: 'f', excType: 'ValueError', excMessage: ['boom'], excModule: 'builtins', traceback: 'Traceback ...' });
      expect(await f.backend.waitForResult('f', { timeoutMs: 5000, propagate: false })).to.deep.equal({ exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' });
    });

    it('rejects with TaskRevokedError for a revoked task', async () => {
      await f.backend.markAsRevoked('r');
      expect(await rejection(f.backend.waitForResult('r'))).to.be.instanceOf(TaskRevokedError);
    });

    it('stops waiting when the signal aborts', async () => {
      const controller = new AbortController();
      const waiting = rejection(f.backend.waitForResult('never', { signal: controller.signal }));
      controller.abort(new Error('caller gave up'));
      expect(await waiting).to.have.property('message', 'caller gave up');
    });

    it('rejects pending waits with BackendClosedError on close', async () => {
      const waiting = rejection(f.backend.waitForResult('never'));
      await new Promise((r) => setTimeout(r, 50));
      await f.backend.close();
      expect(await waiting).to.be.instanceOf(BackendClosedError);
    });

    it('with listen: false, polls instead, for PgBouncer in transaction mode', async () => {
      const polling = await openBackend(db.current().url, { listen: false, pollIntervalMs: 50 });
      try {
        const waiting = polling.backend.waitForResult('p', { timeoutMs: 10_000 });
        await new Promise((r) => setTimeout(r, 100));
        await f.backend.markAsDone('p', 'polled');
        expect(await waiting).to.equal('polled');
        // Neither backend opened a LISTEN connection: the one that waited polls, and the other never waited.
        const listeners = await query(db.current().url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%'");
        expect(listeners).to.deep.equal([{ n: 0 }]);
      } finally {
        await polling.close();
      }
    });

    it('serves every waiter of a backend from one LISTEN connection', async () => {
      const waits = Array.from({ length: 20 }, (_, i) => f.backend.waitForResult(`many-${i}`, { timeoutMs: 20_000 }));
      await new Promise((r) => setTimeout(r, 100));
      // Every wait was recorded by one connection: the backend's one LISTEN connection.
      const listeners = await query(db.current().url, 'SELECT count(DISTINCT pid)::int AS n, count(*)::int AS ids FROM celery_taskmeta_waiters');
      expect(listeners).to.deep.equal([{ n: 1, ids: 20 }]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => f.backend.markAsDone(`many-${i}`, i)));
      expect(await Promise.all(waits)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    });
  });

  describe('groups', () => {
    it('saves, restores, joins in task order, and deletes a group', async () => {
      await f.backend.saveGroup('g', ['c', 'a', 'b']);
      expect(await f.backend.restoreGroup('g')).to.deep.include({ groupId: 'g', taskIds: ['c', 'a', 'b'] });
      const joined = f.backend.joinGroup('g', { timeoutMs: 20_000 });
      await f.backend.markAsDone('a', 'A');
      await new Promise((r) => setTimeout(r, 50));
      await f.backend.markAsDone('b', 'B');
      await f.backend.markAsDone('c', 'C');
      expect(await joined).to.deep.equal(['C', 'A', 'B']);
      expect(await f.backend.deleteGroup('g')).to.equal(true);
      expect(await f.backend.restoreGroup('g')).to.equal(null);
      expect(await f.backend.deleteGroup('g')).to.equal(false);
    });

    it('rejects joining a group that was never saved with GroupNotFoundError', async () => {
      expect(await rejection(f.backend.joinGroup('nope'))).to.be.instanceOf(GroupNotFoundError);
    });

    it('times out a join naming the tasks still missing', async () => {
      await f.backend.saveGroup('g', ['x', 'y']);
      await f.backend.markAsDone('x', 1);
      const error = await rejection(f.backend.joinGroup('g', { timeoutMs: 100 }));
      expect(error).to.be.instanceOf(WaitTimeoutError);
      expect((error as WaitTimeoutError).taskIds).to.deep.equal(['y']);
    });
  });

  describe('forgetting', () => {
    it('removes the row, so the task reads as PENDING again', async () => {
      await f.backend.markAsDone('t', 1);
      expect(await f.backend.forget('t')).to.equal(true);
      expect((await f.backend.getTaskMeta('t')).status).to.equal('PENDING');
      expect(await f.backend.forget('t')).to.equal(false);
    });
  });

  describe('transient failures', () => {
    it('retries a statement whose connection was terminated (57P01) and succeeds', async () => {
      await f.backend.markAsDone('before', 1);
      await query(db.current().url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'trb-test' AND datname = current_database() AND query NOT LIKE 'LISTEN%'");
      await f.backend.markAsDone('after', 2);
      expect((await f.backend.getTaskMeta('after')).result).to.equal(2);
    });
  });
});
