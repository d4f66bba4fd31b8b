/*
 * Short, bounded text for decoded values, for error messages and logs.
 *
 * Decoded values come from stored rows, so they are hostile input: a few hundred bytes of
 * pickle can hold a DAG whose naive rendering (String, join, JSON.stringify) visits 2^40
 * nodes, a cycle, a 60 MB string, or an int whose decimal toString takes minutes. Here every
 * object is expanded at most once (a second reference prints as `[…]`, a reference back to an
 * ancestor as `[Circular]`), the walk stops once the output reaches its character budget, and
 * huge ints print as their bit length, found without ever computing their decimal form. So the
 * work is bounded by the budget plus, at worst, one pass over each distinct object reached.
 */
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
} from './pickle/values';

/** Default character budget of {@link renderValue}: enough for a useful error message, short enough for a log line. */
export const RENDER_BUDGET_CHARS = 2000;

/** Ints of more bits than this print as `<int of N bits>`: 1024 bits is 309 decimal digits, cheap to print. */
const MAX_DECIMAL_INT_BITS = 1024;

/**
 * Bits of bigint work (bit-length probing) one render may spend. Beyond it a huge int prints
 * as `<int of more than 1024 bits>`: a list can reference one 60 MB int a hundred times
 * (primitives have no identity to remember), and each exact count costs a pass over it.
 * 2^30 bits is 128 MB of memory traffic, well under a second: the exact size of a 16 MB int
 * fits, one of 60 MB does not (2^33 let three renderings of one 60 MB int take 5 s).
 */
const BIGINT_WORK_BITS = 2 ** 30;

/** Deepest nesting expanded; deeper containers print as `…`. Keeps the recursion far from the JS stack limit. */
const MAX_DEPTH = 100;

/** The most characters of one string shown before it is cut. */
const MAX_STRING_CHARS = 500;

class BudgetSpent extends Error {}

class Renderer {
  private out = '';
  private readonly expanded = new Set<object>();
  private readonly open = new Set<object>();
  private bigintWork = BIGINT_WORK_BITS;

  constructor(private readonly budget: number) {}

  text(): string {
    return this.out;
  }

  /** Appends, and stops the whole walk once the budget is reached: nothing more would be shown. */
  emit(s: string): void {
    const room = this.budget - this.out.length;
    if (s.length <= room) {
      this.out += s;
      return;
    }
    this.out += `${s.slice(0, Math.max(0, room))}…`;
    throw new BudgetSpent();
  }

  /** A string as it would be written in source, cut to what the budget and MAX_STRING_CHARS allow. */
  quoted(s: string): string {
    const keep = Math.min(s.length, MAX_STRING_CHARS, Math.max(0, this.budget - this.out.length));
    // Escaping only the kept part: JSON.stringify of the whole string would be linear in its full length.
    const body = JSON.stringify(s.slice(0, keep)).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
    return `'${body}'${cut(s.length - keep)}`;
  }

  bare(s: string): string {
    const keep = Math.min(s.length, MAX_STRING_CHARS, Math.max(0, this.budget - this.out.length));
    return `${s.slice(0, keep)}${cut(s.length - keep)}`;
  }

  bigint(v: bigint): string {
    const probe = bitLength(v, MAX_DECIMAL_INT_BITS, this.bigintWork);
    this.bigintWork -= probe.work;
    if (probe.bits !== null && probe.bits <= MAX_DECIMAL_INT_BITS) return v.toString();
    const sign = v < 0n ? 'negative ' : '';
    return probe.bits === null ? `<${sign}int of more than ${MAX_DECIMAL_INT_BITS} bits>` : `<${sign}int of ${probe.bits} bits>`;
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        return this.emit(this.quoted(v));
      case 'bigint':
        return this.emit(this.bigint(v));
      case 'number':
      case 'boolean':
      case 'undefined':
        return this.emit(String(v));
      case 'symbol':
        return this.emit(this.bare(v.toString()));
      case 'function':
        return this.emit('<function>');
    }
    if (v === null) return this.emit('null');
    this.object(v as object, depth);
  }

  private object(o: object, depth: number): void {
    if (this.open.has(o)) return this.emit('[Circular]');
    if (this.expanded.has(o)) return this.emit('[…]');
    if (Buffer.isBuffer(o)) return this.emit(bytesPreview(o));
    if (o instanceof Date) return this.emit(Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString());
    if (depth >= MAX_DEPTH) return this.emit('…');
    this.expanded.add(o);
    this.open.add(o);
    try {
      this.container(o, depth + 1);
    } finally {
      this.open.delete(o);
    }
  }

  private items(items: Iterable<unknown>, depth: number): void {
    let first = true;
    for (const item of items) {
      if (!first) this.emit(', ');
      first = false;
      this.value(item, depth);
    }
  }

  private entries(entries: Iterable<[unknown, unknown]>, depth: number, key: (k: unknown) => void): void {
    let first = true;
    for (const [k, x] of entries) {
      if (!first) this.emit(', ');
      first = false;
      key(k);
      this.emit(': ');
      this.value(x, depth);
    }
  }

  private container(o: object, depth: number): void {
    if (o instanceof PyTuple) {
      this.emit('(');
      this.items(o, depth);
      return this.emit(o.length === 1 ? ',)' : ')');
    }
    if (Array.isArray(o)) {
      this.emit('[');
      this.items(o, depth);
      return this.emit(']');
    }
    if (o instanceof Map) {
      this.emit('Map{');
      this.entries(o.entries(), depth, (k) => this.value(k, depth));
      return this.emit('}');
    }
    if (o instanceof Set) {
      this.emit(o instanceof PyFrozenSet ? 'frozenset{' : 'Set{');
      this.items(o, depth);
      return this.emit('}');
    }
    if (o instanceof PyException) {
      this.emit(`${this.bare(o.exc_type)}(`);
      this.items(Array.isArray(o.exc_message) ? o.exc_message : [o.exc_message], depth);
      return this.emit(')');
    }
    if (o instanceof CeleryAsyncResult) {
      this.emit('AsyncResult(');
      this.value(o.id, depth);
      if (o.parent !== null) {
        this.emit(', parent=');
        this.value(o.parent, depth);
      }
      return this.emit(')');
    }
    if (o instanceof CeleryGroupResult) {
      this.emit('GroupResult(');
      this.value(o.id, depth);
      this.emit(', ');
      this.value(o.results, depth);
      return this.emit(')');
    }
    if (o instanceof PyTimedelta) return this.emit(`timedelta(${o.days}, ${o.seconds}, ${o.microseconds})`);
    if (o instanceof PyTimezone) {
      this.emit('timezone(');
      this.value(o.utcOffset, depth);
      return this.emit(o.name === null ? ')' : `, ${this.quoted(o.name)})`);
    }
    const proto: unknown = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) {
      this.emit('{');
      // for…in stops with the walk; Object.entries would first copy every entry of a huge dict.
      const own = function* (obj: Record<string, unknown>): Generator<[unknown, unknown]> {
        for (const k in obj) if (Object.prototype.hasOwnProperty.call(obj, k)) yield [k, obj[k]];
      };
      this.entries(own(o as Record<string, unknown>), depth, (k) => this.emit(/^[A-Za-z_$][\w$]*$/.test(k as string) ? (k as string) : this.quoted(k as string)));
      return this.emit('}');
    }
    // Their own toString is the readable form; a Decimal may be 100,000 digits long, so it is cut.
    if (o instanceof PyDate || o instanceof PyTime || o instanceof PyDecimal || o instanceof PyUUID) return this.emit(this.bare(o.toString()));
    // Any other class: its name only. Calling an unknown toString could cost anything.
    const name = (proto as { constructor?: { name?: unknown } } | undefined)?.constructor?.name;
    return this.emit(`<${typeof name === 'string' ? this.bare(name) : 'object'}>`);
  }
}

