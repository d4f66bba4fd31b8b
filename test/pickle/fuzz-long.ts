/**
 * `npm run fuzz`: hostile pickles for as long as you like (`--seconds 600`;
 * CI runs 30). Real pickles (every Celery row and CPython's output for
 * protocols 0-5), mutated, plus random bytes, plus memo, nesting and length
 * bombs. The contract, checked for every input: the decoder returns a value
 * or throws its typed error, within the time budget per input, and the heap
 * stays under the memory budget; whatever it decoded then renders (renderValue,
 * TaskFailedError's message, resultFromTuple) within the render budget, into
 * bounded text, and typed errors carry bounded messages. Generated shared-reference
 * DAGs (MEMOIZE + BINGET) and huge LONG4 ints exercise that part. Exit 1 on the
 * first breach, printing the input as hex (bounded).
 */
import { Command } from 'commander';
import fc from 'fast-check';
import { PickleDecodeError, UnsafePickleError, decodePickle } from '../../lib/celery/pickle';
import { RENDER_BUDGET_CHARS, renderValue } from '../../lib/celery/render';
import { resultFromTuple } from '../../lib/celery/result-tuple';
import { ResultDecodeError, TaskFailedError } from '../../lib/errors';
import { type DagShape, dagPickle, hexHead, hugeIntPickle } from './hostile';
import { celeryRows, hex, pythonDumps } from './support';

/**
 * Per input, with the decoder's default limits: any input, however crafted, ends within this on a
 * 2-core VM, loaded or not. The worst inputs are the ones that build a million tiny objects before maxObjects
 * stops them (0.8 s on this VM idle, 3.7 s busy); lower maxObjects lowers it in proportion.
 */
const TIME_BUDGET_MS = 10_000;
/**
 * Per input, for rendering what it decoded to: renderValue, a TaskFailedError built from it and
 * resultFromTuple. Rendering is linear in the pickle with a cap, so this holds with a wide margin
 * (the worst, a 16 MB int referenced many times, takes about 0.3 s); a quadratic toString or an
 * exponential walk of a DAG blows through it.
 */
const RENDER_BUDGET_MS = 2_000;
/** Longest error message or rendering accepted: the render budget plus the fixed wording around it. */
const MESSAGE_CAP = RENDER_BUDGET_CHARS + 1_000;
/** The heap after any input (garbage collected or not) stays under this. */
const HEAP_BUDGET_BYTES = 1.5 * 1024 ** 3;

class Breach extends Error {}

function check(bytes: Uint8Array, label: string): 'value' | 'typed' {
  const shown = () => hexHead(bytes, 200);
  const started = performance.now();
  let outcome: 'value' | 'typed';
  let value: unknown;
  try {
    value = decodePickle(bytes);
    outcome = 'value';
  } catch (error) {
    if (!(error instanceof PickleDecodeError || error instanceof UnsafePickleError)) {
      throw new Breach(`${label}: an untyped ${(error as Error)?.name} (${String((error as Error)?.message).slice(0, 200)}) for ${shown()}`);
    }
    if (error.message.length > MESSAGE_CAP) throw new Breach(`${label}: a ${error.message.length}-character error message for ${shown()}`);
    outcome = 'typed';
  }
  const ms = performance.now() - started;
  if (ms > TIME_BUDGET_MS) throw new Breach(`${label}: took ${ms.toFixed(0)} ms, over the ${TIME_BUDGET_MS} ms budget, for ${shown()}`);
  if (outcome === 'value') {
    const rendering = performance.now();
    render(value, label, shown);
    const renderMs = performance.now() - rendering;
    if (renderMs > RENDER_BUDGET_MS) throw new Breach(`${label}: rendering took ${renderMs.toFixed(0)} ms, over the ${RENDER_BUDGET_MS} ms budget, for ${shown()}`);
  }
  const heap = process.memoryUsage().heapUsed;
  if (heap > HEAP_BUDGET_BYTES) throw new Breach(`${label}: heap at ${(heap / 2 ** 20).toFixed(0)} MiB, over the budget`);
  return outcome;
}

