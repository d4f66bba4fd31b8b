/**
 * The JavaScript value model for pickled Python data, shared by the decoder and the encoder.
 *
 * | Python                         | JavaScript                                                        |
 * | ------------------------------ | ----------------------------------------------------------------- |
 * | `None`                         | `null` (the encoder also accepts `undefined`)                     |
 * | `bool`                         | `boolean`                                                         |
 * | `int`                          | `number` if a safe integer, else `bigint`                         |
 * | `float`                        | `number` (an integral float like `1.0` reads as `1`)             |
 * | `str`                          | `string`                                                          |
 * | `bytes`, `bytearray`           | `Buffer` (the encoder accepts any `Uint8Array`, writes `bytes`)   |
 * | `list`                         | `Array`                                                           |
 * | `tuple`                        | {@link PyTuple} (a frozen `Array` subclass; build with {@link tuple}) |
 * | `dict` with only `str` keys    | {@link PyDict}: a null-prototype plain object                     |
 * | any other `dict`               | `Map`                                                             |
 * | `set` / `frozenset`            | `Set` / {@link PyFrozenSet}                                       |
 * | `datetime.datetime`            | `Date` (naive means UTC; microseconds truncated to milliseconds)  |
 * | `datetime.date/time/timedelta/timezone` | {@link PyDate} / {@link PyTime} / {@link PyTimedelta} / {@link PyTimezone} |
 * | `decimal.Decimal`, `uuid.UUID` | {@link PyDecimal}, {@link PyUUID}                                 |
 * | allowed exception instances    | {@link PyException} (`exc_type`, `exc_module`, `exc_message`)     |
 * | `celery.result.GroupResult`    | {@link CeleryGroupResult} (`id`, `results`; backend dropped)      |
 * | `celery.result.AsyncResult`    | {@link CeleryAsyncResult} (`id`, `parent`; backend dropped)       |
 *
 * Encoding reverses the table. Where JavaScript has one type for several Python ones, the
 * encoder picks: a `number` that is a safe integer (and not -0) is written as `int`, any other
 * number (fractions, -0, NaN, ±Infinity, unsafe magnitudes) as `float`; a `Buffer` as `bytes`; a
 * `Date` as a naive UTC `datetime` with millisecond precision; `undefined` as `None`. So
 * `1.0`, `bytearray`, timezone-aware datetimes and microseconds do not survive a round trip.
 *
 * JavaScript objects list integer-like keys ("1", "2") first whatever the insertion order, so a
 * str-keyed dict with such keys reads back in a different order than Python iterates it.
 * Python's `celery.result.ResultSet` cannot be pickled (Celery 5.2.6 raises TypeError), so it
 * never appears in stored data and is not modelled.
 */
import { InvalidOptionError } from '../../errors';

/** Anything the decoder can return, and the typed part of what the encoder accepts. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | PyValue[]
  | PyTuple
  | PyDict
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | Date
  | PyDate
  | PyTime
  | PyTimedelta
  | PyTimezone
  | PyDecimal
  | PyUUID
  | PyException
  | CeleryGroupResult
  | CeleryAsyncResult;

/**
 * A Python `dict` whose keys are all `str`. It has a null prototype, so keys such as
 * `__proto__` or `constructor` are ordinary own properties and cannot reach `Object.prototype`.
 */
export interface PyDict {
  [key: string]: PyValue;
}

/**
 * A Python `tuple`: a frozen array. It is an `Array` for reading, JSON and deep equality;
 * `instanceof PyTuple` is what tells the encoder to write a tuple instead of a list.
 * `map`, `filter` and friends return plain arrays.
 */
export class PyTuple<T = PyValue> extends Array<T> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  constructor(items: Iterable<T> = []) {
    super();
    // A loop, not push(...items): spreading a large tuple would overflow the argument limit.
    for (const item of items) this.push(item);
    Object.freeze(this);
  }
}

/** Builds a {@link PyTuple}: `tuple('boom')` is Python's `('boom',)`. */
export function tuple<T>(...items: T[]): PyTuple<T> {
  return new PyTuple(items);
}

