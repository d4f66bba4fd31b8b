/**
 * Small hostile pickles, built byte by byte, whose decoded values are cheap to hold but
 * expensive to print or walk naively: shared-reference DAGs (MEMOIZE + BINGET, so one object
 * is referenced twice at every level and a copying walk visits 2^levels nodes) and huge ints
 * (LONG4, whose decimal toString is superlinear). Shared by the specs and `npm run fuzz`.
 */

const PROTO4 = [0x80, 0x04];
const STOP = 0x2e; // .
const MARK = 0x28; // (
const POP = 0x30; // 0
const NONE = 0x4e; // N
const EMPTY_LIST = 0x5d; // ]
const EMPTY_DICT = 0x7d; // }
const LIST = 0x6c; // l
const BINGET = 0x68; // h
const MEMOIZE = 0x94;
const TUPLE1 = 0x85;
const TUPLE2 = 0x86;
const SETITEMS = 0x75; // u
const SHORT_BINUNICODE = 0x8c;
const LONG4 = 0x8b;

function shortStr(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 255) throw new Error('shortStr: over 255 bytes');
  return [SHORT_BINUNICODE, b.length, ...b];
}

/**
 * Leaves `[a, a]` nested `levels` deep on the stack, `a` being the level below, starting from
 * `[]`. Uses memo indices `first` .. `first + levels`. 8 bytes per level.
 */
function listDagOps(levels: number, first = 0): number[] {
  if (first + levels > 255) throw new Error('listDagOps: memo indices beyond BINGET');
  const ops = [EMPTY_LIST, MEMOIZE];
  for (let i = first; i < first + levels; i++) ops.push(POP, MARK, BINGET, i, BINGET, i, LIST, MEMOIZE);
  return ops;
}

/** `[[…], […]]` with every level's list shared: 2^levels leaves if copied, `levels + 1` lists in memory. */
export function listDagPickle(levels = 40): Buffer {
  return Buffer.from([...PROTO4, ...listDagOps(levels), STOP]);
}

/**
 * The FAILURE row of the issue: Celery's failure dict whose exc_message is `(dag,)`, the DAG
 * being {@link listDagPickle}'s. About 340 bytes for 40 levels.
 */
export function dagFailurePickle(levels = 40): Buffer {
  return Buffer.from(failureAround(listDagOps(levels)));
}

/**
 * A Celery result tuple DAG: `T0 = (('x', None), None)` (an AsyncResult) and
 * `T(i+1) = (('x', None), [Ti, Ti])` (a GroupResult whose two members are the same tuple).
 * 11 bytes per level.
 */
export function tupleDagPickle(levels = 40): Buffer {
  if (levels + 1 > 255) throw new Error('tupleDagPickle: memo indices beyond BINGET');
  // memo 0: the head ('x', None); memo 1: T0; memo i + 1: Ti.
  const ops = [...PROTO4, ...shortStr('x'), NONE, TUPLE2, MEMOIZE, NONE, TUPLE2, MEMOIZE];
  for (let i = 1; i <= levels; i++) ops.push(POP, BINGET, 0, MARK, BINGET, i, BINGET, i, LIST, TUPLE2, MEMOIZE);
  ops.push(STOP);
  return Buffer.from(ops);
}

/**
 * A positive int of exactly `bytes * 8 - 1` bits as one LONG4 (little-endian two's complement):
 * every byte 0x01 except the top one, 0x40, so the highest set bit is bit `bytes * 8 - 2`.
 */
export function long4Pickle(bytes: number): Buffer {
  const body = Buffer.alloc(bytes, 0x01);
  body[bytes - 1] = 0x40;
  const head = Buffer.alloc(5);
  head[0] = LONG4;
  head.writeInt32LE(bytes, 1);
  return Buffer.concat([Buffer.from([0x80, 0x02]), head, body, Buffer.from([STOP])]);
}

/** Hex of the first `max` bytes, for failure messages that must stay readable. */
export function hexHead(bytes: Uint8Array, max = 200): string {
  const h = Buffer.from(bytes.subarray(0, max)).toString('hex');
  return bytes.length > max ? `${h}… (${bytes.length} bytes)` : h;
}