/** Everything that turns a decoded value into text or rebuilds it: each must end, bounded, with a value or its typed error. */
function render(value: unknown, label: string, shown: () => string): void {
  const text = renderValue(value);
  if (text.length > RENDER_BUDGET_CHARS + 1) throw new Breach(`${label}: renderValue gave ${text.length} characters for ${shown()}`);
  // As the backend reads a FAILURE row: the dict's exc_message when it has one, else the value as the single arg.
  const stored = value as { exc_type?: unknown; exc_message?: unknown } | null;
  const args = stored !== null && typeof stored === 'object' && 'exc_message' in stored ? stored.exc_message : value;
  const excType = stored !== null && typeof stored === 'object' && typeof stored.exc_type === 'string' ? stored.exc_type : 'Exception';
  const failed = new TaskFailedError('fuzz', { excType, excMessage: Array.isArray(args) ? args : [args], excModule: null }, null);
  if (failed.message.length > MESSAGE_CAP) throw new Breach(`${label}: a ${failed.message.length}-character TaskFailedError message for ${shown()}`);
  try {
    resultFromTuple(value);
  } catch (error) {
    if (!(error instanceof ResultDecodeError)) {
      throw new Breach(`${label}: resultFromTuple threw an untyped ${(error as Error)?.name} (${String((error as Error)?.message).slice(0, 200)}) for ${shown()}`);
    }
    if (error.message.length > MESSAGE_CAP) throw new Breach(`${label}: a ${error.message.length}-character resultFromTuple message for ${shown()}`);
  }
}

/** Shared-reference DAGs: small pickles whose naive rendering is exponential. Past maxDepth they must be refused, typed. */
const dagShape: fc.Arbitrary<DagShape> = fc.record({
  levels: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 900, max: 1100 })),
  fanout: fc.integer({ min: 2, max: 5 }),
  kind: fc.constantFrom<DagShape['kind']>('list', 'tuple', 'result'),
  wrap: fc.constantFrom<DagShape['wrap']>('none', 'failure'),
});

/** Huge ints (LONG4, up to 16 MB), referenced up to 300 times: their decimal toString is superlinear. */
const hugeInt = fc.record({
  bytes: fc.oneof(fc.integer({ min: 129, max: 4096 }), fc.integer({ min: 4096, max: 16 * 1024 * 1024 })),
  negative: fc.boolean(),
  refs: fc.integer({ min: 1, max: 300 }),
  wrap: fc.constantFrom<'none' | 'failure'>('none', 'failure'),
});

const PROTO = (n: number) => Buffer.from([0x80, n]);
const STOP = Buffer.from('.');

/** Crafted to exhaust something: each must end in a typed error (or a small value) within the budgets. */
function bombs(): [string, Buffer][] {
  const repeat = (b: Buffer, n: number) => Buffer.concat(Array.from({ length: n }, () => b));
  // ] (EMPTY_LIST), memoize, then 40 rounds of: POP the last, a tuple of it twice from the memo, memoize.
  const memo = [PROTO(4), Buffer.from(']\x94', 'latin1')];
  for (let i = 0; i < 40; i++) memo.push(Buffer.from([0x30, 0x68, i, 0x68, i, 0x86, 0x94])); // 0 h i h i TUPLE2 MEMOIZE
  return [
    ['nesting bomb: 200,000 nested lists', Buffer.concat([PROTO(4), repeat(Buffer.from(']('), 200_000), STOP])],
    ['nesting bomb: 200,000 MARKs', Buffer.concat([PROTO(4), repeat(Buffer.from('('), 200_000), STOP])],
    ['memo bomb: 40 doublings of shared references (2^40 leaves if copied)', Buffer.concat([...memo, STOP])],
    ['memo bomb: 2,000,000 memo entries', Buffer.concat([PROTO(4), repeat(Buffer.from('N\x94', 'latin1'), 2_000_000), STOP])],
    ['length bomb: BINUNICODE8 declaring 2^62 bytes', Buffer.concat([PROTO(4), Buffer.from([0x8d]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x40]), STOP])],
    ['length bomb: BINBYTES8 declaring 2^63-1 bytes', Buffer.concat([PROTO(4), Buffer.from([0x8e]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])])],
    ['length bomb: LONG4 declaring 2^31-1 bytes', Buffer.concat([PROTO(2), Buffer.from([0x8b, 0xff, 0xff, 0xff, 0x7f])])],
    ['length bomb: FRAME of 2^60 bytes', Buffer.concat([PROTO(4), Buffer.from([0x95, 0, 0, 0, 0, 0, 0, 0, 0x10]), STOP])],
    ['width bomb: 2,000,000 APPENDs to one list', Buffer.concat([PROTO(4), Buffer.from(']'), repeat(Buffer.from('Na'), 2_000_000), STOP])],
    ['object bomb: 2,000,000 empty tuples', Buffer.concat([PROTO(4), repeat(Buffer.from(')'), 2_000_000), STOP])],
    ['render bomb: a FAILURE row whose exc_message is a [a, a] DAG 40 levels deep', dagPickle({ levels: 40, fanout: 2, kind: 'list', wrap: 'failure' })],
    ['render bomb: a GroupResult tuple DAG 40 levels deep', dagPickle({ levels: 40, fanout: 2, kind: 'result', wrap: 'none' })],
    ['render bomb: a 60 MB LONG4 int, referenced 200 times from a FAILURE row', hugeIntPickle(60 * 1024 * 1024, false, 200, 'failure')],
    ['int bomb: a 100,000-digit decimal INT', Buffer.concat([Buffer.from('I'), Buffer.from('9'.repeat(100_000)), Buffer.from('\n.')])],
  ];
}

