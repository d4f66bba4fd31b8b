/*
 * Writes protocol 4 (no framing, which is optional), readable by pickle.loads on Python >= 3.4.
 * The only globals ever written are the allow-listed ones the decoder reads back, so a value
 * built in JavaScript cannot make Python import or call anything else.
 */
import { InvalidOptionError } from '../../errors';
import { renderValue } from '../render';
import { PickleEncodeError } from './errors';
import { isAllowedException } from './globals';
import { Op } from './opcodes';
import { encodeUtf8 } from './utf8';
import {
  CeleryAsyncResult,
  CeleryGroupResult,
  PyDate,
  PyDecimal,
  PyException,
  PyFrozenSet,
  PyTime,
  PyTimedelta,
  PyTimezone,
  PyTuple,
  PyUUID,
} from './values';

/** Options for {@link encodePickle}. */
export interface EncodeOptions {
  /**
   * Deepest nesting accepted before giving up with PickleEncodeError. Default and maximum 1000:
   * the encoder recurses, and CPython's own pickler stops near that depth (its recursion limit).
   */
  maxDepth?: number;
}

const BATCH = 1000; // what CPython uses for APPENDS/SETITEMS, so its readers see familiar batch sizes

class Writer {
  private buf = Buffer.alloc(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(...bytes: number[]): void {
    this.ensure(bytes.length);
    for (const b of bytes) this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }

  u64(v: number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }

  f64be(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.length);
    this.length += 8;
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/** Little-endian two's complement in the fewest bytes, as LONG1/LONG4 expect. */
function longBytes(v: bigint): Buffer {
  if (v === 0n) return Buffer.alloc(0);
  let n = 1;
  while (v < -(1n << BigInt(8 * n - 1)) || v >= 1n << BigInt(8 * n - 1)) n++;
  const unsigned = v < 0n ? (1n << BigInt(8 * n)) + v : v;
  return Buffer.from(unsigned.toString(16).padStart(2 * n, '0'), 'hex').reverse();
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function datetimeState(year: number, month: number, day: number): number[] {
  return [year >> 8, year & 0xff, month, day];
}

function microBytes(us: number): number[] {
  return [(us >> 16) & 0xff, (us >> 8) & 0xff, us & 0xff];
}

class Encoder {
  private readonly w = new Writer();
  private readonly memo = new Map<object, number>();
  private readonly globals = new Map<string, number>();
  private readonly active = new Set<object>();
  /** Where the encoder is, formatted only when an error needs it: an index, a property key, or a label. */
  private readonly path: (number | string | { key: string })[] = [];
  private memoCount = 0;

  constructor(private readonly maxDepth: number) {}

  encode(value: unknown): Buffer {
    this.w.byte(Op.PROTO, 4);
    this.value(value);
    this.w.byte(Op.STOP);
    return this.w.result();
  }

  private fail(what: string): never {
    // Keys are the caller's data, possibly read back from a hostile row: each is shown cut to about 60 characters.
    const where = this.path.map((p) =>
      typeof p === 'number' ? `[${p}]` : typeof p === 'string' ? p : /^[A-Za-z_$][\w$]{0,59}$/.test(p.key) ? `.${p.key}` : `[${renderValue(p.key, 60)}]`,
    );
    throw new PickleEncodeError(`$${where.join('')}`, what);
  }

  /** Encodes a nested value (as a dict key or set member when `asKey` says what it is), tracking the path for errors. */
  private child(segment: number | string | { key: string }, v: unknown, asKey?: string): void {
    this.path.push(segment);
    if (asKey === undefined) this.value(v);
    else this.key(v, asKey);
    this.path.pop();
  }

  private memoize(): number {
    this.w.byte(Op.MEMOIZE);
    return this.memoCount++;
  }

  private get(index: number): void {
    if (index < 256) this.w.byte(Op.BINGET, index);
    else {
      this.w.byte(Op.LONG_BINGET);
      this.w.u32(index);
    }
  }

  private str(s: string): void {
    const b = encodeUtf8(s);
    if (b.length < 256) this.w.byte(Op.SHORT_BINUNICODE, b.length);
    else if (b.length < 2 ** 32) {
      this.w.byte(Op.BINUNICODE);
      this.w.u32(b.length);
    } else {
      this.w.byte(Op.BINUNICODE8);
      this.w.u64(b.length);
    }
    this.w.bytes(b);
  }

  private bytes(b: Uint8Array): void {
    if (b.length < 256) this.w.byte(Op.SHORT_BINBYTES, b.length);
    else if (b.length < 2 ** 32) {
      this.w.byte(Op.BINBYTES);
      this.w.u32(b.length);
    } else {
      this.w.byte(Op.BINBYTES8);
      this.w.u64(b.length);
    }
    this.w.bytes(b);
  }

  private int(v: bigint | number): void {
    const n = typeof v === 'bigint' ? v : BigInt(v);
    if (n >= 0n && n < 256n) this.w.byte(Op.BININT1, Number(n));
    else if (n >= 0n && n < 65536n) {
      this.w.byte(Op.BININT2);
      this.w.u16(Number(n));
    } else if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      this.w.byte(Op.BININT);
      this.w.i32(Number(n));
    } else {
      const b = longBytes(n);
      if (b.length < 256) this.w.byte(Op.LONG1, b.length);
      else {
        this.w.byte(Op.LONG4);
        this.w.i32(b.length);
      }
      this.w.bytes(b);
    }
  }

  private global(module: string, name: string): void {
    const key = `${module}.${name}`;
    const seen = this.globals.get(key);
    if (seen !== undefined) return this.get(seen);
    this.str(module);
    this.str(name);
    this.w.byte(Op.STACK_GLOBAL);
    this.globals.set(key, this.memoize());
  }

  /** `module.name(*args)`, written as Python writes a __reduce__ result. */
  private reduce(module: string, name: string, args: () => void): void {
    this.global(module, name);
    this.w.byte(Op.MARK);
    args();
    this.w.byte(Op.TUPLE, Op.REDUCE);
  }

  private hashable(v: unknown): boolean {
    if (v === null || v === undefined || typeof v !== 'object') return true;
    if (v instanceof PyTuple) return v.every((x) => this.hashable(x));
    if (v instanceof PyFrozenSet) return true;
    return !(Array.isArray(v) || v instanceof Map || v instanceof Set || isPlainObject(v));
  }

  private key(v: unknown, what: string): void {
    if (!this.hashable(v)) this.fail(`${what} is a list, dict or set, which Python cannot hash`);
    this.value(v);
  }

  private value(v: unknown): void {
    if (this.path.length > this.maxDepth) this.fail(`nesting deeper than maxDepth (${this.maxDepth})`);
    switch (typeof v) {
      case 'undefined':
        return this.w.byte(Op.NONE);
      case 'boolean':
        return this.w.byte(v ? Op.NEWTRUE : Op.NEWFALSE);
      case 'number':
        // The decoder's mapping in reverse: safe integers are ints; everything else (fractions, -0, NaN, ±Infinity, huge magnitudes) is a float.
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) return this.int(v);
        this.w.byte(Op.BINFLOAT);
        return this.w.f64be(v);
      case 'bigint':
        return this.int(v);
      case 'string':
        return this.str(v);
      case 'object':
        if (v === null) return this.w.byte(Op.NONE);
        return this.object(v);
      default:
        return this.fail(`a ${typeof v} has no pickle form`);
    }
  }

  private object(v: object): void {
    const seen = this.memo.get(v);
    if (seen !== undefined) return this.get(seen);
    if (this.active.has(v)) this.fail('it refers back to itself (circular reference)');
    this.active.add(v);
    this.container(v);
    this.active.delete(v);
    this.memo.set(v, this.memoize());
  }

  private items(values: ArrayLike<unknown>, close: number): void {
    for (let start = 0; start < values.length; start += BATCH) {
      this.w.byte(Op.MARK);
      for (let i = start; i < Math.min(values.length, start + BATCH); i++) this.child(i, values[i]);
      this.w.byte(close);
    }
  }

  /** `named`: keys are the strings of a plain object, shown in paths as properties; otherwise entries are numbered. */
  private entries(entries: [unknown, unknown][], named: boolean): void {
    for (let start = 0; start < entries.length; start += BATCH) {
      this.w.byte(Op.MARK);
      for (let i = start; i < Math.min(entries.length, start + BATCH); i++) {
        const [k, val] = entries[i];
        const segment = named ? { key: k as string } : `<entry ${i}>`;
        this.child(segment, k, 'the key');
        this.child(segment, val);
      }
      this.w.byte(Op.SETITEMS);
    }
  }

  private container(v: object): void {
    if (v instanceof Uint8Array) return this.bytes(v);
    if (v instanceof PyTuple) {
      if (v.length === 0) return this.w.byte(Op.EMPTY_TUPLE);
      if (v.length <= 3) {
        for (let i = 0; i < v.length; i++) this.child(i, v[i]);
        return this.w.byte(Op.TUPLE1 + v.length - 1);
      }
      this.w.byte(Op.MARK);
      for (let i = 0; i < v.length; i++) this.child(i, v[i]);
      return this.w.byte(Op.TUPLE);
    }
    if (Array.isArray(v)) {
      this.w.byte(Op.EMPTY_LIST);
      return this.items(v, Op.APPENDS);
    }
    if (v instanceof PyFrozenSet) {
      this.w.byte(Op.MARK);
      [...v].forEach((x, i) => this.child(`<member ${i}>`, x, 'a member'));
      return this.w.byte(Op.FROZENSET);
    }
    if (v instanceof Set) {
      this.w.byte(Op.EMPTY_SET);
      const members = [...v];
      for (let start = 0; start < members.length; start += BATCH) {
        this.w.byte(Op.MARK);
        for (let i = start; i < Math.min(members.length, start + BATCH); i++) this.child(`<member ${i}>`, members[i], 'a member');
        this.w.byte(Op.ADDITEMS);
      }
      return;
    }
    if (v instanceof Map) {
      this.w.byte(Op.EMPTY_DICT);
      return this.entries([...v.entries()], false);
    }
    if (v instanceof Date) return this.datetime(v);
    if (v instanceof PyDate) return this.reduce('datetime', 'date', () => this.bytes(Buffer.from(datetimeState(v.year, v.month, v.day))));
    if (v instanceof PyTime) return this.time(v);
    if (v instanceof PyTimedelta) {
      return this.reduce('datetime', 'timedelta', () => [v.days, v.seconds, v.microseconds].forEach((n) => this.int(n)));
    }
    if (v instanceof PyTimezone) return this.timezone(v);
    if (v instanceof PyDecimal) return this.reduce('decimal', 'Decimal', () => this.str(v.value));
    if (v instanceof PyUUID) {
      this.global('uuid', 'UUID');
      this.w.byte(Op.EMPTY_TUPLE, Op.NEWOBJ, Op.EMPTY_DICT);
      this.str('int');
      this.int(v.toBigInt());
      return this.w.byte(Op.SETITEM, Op.BUILD);
    }
    if (v instanceof PyException) return this.exception(v);
    if (v instanceof CeleryAsyncResult) return this.asyncResult(v);
    if (v instanceof CeleryGroupResult) return this.groupResult(v);
    if (isPlainObject(v)) {
      this.w.byte(Op.EMPTY_DICT);
      const record = v as Record<string, unknown>;
      return this.entries(
        Object.keys(record).map((k) => [k, record[k]]),
        true,
      );
    }
    const kind = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return this.fail(`a ${typeof kind === 'string' && kind ? kind : 'non-plain'} object is not in the value model`);
  }

  private datetime(d: Date): void {
    const ms = d.getTime();
    if (Number.isNaN(ms)) this.fail('it is an invalid Date');
    const year = d.getUTCFullYear();
    if (year < 1 || year > 9999) this.fail('Python datetime only holds years 1..9999');
    const state = [
      ...datetimeState(year, d.getUTCMonth() + 1, d.getUTCDate()),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
      ...microBytes(d.getUTCMilliseconds() * 1000),
    ];
    // Naive UTC, as Celery stores datetimes.
    this.reduce('datetime', 'datetime', () => this.bytes(Buffer.from(state)));
  }

  private time(t: PyTime): void {
    const state = [t.hour | (t.fold ? 0x80 : 0), t.minute, t.second, ...microBytes(t.microsecond)];
    this.reduce('datetime', 'time', () => {
      this.bytes(Buffer.from(state));
      if (t.tzinfo) this.child('.tzinfo', t.tzinfo);
    });
  }

  private timezone(z: PyTimezone): void {
    this.reduce('datetime', 'timezone', () => {
      this.child('.utcOffset', z.utcOffset);
      if (z.name !== null) this.str(z.name);
    });
  }

  private exception(e: PyException): void {
    if (typeof e.exc_type !== 'string' || typeof e.exc_module !== 'string' || !isAllowedException(e.exc_module, e.exc_type)) {
      this.fail('its exception class is not on the allow-list (Python builtins, celery.exceptions, billiard.exceptions)');
    }
    if (!Array.isArray(e.exc_message)) this.fail('exc_message must be the tuple of exception args');
    const args = e.exc_message instanceof PyTuple ? e.exc_message : new PyTuple(e.exc_message as unknown[]);
    this.global(e.exc_module, e.exc_type);
    this.child('.exc_message', args);
    this.w.byte(Op.REDUCE);
  }

  private resultRef(segment: string | number, v: unknown, what: string): void {
    this.path.push(segment);
    if (!(v instanceof CeleryAsyncResult || v instanceof CeleryGroupResult)) {
      this.fail(`${what} must be a CeleryAsyncResult or CeleryGroupResult`);
    }
    this.value(v);
    this.path.pop();
  }

  private asyncResult(r: CeleryAsyncResult): void {
    if (typeof r.id !== 'string') this.fail('a CeleryAsyncResult id must be a string');
    // (id, backend, task_name, app, parent) with backend and app None: Celery then uses the current app's backend.
    this.reduce('celery.result', 'AsyncResult', () => {
      this.str(r.id);
      this.w.byte(Op.NONE, Op.NONE, Op.NONE);
      if (r.parent === null || r.parent === undefined) this.w.byte(Op.NONE);
      else this.resultRef('.parent', r.parent, 'the parent');
    });
  }

  private groupResult(g: CeleryGroupResult): void {
    if (g.id !== null && typeof g.id !== 'string') this.fail('a CeleryGroupResult id must be a string or null');
    if (!Array.isArray(g.results)) this.fail('CeleryGroupResult results must be an array');
    this.reduce('celery.result', 'GroupResult', () => {
      if (g.id === null) this.w.byte(Op.NONE);
      else this.str(g.id);
      this.w.byte(Op.EMPTY_LIST);
      g.results.forEach((r, i) => {
        this.resultRef(`.results[${i}]`, r, 'each result');
        this.w.byte(Op.APPEND);
      });
    });
  }
}

/**
 * Encodes a value of the model in `values.ts` as a pickle that Python 3's `pickle.loads` reads
 * back as the matching Python value. Throws {@link PickleEncodeError} for anything outside the
 * model: functions, symbols, class instances that are not model classes, circular references,
 * unhashable dict keys or set members, invalid Dates.
 */
export function encodePickle(value: unknown, options?: EncodeOptions): Buffer {
  const maxDepth = options?.maxDepth ?? 1000;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) {
    throw new InvalidOptionError(`encodePickle option maxDepth is ${String(maxDepth)}; it must be an integer in 1..1000. Pass a valid limit or leave it unset.`);
  }
  try {
    return new Encoder(maxDepth).encode(value);
  } catch (err) {
    if (err instanceof PickleEncodeError) throw err;
    // e.g. a getter that throws, or the JS stack running out: still a typed error for the caller.
    throw new PickleEncodeError('$', `encoding failed unexpectedly (${err instanceof Error ? err.name : 'non-error thrown'})`);
  }
}
