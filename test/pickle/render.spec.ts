import { expect } from 'chai';
import fc from 'fast-check';
import { CeleryAsyncResult, CeleryGroupResult, PyDecimal, PyException, PyFrozenSet, decodePickle, tuple } from '../../lib/celery/pickle';
import { RENDER_BUDGET_CHARS, bitLength, renderArgs, renderValue } from '../../lib/celery/render';
import { listDagPickle, long4Pickle } from './hostile';

describe('renderValue: bounded text for decoded values', () => {
  describe('shape', () => {
    it('writes data readably: quoted strings, tuples, dicts, Maps, sets, bytes, dates, exceptions and results', () => {
      const dict = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, 'not id': [true, null] });
      expect(renderValue(dict)).to.equal("{a: 1, 'not id': [true, null]}");
      expect(renderValue(tuple('x'))).to.equal("('x',)");
      expect(renderValue(tuple<number | bigint>(1, 2n ** 70n))).to.equal(`(1, ${2n ** 70n})`);
      expect(renderValue(new Map<unknown, unknown>([[1, 'a']]))).to.equal("Map{1: 'a'}");
      expect(renderValue(new PyFrozenSet([1]))).to.equal('frozenset{1}');
      expect(renderValue(Buffer.from('hi'))).to.equal('<2 bytes: 6869>');
      expect(renderValue(new Date(0))).to.equal('1970-01-01T00:00:00.000Z');
      expect(renderValue(new PyException('ValueError', tuple('boom')))).to.equal("ValueError('boom')");
      expect(renderValue(new CeleryGroupResult('g', [new CeleryAsyncResult('a', new CeleryAsyncResult('p'))]))).to.equal(
        "GroupResult('g', [AsyncResult('a', parent=AsyncResult('p'))])",
      );
      expect(renderValue("it's \"q\"\n")).to.equal(`'it\\'s "q"\\n'`);
    });

    it('renderArgs shows top-level strings unquoted, as String() did, and shares one budget across the args', () => {
      expect(renderArgs(['boom', 2, ['x']])).to.equal("boom, 2, ['x']");
      const shared = ['s'];
      expect(renderArgs([shared, shared])).to.equal("['s'], […]");
    });
  });

  describe('bounds', () => {
    it('a shared object prints once, later references as […]; a reference back to an ancestor as [Circular]', () => {
      const a = [1];
      expect(renderValue([a, a])).to.equal('[[1], […]]');
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      expect(renderValue(loop)).to.equal('{self: [Circular]}');
    });

    it('a DAG decoded from 40 levels of MEMOIZE + BINGET renders in linear size', () => {
      const out = renderValue(decodePickle(listDagPickle(40)));
      expect(out.length).to.be.at.most(RENDER_BUDGET_CHARS + 1);
      expect(out.match(/\[…\]/g)).to.have.length(40);
    });

    it('stops at the budget, whatever the width, and says so with a final …', () => {
      for (const budget of [0, 1, 10, 120, 2000]) {
        const out = renderValue(new Array(1_000_000).fill('abc'), budget);
        expect(out.length).to.be.at.most(budget + 1);
        expect(out.endsWith('…')).to.equal(true);
      }
    });

    it('cuts a long string and says how much was left out', () => {
      expect(renderValue('z'.repeat(10_000))).to.equal(`'${'z'.repeat(500)}'… (+9500 chars)`);
      expect(renderValue(new PyDecimal('1'.repeat(100_000))).length).to.be.below(600);
    });

    it('deep nesting is cut at 100 levels, not followed to the JS stack limit', () => {
      let deep: unknown = [];
      for (let i = 0; i < 10_000; i++) deep = [deep];
      const out = renderValue(deep, 100_000);
      expect(out).to.equal(`${'['.repeat(100)}…${']'.repeat(100)}`);
    });
  });

  describe('ints', () => {
    it('ints up to 1024 bits print in decimal; larger ones as their bit length, sign included', () => {
      expect(renderValue(2n ** 1023n)).to.equal(String(2n ** 1023n));
      expect(renderValue(2n ** 1024n)).to.equal('<int of 1025 bits>');
      expect(renderValue(-(2n ** 5000n) + 1n)).to.equal('<negative int of 5000 bits>');
      expect(renderValue(decodePickle(long4Pickle(8 * 1024 * 1024)))).to.equal(`<int of ${8 * 1024 * 1024 * 8 - 1} bits>`);
    });

    it('bitLength agrees with the binary digits of |v|, at and around powers of two', () => {
      const exact = (v: bigint) => (v === 0n ? 0 : (v < 0n ? -v : v).toString(2).length);
      const edges = [0n, 1n, -1n];
      for (const k of [63, 64, 1023, 1024, 1025, 2047, 2048, 4097, 100_000]) {
        const p = 2n ** BigInt(k);
        edges.push(p, p - 1n, p + 1n, -p, -p + 1n, -p - 1n);
      }
      for (const v of edges) expect(bitLength(v, 1024, 2 ** 40).bits, String(exact(v))).to.equal(exact(v));
      fc.assert(
        fc.property(fc.bigInt({ min: -(2n ** 20_000n), max: 2n ** 20_000n }), (v) => bitLength(v, 1024, 2 ** 40).bits === exact(v)),
        { numRuns: 300 },
      );
    });

    it('gives up (null) instead of spending more than its work budget', () => {
      expect(bitLength(2n ** 1_000_000n, 1024, 100_000).bits).to.equal(null);
    });

    it('a list referencing one huge int many times stays within the bigint work budget', () => {
      const big = decodePickle(long4Pickle(8 * 1024 * 1024));
      const out = renderValue(new Array(1000).fill(big));
      expect(out.length).to.be.at.most(RENDER_BUDGET_CHARS + 1);
      expect(out).to.include('<int of more than 1024 bits>');
    });
  });
});
