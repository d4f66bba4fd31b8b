import { expect } from 'chai';
import {
  PyDate,
  PyDecimal,
  PyException,
  PyFrozenSet,
  PyTime,
  PyTimedelta,
  PyTimezone,
  PyTuple,
  PyUUID,
  type PyValue,
  decodePickle,
  tuple,
} from '../../lib/celery/pickle';
import { hex, pythonDumps } from './support';

interface Case {
  /** A Python expression, pickled by real CPython 3.11 with each protocol 0-5. */
  expr: string;
  /** The decoded value (compared with chai deep equality), or a function with its own assertions. */
  expect: PyValue | ((v: PyValue, protocol: number) => void);
}

const utc = (iso: string): Date => new Date(iso);
const obj = (o: Record<string, PyValue>): Record<string, PyValue> => Object.assign(Object.create(null) as object, o);

const CASES: Case[] = [
  // scalars
  { expr: 'None', expect: null },
  { expr: 'True', expect: true },
  { expr: 'False', expect: false },
  { expr: '0', expect: 0 },
  { expr: '255', expect: 255 },
  { expr: '256', expect: 256 },
  { expr: '65536', expect: 65536 },
  { expr: '-1', expect: -1 },
  { expr: '-2**31', expect: -(2 ** 31) },
  { expr: '2**31', expect: 2 ** 31 },
  { expr: '2**53 - 1', expect: Number.MAX_SAFE_INTEGER },
  { expr: '-(2**53 - 1)', expect: Number.MIN_SAFE_INTEGER },
  { expr: '2**53', expect: 2n ** 53n },
  { expr: '-2**63', expect: -(2n ** 63n) },
  { expr: '2**200', expect: 2n ** 200n },
  { expr: '-(2**200) + 1', expect: -(2n ** 200n) + 1n },
  { expr: '1.5', expect: 1.5 },
  { expr: '1.0', expect: 1 }, // documented: an integral float reads as a number like any int
  { expr: '-0.0', expect: (v) => expect(Object.is(v, -0)).to.equal(true) },
  { expr: "float('nan')", expect: (v) => expect(Number.isNaN(v)).to.equal(true) },
  { expr: "float('-inf')", expect: -Infinity },
  { expr: '1e300', expect: 1e300 },
  // text and bytes
  { expr: "''", expect: '' },
  { expr: "'héllo wörld ✓ 日本語 😀'", expect: 'héllo wörld ✓ 日本語 😀' },
  { expr: "'back\\\\slash\\nnew\\rline\\x00nul\\x1asub'", expect: 'back\\slash\nnew\rline\x00nul\x1asub' },
  { expr: "'\\ud800 lone surrogate'", expect: '\ud800 lone surrogate' },
  { expr: "'x' * 300", expect: 'x'.repeat(300) },
  { expr: "b''", expect: Buffer.alloc(0) },
  { expr: "b'ab\\x00\\xff'", expect: Buffer.from([0x61, 0x62, 0x00, 0xff]) },
  { expr: "b'y' * 300", expect: Buffer.alloc(300, 'y') },
  { expr: "bytearray(b'ab\\xff')", expect: Buffer.from([0x61, 0x62, 0xff]) },
  // containers
  { expr: '[]', expect: [] },
  { expr: '[1, [2, [3, []]]]', expect: [1, [2, [3, []]]] },
  { expr: 'list(range(2500))', expect: Array.from({ length: 2500 }, (_, i) => i) },
  { expr: '()', expect: (v) => expect(v).to.be.instanceOf(PyTuple).and.have.length(0) },
  { expr: "(1, 'a', None, (2,))", expect: tuple<PyValue>(1, 'a', null, tuple(2)) },
  { expr: '(1, 2, 3, 4, 5)', expect: (v) => expect(v).to.be.instanceOf(PyTuple).and.deep.equal([1, 2, 3, 4, 5]) },
  { expr: '{}', expect: obj({}) },
  { expr: "{'a': 1, 'b': [1, 2], 'c': {'d': None}}", expect: obj({ a: 1, b: [1, 2], c: obj({ d: null }) }) },
  {
    expr: "{'__proto__': 1, 'constructor': 2, 'toString': 3}",
    expect: (v) => {
      expect(Object.getPrototypeOf(v)).to.equal(null);
      expect(Object.keys(v as object)).to.deep.equal(['__proto__', 'constructor', 'toString']);
      expect((v as Record<string, unknown>)['__proto__']).to.equal(1);
    },
  },
  {
    expr: "{1: 'int', (1, 2): 'tuple', None: 'none', 'k': 'str', b'b': 'bytes'}",
    expect: (v) => {
      expect(v).to.be.instanceOf(Map);
      const m = v as Map<PyValue, PyValue>;
      expect([...m.values()]).to.deep.equal(['int', 'tuple', 'none', 'str', 'bytes']);
      expect([...m.keys()]).to.deep.equal([1, tuple(1, 2), null, 'k', Buffer.from('b')]);
      expect(m.get(1)).to.equal('int');
      expect(m.get(null)).to.equal('none');
    },
  },
  {
    expr: '{1, 2, 3}',
    expect: (v) => {
      expect(v).to.be.instanceOf(Set).and.deep.equal(new Set([1, 2, 3]));
      expect(v).not.to.be.instanceOf(PyFrozenSet);
    },
  },
  { expr: 'frozenset({7})', expect: (v) => expect(v).to.be.instanceOf(PyFrozenSet).and.deep.equal(new Set([7])) },
  { expr: 'set()', expect: new Set() },
  {
    expr: '(lambda shared: [shared, shared, (shared,)])([1])',
    expect: (v) => {
      const [a, b, t] = v as [PyValue[], PyValue[], PyTuple];
      expect(a).to.equal(b); // one object, as in Python
      expect(t[0]).to.equal(a);
    },
  },
  {
    expr: '(lambda l: (l.append(l), l)[1])([])',
    expect: (v) => expect((v as PyValue[])[0]).to.equal(v), // a list that contains itself
  },
  {
    expr: '(lambda l: (l.append((l,)), l)[1])([])',
    expect: (v) => expect(((v as PyValue[])[0] as PyTuple)[0]).to.equal(v), // a cycle through a tuple
  },
  // datetime: naive is read as UTC; microseconds are truncated to milliseconds
  { expr: 'datetime.datetime(2026, 11, 24, 7, 51, 26, 318237)', expect: utc('2026-11-24T07:51:26.318Z') },
  { expr: 'datetime.datetime(1, 1, 1)', expect: (v) => expect((v as Date).toISOString()).to.equal('0001-01-01T00:00:00.000Z') },
  { expr: 'datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)', expect: utc('9999-12-31T23:59:59.999Z') },
  { expr: 'datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)', expect: utc('2024-01-02T03:04:05Z') },
  { expr: 'datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))', expect: utc('2024-01-02T01:04:05Z') },
  { expr: "datetime.datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30), 'X'))", expect: utc('2024-01-01T06:00:00Z') },
  { expr: 'datetime.datetime(2024, 11, 3, 1, 30, fold=1)', expect: utc('2024-11-03T01:30:00Z') },
  { expr: 'datetime.date(2024, 2, 29)', expect: new PyDate(2024, 2, 29) },
  { expr: 'datetime.time(3, 4, 5, 6)', expect: new PyTime(3, 4, 5, 6) },
  // fold is only pickled from protocol 4 on
  { expr: 'datetime.time(23, 59, fold=1)', expect: (v, p) => expect(v).to.deep.equal(new PyTime(23, 59, 0, 0, null, p >= 4 ? 1 : 0)) },
  { expr: 'datetime.time(3, 4, tzinfo=timezone.utc)', expect: new PyTime(3, 4, 0, 0, PyTimezone.UTC) },
  { expr: 'timedelta(days=-1, seconds=5, microseconds=7)', expect: new PyTimedelta(-1, 5, 7) },
  { expr: 'timedelta(days=999999999, hours=23)', expect: new PyTimedelta(999999999, 23 * 3600) },
  { expr: 'timezone.utc', expect: PyTimezone.UTC },
  { expr: "timezone(timedelta(hours=-5), 'EST')", expect: new PyTimezone(new PyTimedelta(0, -5 * 3600), 'EST') },
  // decimal, uuid
  { expr: "Decimal('1.10')", expect: new PyDecimal('1.10') },
  { expr: "Decimal('-Infinity')", expect: new PyDecimal('-Infinity') },
  { expr: "Decimal('1E+400')", expect: new PyDecimal('1E+400') },
  { expr: "UUID('12345678-1234-5678-1234-567812345678')", expect: new PyUUID('12345678-1234-5678-1234-567812345678') },
  {
    expr: "uuid.UUID('00000000-0000-0000-0000-00000000002a', is_safe=uuid.SafeUUID.safe)",
    expect: (v) => expect(String(v)).to.equal('00000000-0000-0000-0000-00000000002a'),
  },
  // exceptions pickled as objects (Celery's own failure results are dicts; see rows.spec)
  { expr: "ValueError('boom')", expect: new PyException('ValueError', tuple('boom'), 'builtins') },
  { expr: "KeyError('k', 2)", expect: new PyException('KeyError', tuple<PyValue>('k', 2), 'builtins') },
  {
    // Protocols 0-2 spell FileNotFoundError as Python 2's exceptions.OSError; Python 3's OSError(2, ...) then
    // picks the subclass from errno at construction, which a decoder that runs no code does not imitate.
    expr: "OSError(2, 'nf')",
    expect: (v, p) => expect(v).to.deep.equal(new PyException(p >= 3 ? 'FileNotFoundError' : 'OSError', tuple<PyValue>(2, 'nf'), 'builtins')),
  },
  { expr: 'Exception()', expect: new PyException('Exception', tuple(), 'builtins') },
  {
    expr: "(lambda e: (setattr(e, 'extra', 1), e)[1])(RuntimeError('with attrs'))",
    expect: new PyException('RuntimeError', tuple('with attrs'), 'builtins'), // BUILD state is not kept
  },
  { expr: "[ZeroDivisionError('x'), {'when': datetime.date(2000, 1, 1)}]", expect: [new PyException('ZeroDivisionError', tuple('x')), obj({ when: new PyDate(2000, 1, 1) })] },
];