/**
 * An empty, still-mutable tuple for the decoder, which must register a tuple before filling it
 * so that cycles through lists resolve to the same object. Not exported from the package.
 * @internal
 */
export function tupleShell<T>(): PyTuple<T> {
  return Reflect.construct(Array, [], PyTuple) as PyTuple<T>;
}

/** A Python `frozenset`. Being a `Set` subclass, it is not actually frozen; the class only marks the Python type. */
export class PyFrozenSet<T = PyValue> extends Set<T> {}

function invalid(problem: string | null): void {
  if (problem !== null) throw new InvalidOptionError(`${problem}. Python would not accept it either; pass values in range.`);
}

const isInt = (v: number): boolean => Number.isSafeInteger(v);

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Why these date fields are not a valid Python `date`, or null. @internal */
export function dateProblem(year: number, month: number, day: number): string | null {
  if (!isInt(year) || year < 1 || year > 9999) return 'date year must be an integer in 1..9999';
  if (!isInt(month) || month < 1 || month > 12) return 'date month must be an integer in 1..12';
  if (!isInt(day) || day < 1 || day > daysInMonth(year, month)) return 'date day is out of range for the month';
  return null;
}

/** Why these time fields are not a valid Python `time`, or null. @internal */
export function timeProblem(hour: number, minute: number, second: number, microsecond: number): string | null {
  if (!isInt(hour) || hour < 0 || hour > 23) return 'time hour must be an integer in 0..23';
  if (!isInt(minute) || minute < 0 || minute > 59) return 'time minute must be an integer in 0..59';
  if (!isInt(second) || second < 0 || second > 59) return 'time second must be an integer in 0..59';
  if (!isInt(microsecond) || microsecond < 0 || microsecond > 999_999) return 'time microsecond must be an integer in 0..999999';
  return null;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** A Python `datetime.date`. JSON form: `"YYYY-MM-DD"`. */
export class PyDate {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
  ) {
    invalid(dateProblem(year, month, day));
  }

  toString(): string {
    return `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** A Python `datetime.timedelta`, normalized as Python does: `0 <= seconds < 86400`, `0 <= microseconds < 10**6`. */
export class PyTimedelta {
  readonly days: number;
  readonly seconds: number;
  readonly microseconds: number;

  constructor(days = 0, seconds = 0, microseconds = 0) {
    invalid([days, seconds, microseconds].every(isInt) ? null : 'timedelta fields must be safe integers');
    // BigInt: days * 86400e6 exceeds 2**53 well inside Python's range.
    const total = BigInt(days) * 86_400_000_000n + BigInt(seconds) * 1_000_000n + BigInt(microseconds);
    const perDay = 86_400_000_000n;
    let d = total / perDay;
    let rest = total % perDay;
    if (rest < 0n) {
      rest += perDay;
      d -= 1n;
    }
    invalid(d < -999_999_999n || d > 999_999_999n ? 'timedelta days must be within -999999999..999999999' : null);
    this.days = Number(d);
    this.seconds = Number(rest / 1_000_000n);
    this.microseconds = Number(rest % 1_000_000n);
  }

  /** The whole duration in microseconds. */
  totalMicroseconds(): bigint {
    return BigInt(this.days) * 86_400_000_000n + BigInt(this.seconds) * 1_000_000n + BigInt(this.microseconds);
  }
}

/** A Python `datetime.timezone`: a fixed UTC offset, strictly between -24h and +24h. */
export class PyTimezone {
  constructor(
    readonly utcOffset: PyTimedelta,
    readonly name: string | null = null,
  ) {
    const us = utcOffset.totalMicroseconds();
    invalid(us <= -86_400_000_000n || us >= 86_400_000_000n ? 'timezone offset must be strictly between -24h and 24h' : null);
  }

  /** `datetime.timezone.utc`. */
  static readonly UTC: PyTimezone = new PyTimezone(new PyTimedelta());
}

/** A Python `datetime.time`. JSON form: ISO `"HH:MM:SS.ffffff"`, plus `±HH:MM` when it has a timezone. */
export class PyTime {
  constructor(
    readonly hour: number,
    readonly minute: number,
    readonly second = 0,
    readonly microsecond = 0,
    readonly tzinfo: PyTimezone | null = null,
    readonly fold: 0 | 1 = 0,
  ) {
    invalid(timeProblem(hour, minute, second, microsecond));
    invalid(fold === 0 || fold === 1 ? null : 'time fold must be 0 or 1');
  }

  toString(): string {
    let s = `${pad(this.hour)}:${pad(this.minute)}:${pad(this.second)}`;
    if (this.microsecond) s += `.${pad(this.microsecond, 6)}`;
    if (this.tzinfo) {
      const us = this.tzinfo.utcOffset.totalMicroseconds();
      const abs = us < 0n ? -us : us;
      const minutes = Number(abs / 60_000_000n);
      s += `${us < 0n ? '-' : '+'}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
    }
    return s;
  }

  toJSON(): string {
    return this.toString();
  }
}

