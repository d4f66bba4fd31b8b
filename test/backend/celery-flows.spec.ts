import { expect } from 'chai';
import { CeleryAsyncResult, CeleryGroupResult, ResultDecodeError, TaskFailedError, decodePickle, resultFromTuple } from '../../lib';
import { openBackend } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { celeryFixture } from '../support/fixtures';
import { query } from '../support/pg-client';

type Row = Record<string, string | number | null>;
interface Flow {
  case: string;
  tasks: Record<string, Row>;
  groups: Record<string, Row>;
  python: unknown;
}

const { flows } = JSON.parse(celeryFixture('flows.json')) as { flows: Flow[] };
const flow = (name: string): Flow => flows.find((f) => f.case === name)!;
const BYTEA = new Set(['result', 'args', 'kwargs']);

/** Puts the rows real workers wrote back into a table, byte for byte. */
async function load(url: string): Promise<void> {
  for (const f of flows) {
    for (const [table, rows] of [['celery_taskmeta', f.tasks], ['celery_tasksetmeta', f.groups]] as const) {
      for (const r of Object.values(rows)) {
        const columns = Object.keys(r);
        const values = columns.map((c) => (BYTEA.has(c) && r[c] !== null ? Buffer.from(String(r[c]), 'hex') : r[c]));
        await query(url, `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`, values);
      }
    }
  }
}

/**
 * test/fixtures/celery/flows.json holds what real Celery 5.2.6 prefork workers wrote
 * for whole flows (scripts/celery-fixtures/flows.py); the ResultBackend reads them all.
 */
describe('The rows real Celery workers wrote for whole flows', () => {
  const db = useTestDatabase();

  it('covers delay, apply_async, a saved group, a chain, a chord, a failure, retries and a revoked task', () => {
    expect(flows.map((f) => f.case)).to.deep.equal([
      'delay', 'apply_async', 'group_saved_by_client', 'chain', 'chord',
      'task_returned_chain', 'task_returned_group', 'failure', 'retried_then_succeeded', 'retrying', 'revoked',
    ]);
  });

  it('read back as Python read them, with the result_extended columns', async () => {
    const f = await openBackend(db.current().url, { codec: 'celery' });
    try {
      await load(db.current().url);
      const b = f.backend;
      const [delayId] = Object.keys(flow('delay').tasks);
      const delay = await b.getTaskMeta(delayId);
      expect(delay).to.deep.include({ status: 'SUCCESS', result: 49, name: 'proj.square', args: [7], kwargs: {} });
      expect(delay.worker).to.match(/^fx\d-/);
      expect(await b.waitForResult(Object.keys(flow('apply_async').tasks)[0], { timeoutMs: 1000 })).to.equal(5);

      const [groupId] = Object.keys(flow('group_saved_by_client').groups);
      expect(await b.restoreGroup(groupId)).to.deep.include({ taskIds: Object.keys(flow('group_saved_by_client').tasks) });
      expect(await b.joinGroup(groupId, { timeoutMs: 1000 })).to.deep.equal([0, 1, 4]);

      // The chain's links, last first, as Python's parent walk listed them.
      expect(await Promise.all(Object.keys(flow('chain').tasks).map((id) => b.waitForResult(id, { timeoutMs: 1000 })))).to.deep.equal([113, 13, 3]);

      const [bodyId] = Object.keys(flow('chord').tasks);
      const [headerId] = Object.keys(flow('chord').groups);
      expect(await b.waitForResult(bodyId, { timeoutMs: 1000 })).to.equal(5);
      expect(await b.joinGroup(headerId, { timeoutMs: 1000 })).to.deep.equal([0, 1, 4]);

      const failure = await b.waitForResult(Object.keys(flow('failure').tasks)[0], { timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(failure).to.be.instanceOf(TaskFailedError).and.include({ excType: 'ValueError', excModule: 'builtins' });
      expect((failure as TaskFailedError).traceback).to.contain('ValueError: boom');

      expect(await b.waitForResult(Object.keys(flow('retried_then_succeeded').tasks)[0], { timeoutMs: 1000 })).to.equal('ok after 1 retries');
      const retrying = await b.getTaskMeta(Object.keys(flow('retrying').tasks)[0]);
      expect(retrying).to.deep.include({ status: 'RETRY', dateDone: null, name: 'proj.retry_later' });
      expect(retrying.result).to.deep.include({ exc_type: 'RuntimeError', exc_module: 'builtins' });
      const revoked = await b.waitForResult(Object.keys(flow('revoked').tasks)[0], { timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(revoked).to.have.property('code', 'TASK_REVOKED');

      // A task that returned a chain or a group stored Celery's result tuple; resultFromTuple rebuilds it.
      const chain = resultFromTuple(await b.waitForResult(Object.keys(flow('task_returned_chain').tasks)[0], { timeoutMs: 1000 }));
      const ids: string[] = [];
      for (let link: unknown = chain; link instanceof CeleryAsyncResult; link = link.parent) ids.push(link.id);
      expect(ids).to.have.length(3);
      const returnedGroup = resultFromTuple(await b.waitForResult(Object.keys(flow('task_returned_group').tasks)[0], { timeoutMs: 1000 }));
      expect(returnedGroup).to.be.instanceOf(CeleryGroupResult);
      expect((returnedGroup as CeleryGroupResult).results).to.have.length(3);
    } finally {
      await f.close();
    }
  });

  it('are saved groups of the app-bound kind, whose embedded URL and password are dropped', () => {
    for (const name of ['group_saved_by_client', 'chord']) {
      const raw = Buffer.from(String(Object.values(flow(name).groups)[0].result), 'hex');
      expect(raw.toString('latin1')).to.contain('_unpickle_appattr').and.contain('fx_plain');
      const decoded = decodePickle(raw);
      expect(decoded).to.be.instanceOf(CeleryGroupResult);
      expect(JSON.stringify(decoded)).not.to.contain('fx_plain');
    }
  });

  it('resultFromTuple refuses what is not a result tuple, saying what it reads', () => {
    expect(() => resultFromTuple([1, 2, 3])).to.throw(ResultDecodeError, /is not a Celery result tuple/);
    expect(() => resultFromTuple('just a string')).to.throw(ResultDecodeError, /\(\(id, parent\), children\)/);
  });
});
