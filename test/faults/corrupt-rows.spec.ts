import { expect } from 'chai';
import { PickleDecodeError, ResultDecodeError, UnsafePickleError, encodePickle } from '../../lib';
import { BackendFixture, openBackend, rejection } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

/** A pickle that asks for os.system: what a hostile writer would put in a row. */
const HOSTILE = Buffer.concat([Buffer.from([0x80, 0x04]), Buffer.from('\x8c\x02os\x94\x8c\x06system\x94\x93\x94.', 'latin1')]);

describe('Corrupted bytes in one row fail that row alone, with a typed error that names it', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  beforeEach(async () => {
    f = await openBackend(db.current().url, { codec: 'celery' });
    await f.backend.saveGroup('g', ['ok-1', 'truncated', 'hostile', 'ok-2']);
    for (const id of ['ok-1', 'truncated', 'hostile', 'ok-2']) await f.backend.markAsDone(id, { id });
    await query(db.current().url, "UPDATE celery_taskmeta SET result = substring(result FROM 1 FOR 7) WHERE task_id = 'truncated'");
    await query(db.current().url, "UPDATE celery_taskmeta SET result = $1 WHERE task_id = 'hostile'", [HOSTILE]);
  });
  afterEach(async () => f.close());

  it('getTaskMeta: the bad rows reject with ResultDecodeError naming row and column, the codec’s error as cause; the others read', async () => {
    const truncated = await rejection(f.backend.getTaskMeta('truncated'));
    expect(truncated).to.be.instanceOf(ResultDecodeError);
    expect((truncated as ResultDecodeError).row).to.deep.equal({ kind: 'task', id: 'truncated', column: 'result' });
    expect((truncated as Error).message).to.match(/^The result of task truncated cannot be decoded, so this row cannot be read: Pickle is malformed/);
    expect((truncated as Error).cause).to.be.instanceOf(PickleDecodeError);

    const hostile = await rejection(f.backend.getTaskMeta('hostile'));
    expect(hostile).to.be.instanceOf(ResultDecodeError);
    expect((hostile as Error).cause).to.be.instanceOf(UnsafePickleError);
    expect((hostile as Error).message).to.include('os.system');

    expect((await f.backend.getTaskMeta('ok-1')).result).to.deep.equal({ id: 'ok-1' });
    expect((await f.backend.getTaskMeta('ok-2')).result).to.deep.equal({ id: 'ok-2' });
  });

  it('joinGroup rejects with the first bad member’s error by default, as a failed member would', async () => {
    const error = await rejection(f.backend.joinGroup('g', { timeoutMs: 5_000 }));
    expect(error).to.be.instanceOf(ResultDecodeError);
    expect((error as ResultDecodeError).row?.id).to.equal('truncated');
  });

  it('joinGroup with propagate: false gives each bad member its error in its place, and the others their values', async () => {
    const values = await f.backend.joinGroup<unknown>('g', { timeoutMs: 5_000, propagate: false });
    expect(values).to.have.length(4);
    expect(values[0]).to.deep.equal({ id: 'ok-1' });
    expect(values[1]).to.be.instanceOf(ResultDecodeError).and.to.have.nested.property('row.id', 'truncated');
    expect(values[2]).to.be.instanceOf(ResultDecodeError).and.to.have.nested.property('row.id', 'hostile');
    expect(values[3]).to.deep.equal({ id: 'ok-2' });
  });

  it('a corrupted group row rejects restoreGroup with the group named', async () => {
    await query(db.current().url, "UPDATE celery_tasksetmeta SET result = $1 WHERE taskset_id = 'g'", [encodePickle(42).subarray(0, 3)]);
    const error = await rejection(f.backend.restoreGroup('g'));
    expect(error).to.be.instanceOf(ResultDecodeError);
    expect((error as ResultDecodeError).row).to.deep.equal({ kind: 'group', id: 'g', column: 'result' });
  });
});
