import { expect } from 'chai';
import { CeleryGroupResult, celeryCodec, decodePickle, jsonCodec, kombuJson } from '../../lib';
import { celeryFixture } from '../support/fixtures';

interface Row { case: string; columns: Record<string, string | number | null> }
const rows = (JSON.parse(celeryFixture('rows.json')) as { rows: Row[] }).rows;
const column = (name: string, col: string) => Buffer.from(String(rows.find((r) => r.case === name)!.columns[col]), 'hex');

describe('The celery codec', () => {
  it('writes args and kwargs byte for byte as kombu does (ensure_ascii, ", " and ": ")', () => {
    expect(kombuJson([2, 'x', { k: [1, 2] }])).to.deep.equal(column('extended_success', 'args'));
    expect(kombuJson({ flag: true, name: 'café' })).to.deep.equal(column('extended_success', 'kwargs'));
  });

  it('reads the group Celery saved as its member ids, without the backend URL inside it', () => {
    const bytes = column('group_save_group', 'result');
    expect(celeryCodec.decodeGroup(bytes)).to.deep.equal(['task-int', 'task-str']);
    expect(jsonCodec.decodeGroup(bytes), 'the json codec detects the pickle too').to.deep.equal(['task-int', 'task-str']);
    expect(JSON.stringify(decodePickle(bytes))).not.to.contain('postgresql');
  });

  it('writes a group as a pickled GroupResult of AsyncResults', () => {
    const decoded = decodePickle(celeryCodec.encodeGroup('g1', ['a', 'b']));
    expect(decoded).to.be.instanceOf(CeleryGroupResult);
    expect((decoded as CeleryGroupResult).results.map((r) => r.id)).to.deep.equal(['a', 'b']);
  });

  it('pickles results, and stores a failure’s exc_message as a tuple, as Celery does', () => {
    expect(celeryCodec.decodeResult(celeryCodec.encodeResult({ sum: 3 }))).to.deep.equal({ sum: 3 });
    const failure = celeryCodec.decodeResult(celeryCodec.encodeResult({ exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' })) as Record<string, unknown>;
    expect(failure.exc_message).to.have.property('constructor').with.property('name', 'PyTuple');
    expect([...(failure.exc_message as unknown[])]).to.deep.equal(['boom']);
  });

  it('reads Celery’s pickled rows and our JSON rows alike, whichever codec is configured', () => {
    for (const codec of [jsonCodec, celeryCodec]) {
      expect(codec.decodeResult(column('int', 'result'))).to.equal(42);
      expect(codec.decodeResult(Buffer.from('{"a":1}'))).to.deep.equal({ a: 1 });
    }
  });
});
