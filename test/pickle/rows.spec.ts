import { expect } from 'chai';
import {
  CeleryAsyncResult,
  CeleryGroupResult,
  PyException,
  PyTuple,
  type PyValue,
  decodePickle,
  tuple,
} from '../../lib/celery/pickle';
import { type CeleryRow, celeryRows, hex, pythonRepr } from './support';

/** What each row's result column must decode to. A row added to rows.json without an entry here fails the suite. */
const EXPECTED: Record<string, PyValue | 'no result column'> = {
  int: 42,
  str: 'hello',
  unicode_str: 'héllo wörld ✓ 日本語 😀',
  float: 3.14,
  none: 'no result column',
  bool_true: true,
  list: [1, 'a', null, 2.5, true],
  nested_dict: { a: { b: [1, 2, { c: null }] }, x: 'y', n: 1.5 },
  failure_valueerror: { exc_type: 'ValueError', exc_message: tuple('boom'), exc_module: 'builtins' },
  started_state: { pid: 123, hostname: 'w1@h' },
  started_then_success_same_row: 7,
  unknown_task_read: 'no result column',
  group_save_group: new CeleryGroupResult('group-1', [new CeleryAsyncResult('task-int'), new CeleryAsyncResult('task-str')]),
  extended_success: { sum: 3 },
};

describe('pickle: the rows Celery 5.2.6 wrote (test/fixtures/celery/rows.json)', () => {
  const rows = celeryRows();
  const byCase = new Map(rows.map((r) => [r.case, r]));

  it('has an expectation for every recorded case, and a recorded case for every expectation', () => {
    expect([...byCase.keys()].sort()).to.deep.equal(Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    describe(`case "${name}"`, () => {
      const row = (): CeleryRow => byCase.get(name) as CeleryRow;

      if (expected === 'no result column') {
        it('stored no result bytes (SQL NULL), so there is nothing to decode', () => {
          expect(row().columns.result ?? null).to.equal(null);
        });
        return;
      }

      it('decodes to the documented JavaScript value', () => {
        expect(decodePickle(hex(row().columns.result as string))).to.deep.equal(expected);
      });

      if (name !== 'group_save_group') {
        it("prints like Python's repr of the unpickled value", () => {
          const decoded = decodePickle(hex(row().columns.result as string));
          expect(pythonRepr(decoded)).to.equal(row().analysis.result?.unpickled_repr);
        });
      }
    });
  }

  it('decodes str-keyed dicts as null-prototype objects, so keys cannot reach Object.prototype', () => {
    const v = decodePickle(hex(byCase.get('nested_dict')?.columns.result as string)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).to.equal(null);
    expect(Object.keys(v)).to.deep.equal(['a', 'x', 'n']);
  });

  it('decodes the failure dict with exc_message as a PyTuple (Python args tuple)', () => {
    const v = decodePickle(hex(byCase.get('failure_valueerror')?.columns.result as string)) as Record<string, unknown>;
    expect(v.exc_message).to.be.instanceOf(PyTuple);
    expect(Object.isFrozen(v.exc_message)).to.equal(true);
    expect(v).not.to.be.instanceOf(PyException); // a dict stays a dict
  });

  it('decodes the saved group and drops the embedded DatabaseBackend and its URL', () => {
    const raw = hex(byCase.get('group_save_group')?.columns.result as string);
    expect(raw.toString('latin1'), 'the stored bytes do carry the URL and its password').to.include('fx_plain@127.0.0.1');
    const v = decodePickle(raw);
    expect(v).to.be.instanceOf(CeleryGroupResult);
    const json = JSON.stringify(v);
    expect(json).to.equal('{"id":"group-1","results":[{"id":"task-int","parent":null},{"id":"task-str","parent":null}]}');
    for (const secret of ['postgresql', 'postgres@', '127.0.0.1', 'fx_plain', 'dburi', 'DatabaseBackend']) expect(json).not.to.include(secret);
  });
});
