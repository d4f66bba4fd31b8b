import { expect } from 'chai';
import { createConnection } from 'mysql2/promise';
import { DataSource } from 'typeorm';
import {
  MariaDbTaskMeta,
  MariaDbTaskSetMeta,
  MySqlTaskMeta,
  MySqlTaskSetMeta,
  PayloadTooLargeError,
  ResultBackend,
  SafeSynchronizer,
  TaskFailedError,
  TaskMeta,
  TaskSetMeta,
  InvalidOptionError,
} from '../../lib';
import { rejection } from '../support/backend';
import { requireMySql, useMySqlDatabase } from '../support/mariadb';

describe('ResultBackend on MySQL/MariaDB', function () {
  this.timeout(60_000);
  requireMySql();
  const db = useMySqlDatabase();

  for (const [label, type, entities] of [
    ['MariaDB, ids from Celery’s sequences', 'mariadb', [MariaDbTaskMeta, MariaDbTaskSetMeta]],
    ['MySQL’s layout, AUTO_INCREMENT ids', 'mysql', [MySqlTaskMeta, MySqlTaskSetMeta]],
  ] as const) {
    describe(label, () => {
      let ds: DataSource;
      let backend: ResultBackend;
      beforeEach(async () => {
        ds = await SafeSynchronizer.initialize(new DataSource({ type, url: db.current().url, entities: [...entities], synchronize: true, poolSize: 4 }));
        backend = new ResultBackend(ds, { pollIntervalMs: 50 });
      });
      afterEach(async () => {
        await backend.close();
        await ds.destroy();
      });

      it('stores and reads a result with its extended fields; a ready state is never overwritten by a late non-ready one', async () => {
        expect(await backend.markAsStarted('t1', { progress: 1 }, { name: 'proj.add', worker: 'w1', args: [1, 2], kwargs: { k: 'v' }, retries: 0, queue: 'default' })).to.deep.equal({ applied: true });
        expect(await backend.markAsDone('t1', { sum: 3 })).to.deep.equal({ applied: true });
        expect(await backend.markAsDone('t1', { sum: 3 })).to.deep.equal({ applied: true });
        expect(await backend.markAsStarted('t1', null)).to.deep.equal({ applied: false });
        const meta = await backend.getTaskMeta('t1');
        expect(meta).to.deep.include({ taskId: 't1', status: 'SUCCESS', result: { sum: 3 }, name: 'proj.add', worker: 'w1', args: [1, 2], kwargs: { k: 'v' }, retries: 0, queue: 'default' });
        // Naive UTC in a DATETIME, read as the right instant whatever the session time zone.
        expect(Math.abs(meta.dateDone!.getTime() - Date.now())).to.be.lessThan(5_000);
        expect(await backend.forget('t1')).to.equal(true);
        expect((await backend.getTaskMeta('t1')).status).to.equal('PENDING');
      });

      it('a wait polls, batched, and resolves once another connection stores the result; failures propagate', async () => {
        const waiting = backend.waitForResult('late', { timeoutMs: 10_000 });
        const other = new ResultBackend(ds);
        await new Promise((r) => setTimeout(r, 100));
        await other.markAsDone('late', 'done');
        expect(await waiting).to.equal('done');
        await other.markAsFailure('bad', new TypeError('nope'));
        expect(await rejection(backend.waitForResult('bad', { timeoutMs: 5_000 }))).to.be.instanceOf(TaskFailedError);
      });

      it('saves, restores and joins a group in task order', async () => {
        await backend.saveGroup('g', ['a', 'b', 'c']);
        const joined = backend.joinGroup('g', { timeoutMs: 10_000 });
        for (const id of ['c', 'a', 'b']) await backend.markAsDone(id, id.toUpperCase());
        expect(await joined).to.deep.equal(['A', 'B', 'C']);
        expect((await backend.restoreGroup('g'))?.taskIds).to.deep.equal(['a', 'b', 'c']);
        expect(await backend.deleteGroup('g')).to.equal(true);
      });

      it('cleans up in batches: expired ready rows and groups, and unfinished rows abandoned past their horizon', async () => {
        const cleaner = new ResultBackend(ds, { cleanupBatchSize: 10 });
        for (let i = 0; i < 25; i++) await backend.markAsDone(`old-${i}`, i);
        await backend.markAsStarted('running');
        await backend.saveGroup('old-group', ['old-0']);
        // Celery's DATETIME keeps whole seconds (MariaDB truncates): a horizon of 2 s, and 3 s of age, leave a second either side.
        await new Promise((r) => setTimeout(r, 3_100));
        await backend.markAsDone('fresh', 1);
        expect(await cleaner.cleanup({ olderThanMs: 2_000, unfinishedOlderThanMs: 0 })).to.deep.equal({ tasks: 25, unfinishedTasks: 0, groups: 1 });
        // The first cleanup only starts the unfinished row's clock; the next one, past the horizon, removes it.
        expect(await cleaner.cleanup({ olderThanMs: 2_000, unfinishedOlderThanMs: 0 })).to.deep.equal({ tasks: 0, unfinishedTasks: 1, groups: 0 });
        expect((await backend.getTaskMeta('fresh')).status).to.equal('SUCCESS');
      });

      it('refuses a result larger than the BLOB column holds with PayloadTooLargeError, before MySQL would refuse or cut it', async () => {
        const error = await rejection(backend.markAsDone('big', 'x'.repeat(70_000)));
        expect(error).to.be.instanceOf(PayloadTooLargeError);
        expect((error as Error).message).to.match(/over the limit of 65535/);
      });
    });
  }

  it('on a session in another time zone, date_done still reads as the UTC instant it is', async () => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url: db.current().url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true, timezone: '+05:00', extra: { timezone: '+05:00' } }));
    try {
      await ds.query("SET time_zone = '+05:00'");
      const backend = new ResultBackend(ds);
      await backend.markAsDone('tz', 1);
      expect(Math.abs((await backend.getTaskMeta('tz')).dateDone!.getTime() - Date.now())).to.be.lessThan(5_000);
      const raw = await createConnection({ uri: db.current().url });
      const [[row]] = (await raw.query("SELECT DATE_FORMAT(date_done, '%H') AS h, DATE_FORMAT(UTC_TIMESTAMP(), '%H') AS utc FROM celery_taskmeta WHERE task_id = 'tz'")) as unknown as [[{ h: string; utc: string }]];
      await raw.end();
      expect(row.h).to.equal(row.utc);
    } finally {
      await ds.destroy();
    }
  });

  it('refuses the PostgreSQL entities, and a LISTEN connection, on a MariaDB DataSource with typed errors that say what to use', async () => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url: db.current().url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true }));
    try {
      const backend = new ResultBackend(ds, { entities: { task: TaskMeta, group: TaskSetMeta } });
      const error = await rejection(backend.getTaskMeta('x'));
      expect(error).to.be.instanceOf(InvalidOptionError);
      expect((error as Error).message).to.match(/does not extend AbstractMySqlTaskMeta.*MariaDbTaskMeta/);
      expect(() => new ResultBackend(ds, { listenConnection: 'postgres://x' })).to.throw(InvalidOptionError, /listenConnection was given for a mariadb DataSource.*pollIntervalMs/);
    } finally {
      await ds.destroy();
    }
  });
});
