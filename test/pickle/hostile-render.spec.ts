import { expect } from 'chai';
import { CeleryAsyncResult, CeleryGroupResult, PickleEncodeError, decodePickle, encodePickle } from '../../lib/celery/pickle';
import { jsonCodec } from '../../lib/celery/codec';
import { resultFromTuple } from '../../lib/celery/result-tuple';
import { ResultDecodeError, TaskFailedError, UnencodableResultError } from '../../lib/errors';
import { dagFailurePickle, listDagPickle, long4Pickle, tupleDagPickle } from './hostile';

/*
 * A stored row is hostile input: a few hundred bytes of pickle can decode to a value whose naive
 * rendering (String, join, JSON.stringify, a recursive rebuild) takes 2^40 steps, or to an int
 * whose decimal form takes seconds to compute. Whatever the row holds, reading it and building
 * the error that reports it must finish, and the message must stay short enough for a log line.
 * No timings are asserted: mocha's timeout is the hang detector; the assertions are about shape.
 */

/** Generous: the rendered values (about 2000 characters) plus the fixed wording around them. */
const MESSAGE_CAP = 3000;

type Failure = { exc_type: string; exc_message: unknown[]; exc_module: string };

function failedWith(excMessage: readonly unknown[], excType = 'ValueError'): TaskFailedError {
  return new TaskFailedError('t-1', { excType, excMessage, excModule: 'builtins' }, null);
}

function refusal(run: () => unknown): ResultDecodeError {
  try {
    run();
  } catch (error) {
    expect(error, String(error)).to.be.instanceOf(ResultDecodeError);
    return error as ResultDecodeError;
  }
  throw new Error('resultFromTuple returned instead of throwing ResultDecodeError');
}

describe('rendering hostile decoded values stays linear and bounded', () => {
  describe('TaskFailedError', () => {
    it('a FAILURE row whose exc_message is a [a, a] DAG 40 levels deep (2^40 leaves if copied) gives a short message, and keeps the raw args', () => {
      const row = dagFailurePickle(40);
      expect(row.length).to.be.below(400);
      const failure = decodePickle(row) as unknown as Failure;
      const error = failedWith(failure.exc_message);
      expect(error.message).to.match(/^Task t-1 failed with ValueError: \[/);
      expect(error.message.length).to.be.below(MESSAGE_CAP);
      expect(error.excMessage).to.equal(failure.exc_message);
    });

    it('an 8 MB LONG4 int in exc_message is shown by its size in bits, never in decimal', () => {
      const big = decodePickle(long4Pickle(8 * 1024 * 1024));
      expect(big).to.be.a('bigint');
      const error = failedWith([big]);
      expect(error.message).to.include(`<int of ${8 * 1024 * 1024 * 8 - 1} bits>`);
      expect(error.message.length).to.be.below(MESSAGE_CAP);
      expect(error.excMessage[0]).to.equal(big);
    });

    it('a 10 MB string in exc_message, or as exc_type, is cut with a marker saying how much was left out', () => {
      const long = 'y'.repeat(10_000_000);
      const byMessage = failedWith([long]);
      expect(byMessage.message.length).to.be.below(MESSAGE_CAP);
      expect(byMessage.message).to.match(/y… \(\+\d+ chars\)/);
      const byType = failedWith(['boom'], long);
      expect(byType.message.length).to.be.below(MESSAGE_CAP);
      expect(byType.excType).to.equal(long);
    });

    it('a cyclic exc_message shows the cycle once, as [Circular]', () => {
      const loop: unknown[] = ['boom'];
      loop.push(loop);
      const error = failedWith([loop]);
      expect(error.message).to.include("['boom', [Circular]]");
    });

    it('plain string args still read as before: unquoted, joined with ", "', () => {
      expect(failedWith(['boom', 2]).message).to.match(/^Task t-1 failed with ValueError: boom, 2\. /);
    });
  });

  describe('resultFromTuple', () => {
    it('a GroupResult tuple DAG 40 levels deep (each group holds the same member twice) rebuilds once per distinct tuple', () => {
      const value = decodePickle(tupleDagPickle(40));
      let result = resultFromTuple(value);
      for (let level = 40; level > 0; level--) {
        expect(result).to.be.instanceOf(CeleryGroupResult);
        const group = result as CeleryGroupResult;
        expect(group.id).to.equal('x');
        expect(group.results).to.have.length(2);
        expect(group.results[0], `level ${level}: a shared tuple gives one shared result`).to.equal(group.results[1]);
        result = group.results[0];
      }
      expect(result).to.be.instanceOf(CeleryAsyncResult);
    });

    it('a tuple whose parent chain leads back to itself is refused with ResultDecodeError, not a stack overflow', () => {
      const head: unknown[] = ['a', null];
      const loop: unknown[] = [head, null];
      head[1] = loop;
      expect(refusal(() => resultFromTuple(loop)).message).to.match(/refers back to itself/);
    });

    it('a group that lists itself among its members is refused the same way', () => {
      const members: unknown[] = [];
      const group: unknown[] = [['g', null], members];
      members.push(group);
      expect(refusal(() => resultFromTuple(group)).message).to.match(/refers back to itself/);
    });

    it('a parent chain deeper than the limit is refused with ResultDecodeError', () => {
      let value: unknown = [['leaf', null], null];
      for (let i = 0; i < 100_000; i++) value = [[`t${i}`, value], null];
      expect(refusal(() => resultFromTuple(value)).message).to.match(/deeper than \d+/);
    });

    it('a value that is not a result tuple is refused with a short message, even when it is a DAG, a cycle or a bigint', () => {
      const dag = decodePickle(listDagPickle(40));
      const loop: unknown[] = [];
      loop.push(loop, loop);
      for (const bad of [[dag, 1], loop, [[10n ** 30n, null], null], [[decodePickle(long4Pickle(1024 * 1024)), null], null]]) {
        const error = refusal(() => resultFromTuple(bad));
        expect(error.message).to.match(/is not a Celery result tuple/);
        expect(error.message.length).to.be.below(600);
      }
    });
  });

  describe('encoding errors about a value read back from a row', () => {
    it('name a huge BigInt by its size and cut a long key, instead of quoting them whole', () => {
      const big = decodePickle(long4Pickle(1024 * 1024));
      expect(() => jsonCodec.encodeResult({ n: big })).to.throw(UnencodableResultError, /a BigInt <int of 8388607 bits> at result\.n/);
      const key = 'k'.repeat(1_000_000);
      for (const run of [() => jsonCodec.encodeResult({ [key]: 1n }), () => encodePickle({ [key]: () => 1 })]) {
        try {
          run();
          throw new Error('expected a refusal');
        } catch (error) {
          expect(error).to.satisfy((e: unknown) => e instanceof UnencodableResultError || e instanceof PickleEncodeError);
          expect((error as Error).message.length).to.be.below(600);
        }
      }
    });
  });
});
