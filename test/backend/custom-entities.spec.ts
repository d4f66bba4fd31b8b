import { expect } from 'chai';
import { Column, Entity } from 'typeorm';
import { AbstractTaskMeta, AbstractTaskSetMeta, InvalidOptionError, NotInitializedError, ResultBackend, defineCeleryEntities } from '../../lib';
import { openBackend, rejection } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

@Entity({ name: 'tenant_results', schema: 'results' })
class TenantTaskMeta extends AbstractTaskMeta {
  static override readonly idSequence = 'tenant_results_id_seq';

  @Column({ type: 'varchar', length: 40, nullable: true })
  tenant!: string | null;
}

@Entity({ name: 'tenant_groups', schema: 'results' })
class TenantGroupMeta extends AbstractTaskSetMeta {}

describe('ResultBackend with custom entities', () => {
  const db = useTestDatabase();

  it('works with a subclass that adds a column, under another table name and schema', async () => {
    const f = await openBackend(db.current().url, { entities: { task: TenantTaskMeta, group: TenantGroupMeta } }, { entities: [TenantTaskMeta, TenantGroupMeta] });
    try {
      await f.backend.storeResult('t1', 'ok', 'SUCCESS', { extra: { tenant: 'acme' } });
      await f.backend.saveGroup('g', ['t1']);
      expect(await f.backend.joinGroup('g', { timeoutMs: 5000 })).to.deep.equal(['ok']);
      expect(await query(db.current().url, 'SELECT id, task_id, tenant FROM results.tenant_results')).to.deep.equal([{ id: 1, task_id: 't1', tenant: 'acme' }]);
      expect(await query(db.current().url, "SELECT to_regclass('results.tenant_results_id_seq') IS NOT NULL AS seq, to_regclass('results.taskset_id_sequence') IS NOT NULL AS gseq")).to.deep.equal([{ seq: true, gseq: true }]);
    } finally {
      await f.close();
    }
  });

  it('works with defineCeleryEntities, like Celery’s database_table_names and database_table_schemas', async () => {
    const { TaskMeta, TaskSetMeta } = defineCeleryEntities({ taskTable: 'myapp_taskmeta', groupTable: 'myapp_groupmeta', schema: 'celery' });
    const f = await openBackend(db.current().url, { entities: { task: TaskMeta, group: TaskSetMeta } }, { entities: [TaskMeta, TaskSetMeta] });
    try {
      await f.backend.markAsDone('t', 5);
      expect(await query(db.current().url, "SELECT status FROM celery.myapp_taskmeta WHERE task_id = 't'")).to.deep.equal([{ status: 'SUCCESS' }]);
      expect(await query(db.current().url, "SELECT nextval('celery.task_id_sequence') AS n")).to.deep.equal([{ n: '2' }]);
    } finally {
      await f.close();
    }
  });

  it('takes what defineCeleryEntities returns as it is, and refuses any other shape', async () => {
    const pair = defineCeleryEntities({ taskTable: 'pair_taskmeta', groupTable: 'pair_groupmeta' });
    const f = await openBackend(db.current().url, { entities: pair }, { entities: [pair.TaskMeta, pair.TaskSetMeta] });
    try {
      await f.backend.markAsDone('t', 5);
      expect(await query(db.current().url, "SELECT status FROM pair_taskmeta WHERE task_id = 't'")).to.deep.equal([{ status: 'SUCCESS' }]);
      // A misspelt key would otherwise fall back to Celery's default tables without a word.
      expect(() => new ResultBackend(f.ds, { entities: { tasks: pair.TaskMeta } as never })).to.throw(InvalidOptionError, /entities is an object with the keys tasks.*\{ task, group \}.*\{ TaskMeta, TaskSetMeta \}/);
      expect(() => new ResultBackend(f.ds, { entities: [pair.TaskMeta] as never })).to.throw(InvalidOptionError, /keys 0/);
    } finally {
      await f.close();
    }
  });

  it('says the DataSource is not initialized yet, rather than that the entity is unknown', async () => {
    const { DataSource } = await import('typeorm');
    const ds = new DataSource({ type: 'postgres', url: db.current().url, entities: [TenantTaskMeta, TenantGroupMeta] });
    const error = await rejection(new ResultBackend(ds, { entities: { task: TenantTaskMeta, group: TenantGroupMeta } }).getTaskMeta('x'));
    expect(error).to.be.instanceOf(NotInitializedError);
    expect((error as Error).message).to.match(/The ResultBackend needs an initialized DataSource/);
  });

  it('refuses an entity that does not extend AbstractTaskMeta, or that the DataSource does not know', async () => {
    class Stranger {}
    const f = await openBackend(db.current().url);
    try {
      const notCelery = new ResultBackend(f.ds, { entities: { task: Stranger as never } });
      expect(await rejection(notCelery.getTaskMeta('x'))).to.be.instanceOf(InvalidOptionError).with.property('message').match(/does not extend AbstractTaskMeta/);
      const unknown = new ResultBackend(f.ds, { entities: { task: TenantTaskMeta } });
      expect(await rejection(unknown.getTaskMeta('x'))).to.be.instanceOf(InvalidOptionError).with.property('message').match(/the DataSource does not know/);
      expect(() => defineCeleryEntities({ taskTable: 'x'.repeat(64) })).to.throw(InvalidOptionError, /at most 63 bytes/);
    } finally {
      await f.close();
    }
  });
});