// Python's Decimal grammar: sign, digits with optional point and exponent, or Infinity/NaN/sNaN with payload.
const DECIMAL = /^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|s?nan\d*)$/i;

/** A Python `decimal.Decimal`, kept as its exact string so no precision is lost. JSON form: that string. */
export class PyDecimal {
  constructor(readonly value: string) {
    invalid(DECIMAL.test(value) ? null : 'decimal value is not a Python Decimal literal');
  }

  /** @internal */
  static isValid(value: string): boolean {
    return value.length <= 100_000 && DECIMAL.test(value);
  }

  toString(): string {
    return this.value;
  }

  toJSON(): string {
    return this.value;
  }
}

/** A Python `uuid.UUID`, as its canonical lowercase hyphenated string. JSON form: that string. */
export class PyUUID {
  readonly value: string;

  constructor(value: string | bigint) {
    if (typeof value === 'bigint') {
      invalid(value < 0n || value >= 1n << 128n ? 'UUID int must be in 0..2**128-1' : null);
      const hex = value.toString(16).padStart(32, '0');
      this.value = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    } else {
      const hex = value.replace(/-/g, '').toLowerCase();
      invalid(/^[0-9a-f]{32}$/.test(hex) ? null : 'UUID must be 32 hex digits, optionally hyphenated');
      this.value = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
  }

  /** The UUID as Python's `UUID.int`. */
  toBigInt(): bigint {
    return BigInt(`0x${this.value.replace(/-/g, '')}`);
  }

  toString(): string {
    return this.value;
  }

  toJSON(): string {
    return this.value;
  }
}

/**
 * An exception instance of an allowed class (Python builtins, `celery.exceptions`, `billiard.exceptions`).
 * Its fields match the dict Celery stores for failures, so both read the same way.
 * Attributes set on the exception after construction (pickle BUILD state) are not kept.
 */
export class PyException {
  constructor(
    /** Class name, e.g. `ValueError`. */
    readonly exc_type: string,
    /** The args tuple, e.g. `('boom',)`. */
    readonly exc_message: PyTuple,
    /** Module of the class, e.g. `builtins`. */
    readonly exc_module = 'builtins',
  ) {}
}

/**
 * A Celery `AsyncResult`: the task id and its parent. The backend (and the database URL inside it) that Celery
 * pickles alongside is dropped when decoding; when encoding it is written as None, so Celery uses the current app's.
 */
export class CeleryAsyncResult {
  constructor(
    readonly id: string,
    readonly parent: CeleryAsyncResult | CeleryGroupResult | null = null,
  ) {}
}

/** A Celery `GroupResult`: the group id and its member results, usually {@link CeleryAsyncResult}s. */
export class CeleryGroupResult {
  constructor(
    readonly id: string | null,
    readonly results: (CeleryAsyncResult | CeleryGroupResult)[],
  ) {}
}
