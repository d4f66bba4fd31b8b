import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MariaDbTaskMeta, MariaDbTaskSetMeta, ResultBackend, SafeSynchronizer } from '../../lib';
import { requireMySql, useMySqlDatabase } from '../support/mariadb';
import { PYTHON } from './peer';

const PEER = join(__dirname, '..', '..', '..', 'test', 'interop', 'celery_mysql_peer.py');

/** One command of real Celery 5.2.6's DatabaseBackend on MariaDB (PyMySQL), in a fresh Python process. */
function celery<T>(url: string, ...args: string[]): T {
  const sqlalchemyUrl = url.replace(/^mysql:/, 'mysql+pymysql:');
  const run = spawnSync(PYTHON, [PEER, ...args, '--url', sqlalchemyUrl], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`celery_mysql_peer ${args[0]} failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as T;
}

describe('Rows shared with real Celery on MariaDB (Celery 5.2.6, SQLAlchemy, PyMySQL)', function () {
  this.timeout(120_000);
  requireMySql();
  const db = useMySqlDatabase();

  it('tables made by SafeSynchronizer take Celery’s writes; each side reads what the other stored, results and groups', async () => {
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url: db.current().url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true }));
    const backend = new ResultBackend(ds, { codec: 'celery' });
    try {
      // Celery draws ids from task_id_sequence: the sync created it with the table.
      celery(db.current().url, 'store', 'py-1', 'SUCCESS', '{"sum": 3}', '--name', 'proj.add', '--args', '[1, 2]', '--worker', 'celery@w1');
      expect(await backend.getTaskMeta('py-1')).to.deep.include({ status: 'SUCCESS', result: { sum: 3 }, name: 'proj.add', args: [1, 2], worker: 'celery@w1' });

      await backend.markAsDone('node-1', { answer: 42 }, { name: 'node.task', retries: 1 });
      const read = celery<{ status: string; result: unknown; name: string; retries: number }>(db.current().url, 'read', 'node-1');
      expect(read).to.deep.include({ status: 'SUCCESS', result: { answer: 42 }, name: 'node.task', retries: 1 });

      celery(db.current().url, 'save-group', 'py-group', 'py-1', 'node-1', '--app-bound');
      expect((await backend.restoreGroup('py-group'))?.taskIds).to.deep.equal(['py-1', 'node-1']);
      expect(await backend.joinGroup('py-group', { timeoutMs: 5_000 })).to.deep.equal([{ sum: 3 }, { answer: 42 }]);

      await backend.saveGroup('node-group', ['node-1', 'py-1']);
      expect(celery<{ found: boolean; task_ids: string[] }>(db.current().url, 'restore-group', 'node-group')).to.deep.include({ found: true, task_ids: ['node-1', 'py-1'] });

      // Ids drawn by both sides from the one sequence never collide.
      const ids = (await ds.query('SELECT id FROM celery_taskmeta ORDER BY id')) as { id: number }[];
      expect(new Set(ids.map((r) => r.id)).size).to.equal(ids.length);
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });

  it('on tables Celery made itself (create_all on first store), SafeSynchronizer adds only the date_done indexes, and Node writes into them', async () => {
    celery(db.current().url, 'store', 'first', 'STARTED', 'null');
    let statements: string[] = [];
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'mariadb', url: db.current().url, entities: [MariaDbTaskMeta, MariaDbTaskSetMeta], synchronize: true }), {
      onSynchronized: (r) => (statements = r.statements),
    });
    const backend = new ResultBackend(ds, { codec: 'celery' });
    try {
      const pending = await new SafeSynchronizer(ds).pendingStatements();
      // Celery makes no index on date_done; expiry cleanup needs one. Nothing else differs.
      expect(statements, statements.join('\n')).to.have.length(2);
      expect(statements.every((s) => /^CREATE INDEX `IDX_\w+` ON `celery_task(set)?meta` \(`date_done`\)$/.test(s)), statements.join('\n')).to.equal(true);
      expect(pending).to.deep.equal([]);
      await backend.markAsDone('first', 'from node');
      expect(celery<{ status: string; result: unknown }>(db.current().url, 'read', 'first')).to.deep.include({ status: 'SUCCESS', result: 'from node' });
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });
});