const LONG_BINGET = 0x6a; // j
const TUPLE = 0x74; // t
const APPENDS = 0x65; // e

/** BINGET for small memo indices, LONG_BINGET beyond 255. */
function get(i: number): number[] {
  if (i < 256) return [BINGET, i];
  const b = Buffer.alloc(4);
  b.writeUInt32LE(i);
  return [LONG_BINGET, ...b];
}

/** What a generated hostile pickle looks like; `npm run fuzz` draws these. */
export interface DagShape {
  /** Levels above the leaf `[]`; past the decoder's maxDepth the pickle must be refused with a typed error. */
  levels: number;
  /** How many times each level references the one below. */
  fanout: number;
  kind: 'list' | 'tuple' | 'result';
  /** 'failure' puts the DAG in Celery's failure dict as exc_message's single arg. */
  wrap: 'none' | 'failure';
}

function failureAround(inner: number[]): number[] {
  return [
    ...PROTO4,
    EMPTY_DICT,
    MARK,
    ...shortStr('exc_type'),
    ...shortStr('ValueError'),
    ...shortStr('exc_module'),
    ...shortStr('builtins'),
    ...shortStr('exc_message'),
    ...inner,
    TUPLE1,
    SETITEMS,
    STOP,
  ];
}

/**
 * A shared-reference DAG built with MEMOIZE and BINGET/LONG_BINGET: each level is a container
 * (list, tuple, or a Celery result tuple `(('x', None), [members])`) referencing the level below
 * `fanout` times, so a copying walk visits fanout^levels nodes.
 */
export function dagPickle(shape: DagShape): Buffer {
  const { levels, fanout, kind } = shape;
  const ops: number[] = [];
  let base = 0;
  if (kind === 'result') {
    // memo 0: the head ('x', None); memo 1: the leaf (head, None).
    ops.push(...shortStr('x'), NONE, TUPLE2, MEMOIZE, NONE, TUPLE2, MEMOIZE);
    base = 1;
  } else {
    ops.push(EMPTY_LIST, MEMOIZE);
  }
  for (let i = base; i < base + levels; i++) {
    ops.push(POP);
    if (kind === 'result') ops.push(...get(0));
    ops.push(MARK);
    for (let j = 0; j < fanout; j++) ops.push(...get(i));
    ops.push(kind === 'tuple' ? TUPLE : LIST);
    if (kind === 'result') ops.push(TUPLE2);
    ops.push(MEMOIZE);
  }
  return Buffer.from(shape.wrap === 'failure' ? failureAround(ops) : [...PROTO4, ...ops, STOP]);
}

/**
 * One int of `bytes` bytes (LONG4), referenced `refs` times through the memo, in a list or as
 * the args of a failure dict. The decimal toString of such an int is superlinear in its size.
 */
export function hugeIntPickle(bytes: number, negative: boolean, refs: number, wrap: 'none' | 'failure'): Buffer {
  const body = Buffer.alloc(bytes, 0x5a);
  body[bytes - 1] = negative ? 0x9a : 0x5a;
  const head = Buffer.alloc(4);
  head.writeInt32LE(bytes);
  const refsOps: number[] = [];
  for (let i = 1; i < refs; i++) refsOps.push(BINGET, 0);
  const pre = Buffer.from([MARK, LONG4, ...head]);
  const post = Buffer.from([MEMOIZE, ...refsOps]);
  if (wrap === 'none') {
    return Buffer.concat([Buffer.from([...PROTO4, EMPTY_LIST]), pre, body, post, Buffer.from([APPENDS, STOP])]);
  }
  const failure = failureAround([0xff]);
  const at = failure.indexOf(0xff);
  // The args tuple: MARK, the int, its repeats, TUPLE; then TUPLE1 in failureAround wraps that again, which is harmless.
  return Buffer.concat([Buffer.from(failure.slice(0, at)), pre, body, post, Buffer.from([TUPLE]), Buffer.from(failure.slice(at + 1))]);
}
