import { expect } from 'chai';
import fc from 'fast-check';
import {
  PickleDecodeError,
  PyFrozenSet,
  PyTuple,
  UnsafePickleError,
  decodePickle,
  encodePickle,
} from '../../lib/celery/pickle';
import { celeryRows, hex, oracle, pythonDumps } from './support';

/** The decoder's whole contract for hostile bytes: return a value, or throw one of its typed errors. Nothing else. */
function decodesOrThrowsTyped(bytes: Uint8Array): void {
  try {
    decodePickle(bytes, { maxObjects: 100_000 });
  } catch (err) {
    if (!(err instanceof PickleDecodeError || err instanceof UnsafePickleError)) throw err;
  }
}

/** Real pickles to mutate: every Celery row, plus protocol 0-5 pickles of varied data from CPython. */
function seeds(): Buffer[] {
  const fromRows = celeryRows().flatMap((r) => (r.columns.result ? [hex(r.columns.result)] : []));
  const expr =
    "[1, -2**70, 2.5, 'é\\n', b'\\xff', bytearray(b'x'), (1, None, True), {'k': {1, 2}, 3: frozenset()}, " +
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), datetime.date(2024, 1, 1), timedelta(1), " +
    "Decimal('1.5'), UUID(int=5), ValueError('boom')]";
  const fromPython = pythonDumps([0, 1, 2, 3, 4, 5].map((protocol) => ({ expr, protocol }))).map(hex);
  return [...fromRows, ...fromPython];
}

type Mutation = { kind: 'flip' | 'set' | 'insert' | 'delete' | 'truncate' | 'duplicate'; at: number; byte: number; len: number };

function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of mutations) {
    const at = b.length ? m.at % b.length : 0;
    switch (m.kind) {
      case 'flip':
        if (b.length) b[at] ^= 1 << (m.byte % 8);
        break;
      case 'set':
        if (b.length) b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (m.len % 4))]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + (m.len % 16)), b.subarray(at)]);
        break;
    }
  }
  return b;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('flip', 'set', 'insert', 'delete', 'truncate', 'duplicate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.nat(),
});

/** Values inside the model whose round trip is exact (no Dates: microseconds; no undefined: becomes null; no safe-range bigints: become numbers). */
const { value: modelValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    // Only outside the safe range: a bigint like 5n decodes as the number 5, by design.
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 300n }),
    fc.bigInt({ min: -(2n ** 300n), max: -(2n ** 53n) }),
    fc.double(),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }),
    fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(tie('value'), { maxLength: 5 }).map((a) => new PyTuple(a)),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 5, noNullPrototype: true }),
    fc.array(fc.tuple(fc.integer(), tie('value')), { minLength: 1, maxLength: 4 }).map((e) => new Map(e)),
    fc.uniqueArray(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 5 }).map((a) => new Set(a)),
    fc.uniqueArray(fc.integer(), { maxLength: 5 }).map((a) => new PyFrozenSet(a)),
  ),
}));

/**
 * A type-tagged, order-normalized tree for comparing values: chai's deep equality cannot sort
 * Map entries whose values are null-prototype objects, and Python does not keep set order.
 */
function canonical(v: unknown): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return { float: Object.is(v, -0) ? '-0' : String(v) };
  if (typeof v === 'bigint') return { int: String(v) };
  if (Buffer.isBuffer(v)) return { bytes: v.toString('hex') };
  if (v instanceof PyTuple) return { tuple: v.map(canonical) };
  if (Array.isArray(v)) return { list: v.map(canonical) };
  const sorted = (s: Set<unknown>): string[] => [...s].map((x) => JSON.stringify(canonical(x))).sort();
  if (v instanceof PyFrozenSet) return { frozenset: sorted(v) };
  if (v instanceof Set) return { set: sorted(v) };
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [canonical(k), canonical(x)]) };
  return { dict: Object.entries(v as object).map(([k, x]) => [k, canonical(x)]) };
}

describe('pickle: properties (fast-check)', () => {
  it('random bytes, with and without a protocol header, decode or throw a typed error', () => {
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 0, max: 6 })), fc.uint8Array({ maxLength: 300 }), (proto, body) => {
        decodesOrThrowsTyped(proto === null ? body : Buffer.concat([Buffer.from([0x80, proto]), body]));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated real pickles decode or throw a typed error', function () {
    this.timeout(30_000);
    const pool = seeds();
    fc.assert(
      fc.property(fc.nat({ max: pool.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
        decodesOrThrowsTyped(mutate(pool[i], ms));
      }),
      { numRuns: 2000 },
    );
  });

  it('decode(encode(v)) deep-equals v for values in the model', () => {
    fc.assert(
      fc.property(modelValue, (v) => {
        expect(canonical(decodePickle(encodePickle(v)))).to.deep.equal(canonical(v));
      }),
      { numRuns: 500 },
    );
  });

  it('CPython reads what we encode and writes back, in protocols 0 and 5, what we decode to the same value', function () {
    this.timeout(60_000);
    const values = fc.sample(modelValue, { numRuns: 300, seed: 20240611 });
    const items = values.flatMap((v) => [0, 5].map((protocol) => ({ hex: encodePickle(v).toString('hex'), protocol })));
    const back = oracle<string[]>('reencode', { items });
    values.forEach((v, i) => {
      for (const j of [0, 1]) expect(canonical(decodePickle(hex(back[2 * i + j]))), `value #${i}, protocol ${j ? 5 : 0}`).to.deep.equal(canonical(v));
    });
  });
});