function cut(omitted: number): string {
  return omitted > 0 ? `… (+${omitted} chars)` : '';
}

function bytesPreview(b: Buffer): string {
  const shown = b.subarray(0, 32).toString('hex');
  return `<${b.length} bytes${b.length ? `: ${shown}${b.length > 32 ? '…' : ''}` : ''}>`;
}

/**
 * The bit length of |v| (Python's `int.bit_length()`), or null when finding it would cost more
 * than `workBits`; `work` is what was spent, in bits touched. Never calls toString on a large
 * value: an `asIntN(k + 1, v) === v` probe costs O(k), so doubling k finds the size in O(bits);
 * then shifting away the lower half and repeating keeps the total linear.
 */
export function bitLength(v: bigint, small: number, workBits: number): { bits: number | null; work: number } {
  const exact = (x: bigint): number => (x === 0n ? 0 : (x < 0n ? -x : x).toString(2).length);
  let work = small;
  // Nearly every int is small: one probe settles it.
  if (BigInt.asIntN(small + 1, v) === v) return { bits: exact(v), work };
  // Sized on v itself, sign and all, so that nothing of v's full size is computed before the work is known to be allowed.
  let k = small;
  while (BigInt.asIntN(k + 1, v) !== v) {
    k *= 2;
    work += k;
    if (work > workBits) return { bits: null, work };
  }
  work += 2 * k; // the negation below and the first shift, each O(k)
  if (work > workBits) return { bits: null, work };
  let x = v < 0n ? -v : v;
  let bits = 0;
  while (k > small) {
    // x < 2^(k+1): drop the lower half of its bits, then size what is left the same way.
    const half = k / 2;
    x >>= BigInt(half);
    bits += half;
    k = small;
    while (BigInt.asUintN(k, x) !== x) k *= 2;
    work += 2 * k;
  }
  return { bits: bits + exact(x), work };
}

/**
 * A short, readable rendering of any value, at most `budgetChars` characters plus a final `…`.
 * Strings are quoted; shared references print once, later ones as `[…]`; cycles as `[Circular]`;
 * ints beyond 1024 bits as `<int of N bits>`; long strings are cut with `… (+N chars)`.
 */
export function renderValue(value: unknown, budgetChars = RENDER_BUDGET_CHARS): string {
  const r = new Renderer(budgetChars);
  try {
    r.value(value, 0);
  } catch (error) {
    if (!(error instanceof BudgetSpent)) throw error;
  }
  return r.text();
}

/**
 * A list of values (an exception's args) joined with `, ` under one budget, top-level strings
 * unquoted as String() would show them: `boom, 2` for `('boom', 2)`. A reference shared
 * between items prints once.
 */
export function renderArgs(items: readonly unknown[], budgetChars = RENDER_BUDGET_CHARS): string {
  const r = new Renderer(budgetChars);
  try {
    items.forEach((item, i) => {
      if (i > 0) r.emit(', ');
      if (typeof item === 'string') r.emit(r.bare(item));
      else r.value(item, 0);
    });
  } catch (error) {
    if (!(error instanceof BudgetSpent)) throw error;
  }
  return r.text();
}

/** A bounded string taken as is (a type name, an id): cut to `maxChars` with the count of what was left out. */
export function renderText(s: string, maxChars = 200): string {
  return s.length <= maxChars ? s : `${s.slice(0, maxChars)}${cut(s.length - maxChars)}`;
}