function seeds(): Buffer[] {
  const fromRows = celeryRows().flatMap((r) => (r.columns.result ? [hex(r.columns.result)] : []));
  const expr =
    "[1, -2**70, 2.5, 'é\\n', b'\\xff', bytearray(b'x'), (1, None, True), {'k': {1, 2}, 3: frozenset()}, " +
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), datetime.date(2024, 1, 1), timedelta(1), Decimal('1.5'), UUID(int=5), ValueError('boom')]";
  return [...fromRows, ...pythonDumps([0, 1, 2, 3, 4, 5].map((protocol) => ({ expr, protocol }))).map(hex)];
}

function mutate(seed: Buffer, edits: { at: number; byte: number; kind: number }[]): Buffer {
  let b = Buffer.from(seed);
  for (const e of edits) {
    const at = b.length ? e.at % b.length : 0;
    if (e.kind === 0 && b.length) b[at] = e.byte;
    else if (e.kind === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at)]);
    else if (e.kind === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else if (e.kind === 3) b = Buffer.concat([b.subarray(0, at + (e.byte % 32)), b.subarray(at)]);
    else b = b.subarray(0, at);
  }
  return b;
}

function main(): void {
  const { seconds } = new Command().name('fuzz').option('--seconds <n>', 'how long to fuzz', (v) => Number(v), 600).parse().opts<{ seconds: number }>();
  const tally = { inputs: 0, values: 0, typed: 0, slowestMs: 0 };
  const count = (outcome: 'value' | 'typed', ms: number) => {
    tally.inputs++;
    tally[outcome === 'value' ? 'values' : 'typed']++;
    tally.slowestMs = Math.max(tally.slowestMs, ms);
  };
  const timed = (bytes: Uint8Array, label: string) => {
    const t = performance.now();
    const outcome = check(bytes, label);
    count(outcome, performance.now() - t);
  };
  try {
    for (const [label, bytes] of bombs()) {
      const t = performance.now();
      const outcome = check(bytes, label);
      count(outcome, performance.now() - t);
      console.log(`  ${label}: ${outcome === 'typed' ? 'a typed error' : 'a value'} in ${(performance.now() - t).toFixed(0)} ms`);
    }
    const pool = seeds();
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.integer({ min: 0, max: 4 }) });
    const deadline = Date.now() + seconds * 1000;
    for (let round = 0; Date.now() < deadline; round++) {
      fc.assert(
        fc.property(fc.nat({ max: pool.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 8 }), (i, edits) => timed(mutate(pool[i], edits), 'mutated')),
        { numRuns: 2000, seed: round, endOnFailure: true },
      );
      fc.assert(
        fc.property(fc.option(fc.integer({ min: 0, max: 6 })), fc.uint8Array({ maxLength: 400 }), (proto, body) =>
          timed(proto === null ? body : Buffer.concat([PROTO(proto), body]), 'random'),
        ),
        { numRuns: 2000, seed: 1_000_000 + round, endOnFailure: true },
      );
      fc.assert(
        fc.property(dagShape, (shape) => timed(dagPickle(shape), `DAG ${JSON.stringify(shape)}`)),
        { numRuns: 200, seed: 2_000_000 + round, endOnFailure: true },
      );
      fc.assert(
        fc.property(hugeInt, (int) => timed(hugeIntPickle(int.bytes, int.negative, int.refs, int.wrap), `huge int ${JSON.stringify(int)}`)),
        { numRuns: 10, seed: 3_000_000 + round, endOnFailure: true },
      );
    }
  } catch (error) {
    console.error(`fuzz FAILED after ${tally.inputs} inputs: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
    return;
  }
  console.log(
    `fuzz: ${tally.inputs} inputs in ${seconds} s (+ bombs): ${tally.values} values, ${tally.typed} typed errors, 0 untyped; ` +
      `slowest ${tally.slowestMs.toFixed(1)} ms (budget ${TIME_BUDGET_MS} ms decoding + ${RENDER_BUDGET_MS} ms rendering); heap under ${(HEAP_BUDGET_BYTES / 2 ** 30).toFixed(1)} GiB`,
  );
}

main();
