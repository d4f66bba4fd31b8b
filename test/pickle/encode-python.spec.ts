import { expect } from 'chai';
import {
  PickleEncodeError,
  PyDate,
  PyDecimal,
  PyException,
  PyFrozenSet,
  PyTime,
  PyTimedelta,
  PyTimezone,
  PyUUID,
  type PyValue,
  decodePickle,
  encodePickle,
  tuple,
} from '../../lib/celery/pickle';
import { InvalidOptionError } from '../../lib/errors';
import { pythonLoads } from './support';

interface Case {
  name: string;
  value: () => unknown;
  /** What Python's pickle.loads must return, as a Python expression; compared with types (1 != 1.0 != True). */
  python: string;
}

const shared = [1];
const CASES: Case[] = [
  { name: 'null and undefined', value: () => [null, undefined], python: '[None, None]' },
  { name: 'booleans', value: () => [true, false], python: '[True, False]' },
  {
    name: 'safe integers as int, in every width',
    value: () => [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
    python: '[0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**53 - 1, -(2**53 - 1)]',
  },
  {
    name: 'bigints as int',
    value: () => [0n, 1n, -1n, 127n, 128n, -128n, -129n, 2n ** 64n, -(2n ** 64n), 2n ** 2100n, -(2n ** 2100n)],
    python: '[0, 1, -1, 127, 128, -128, -129, 2**64, -2**64, 2**2100, -2**2100]',
  },
  {
    name: 'other numbers as float: fractions, -0, NaN, infinities and unsafe integers',
    value: () => [1.5, -0, NaN, Infinity, -Infinity, 2 ** 53, 1e300],
    python: "[1.5, -0.0, float('nan'), float('inf'), float('-inf'), 9007199254740992.0, 1e300]",
  },
  {
    name: 'strings, including astral and lone surrogates, long ones',
    value: () => ['', 'héllo ✓ 😀', '\ud800', 'x'.repeat(70000)],
    python: "['', 'héllo ✓ 😀', '\\ud800', 'x' * 70000]",
  },
  {
    name: 'Buffer and Uint8Array as bytes',
    value: () => [Buffer.from([0, 255]), new Uint8Array([1, 2]), Buffer.alloc(300, 0x41)],
    python: "[b'\\x00\\xff', b'\\x01\\x02', b'A' * 300]",
  },
  { name: 'arrays as lists, batched past 1000 items', value: () => Array.from({ length: 2500 }, (_, i) => i), python: 'list(range(2500))' },
  {
    name: 'PyTuple as tuple',
    value: () => [tuple(), tuple(1), tuple(1, 2), tuple(1, 2, 3), tuple(1, 2, 3, 4)],
    python: '[(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)]',
  },
  {
    name: 'plain and null-prototype objects as str-keyed dicts, in insertion order',
    value: () => {
      const bare = Object.create(null) as Record<string, unknown>;
      bare['__proto__'] = 'own key';
      return [{ b: 1, a: [1, 2] }, bare];
    },
    python: "[{'b': 1, 'a': [1, 2]}, {'__proto__': 'own key'}]",
  },
  {
    name: 'Maps as dicts with any hashable keys',
    value: () => new Map<unknown, unknown>([[1, 'a'], ['s', 'b'], [tuple<unknown>(1, 'x'), 'c'], [null, 'd'], [Buffer.from('k'), 'e'], [new PyFrozenSet([1]), 'f']]),
    python: "{1: 'a', 's': 'b', (1, 'x'): 'c', None: 'd', b'k': 'e', frozenset({1}): 'f'}",
  },
  {
    name: 'Sets and PyFrozenSets',
    value: () => [new Set([1, 'a']), new PyFrozenSet([2]), new Set(Array.from({ length: 1500 }, (_, i) => i))],
    python: "[{1, 'a'}, frozenset({2}), set(range(1500))]",
  },
  { name: 'shared references stay shared', value: () => [shared, shared], python: '(lambda s: [s, s])([1])' },
  {
    name: 'Date as naive UTC datetime.datetime, as Celery stores it',
    value: () => [new Date('2026-11-24T07:51:26.318Z'), new Date('0001-01-01T00:00:00Z'), new Date('9999-12-31T23:59:59.999Z')],
    python: '[datetime.datetime(2026, 11, 24, 7, 51, 26, 318000), datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999000)]',
  },
  {
    name: 'date, time, timedelta and timezone',
    value: () => [
      new PyDate(2024, 2, 29),
      new PyTime(3, 4, 5, 6),
      new PyTime(23, 59, 0, 0, new PyTimezone(new PyTimedelta(0, 3600), 'X'), 1),
      new PyTimedelta(-1, 5, 7),
      PyTimezone.UTC,
    ],
    python:
      "[datetime.date(2024, 2, 29), datetime.time(3, 4, 5, 6), datetime.time(23, 59, tzinfo=timezone(timedelta(hours=1), 'X'), fold=1), timedelta(days=-1, seconds=5, microseconds=7), timezone.utc]",
  },
  {
    name: 'Decimal and UUID',
    value: () => [new PyDecimal('1.10'), new PyDecimal('NaN'), new PyUUID('12345678-1234-5678-1234-567812345678')],
    python: "[Decimal('1.10'), Decimal('NaN'), UUID('12345678-1234-5678-1234-567812345678')]",
  },
  {
    name: 'allowed exceptions, with their args',
    value: () => [new PyException('ValueError', tuple('boom')), new PyException('KeyError', tuple<PyValue>('k', 2), 'builtins')],
    python: "[ValueError('boom'), KeyError('k', 2)]",
  },
  {
    name: "a Celery failure dict, as Celery's backend stores it",
    value: () => ({ exc_type: 'ValueError', exc_message: tuple('boom'), exc_module: 'builtins' }),
    python: "{'exc_type': 'ValueError', 'exc_message': ('boom',), 'exc_module': 'builtins'}",
  },
];

describe('pickle: encoding for CPython 3.11 pickle.loads', () => {
  let results: { ok: boolean; repr: string }[] = [];

  before(function () {
    this.timeout(60_000);
    results = pythonLoads(CASES.map((c) => ({ hex: encodePickle(c.value()).toString('hex'), expect: c.python })));
  });

  CASES.forEach((c, i) => {
    it(`writes ${c.name}`, () => {
      expect(results[i].ok, `Python read back ${results[i].repr}, expected ${c.python}`).to.equal(true);
    });
  });

  it('reads back its own output as the same value', () => {
    for (const c of CASES) {
      if (c.name.startsWith('null')) continue; // undefined becomes null, by design
      const v = c.value();
      const again = decodePickle(encodePickle(v));
      if (c.name.startsWith('Date')) expect(again).to.deep.equal(v);
      else expect(encodePickle(again).equals(encodePickle(v)), c.name).to.equal(true);
    }
  });

  describe('refuses values outside the model with PickleEncodeError, naming where', () => {
    class Custom {
      x = 1;
    }
    const circular: unknown[] = [];
    circular.push(circular);
    const refusals: [string, unknown, RegExp][] = [
      ['a function', { f: () => 1 }, /\$\.f: a function has no pickle form/],
      ['a symbol', [Symbol('s')], /\$\[0\]: a symbol/],
      ['a class instance', { a: [new Custom()] }, /\$\.a\[0\]: a Custom object is not in the value model/],
      ['a circular reference', circular, /circular reference/],
      ['an unhashable Map key', new Map([[[1], 'list key']]), /key is a list, dict or set/],
      ['an unhashable Set member', new Set([{ a: 1 }]), /member is a list, dict or set/],
      ['an invalid Date', new Date(NaN), /invalid Date/],
      ['a Date outside years 1..9999', new Date('+010000-01-01T00:00:00Z'), /years 1\.\.9999/],
      ['an exception class off the allow-list', new PyException('system', tuple('rm -rf /'), 'os'), /not on the allow-list/],
      ['a typed array that is not bytes', new Int16Array(2), /Int16Array object is not in the value model/],
      ['a JS Error', new Error('x'), /Error object/],
    ];
    for (const [what, value, message] of refusals) {
      it(`refuses ${what}`, () => {
        expect(() => encodePickle(value)).to.throw(PickleEncodeError, message);
      });
    }

    it('refuses nesting deeper than maxDepth instead of overflowing the stack', () => {
      let deep: unknown = [];
      for (let i = 0; i < 50_000; i++) deep = [deep];
      expect(() => encodePickle(deep)).to.throw(PickleEncodeError, /nesting deeper than maxDepth \(1000\)/);
      expect(() => encodePickle(deep, { maxDepth: 10_000 })).to.throw(InvalidOptionError, /maxDepth is 10000/);
      let fine: unknown = [];
      for (let i = 0; i < 990; i++) fine = [fine];
      expect(decodePickle(encodePickle(fine))).to.be.an('array');
    });
  });
});