const PROTOCOLS = [0, 1, 2, 3, 4, 5];

describe('pickle: decoding what CPython 3.11 writes, protocols 0-5', () => {
  let pickles: string[] = [];

  before(function () {
    this.timeout(60_000);
    pickles = pythonDumps(CASES.flatMap((c) => PROTOCOLS.map((protocol) => ({ expr: c.expr, protocol }))));
  });

  CASES.forEach((c, i) => {
    it(`${c.expr}`, () => {
      PROTOCOLS.forEach((protocol, j) => {
        const v = decodePickle(hex(pickles[i * PROTOCOLS.length + j]));
        try {
          if (typeof c.expect === 'function') c.expect(v, protocol);
          else expect(v).to.deep.equal(c.expect);
        } catch (err) {
          (err as Error).message = `protocol ${protocol}: ${(err as Error).message}`;
          throw err;
        }
      });
    });
  });

  describe('Python 2 era opcodes CPython 3 no longer writes', () => {
    it('reads STRING, BINSTRING and SHORT_BINSTRING as ASCII str, as pickle.loads does by default', () => {
      expect(decodePickle(Buffer.from("S'a\\nb\\x41\\101\\''\n.", 'latin1'))).to.equal("a\nbAA'");
      expect(decodePickle(Buffer.from('S"dq"\n.', 'latin1'))).to.equal('dq');
      expect(decodePickle(Buffer.from('T\x03\x00\x00\x00abc.', 'latin1'))).to.equal('abc');
      expect(decodePickle(Buffer.from('U\x02hi.', 'latin1'))).to.equal('hi');
    });

    it('reads INT 00/01 as booleans and LONG with its L suffix', () => {
      expect(decodePickle(Buffer.from('I01\n.'))).to.equal(true);
      expect(decodePickle(Buffer.from('I00\n.'))).to.equal(false);
      expect(decodePickle(Buffer.from('L123456789012345678901234567890L\n.'))).to.equal(123456789012345678901234567890n);
    });

    it('maps Python 2 module names (__builtin__, exceptions) for protocols below 3', () => {
      const p = Buffer.from("\x80\x02cexceptions\nValueError\nq\x00U\x04boomq\x01\x85q\x02Rq\x03.", 'latin1');
      expect(decodePickle(p)).to.deep.equal(new PyException('ValueError', tuple('boom'), 'builtins'));
    });
  });
});
