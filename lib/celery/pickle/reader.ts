import { PickleDecodeError } from './errors';
import { decodeUtf8 } from './utf8';

/**
 * Bounds-checked reads over the input. Every length is compared with what is left before
 * anything is sliced or allocated, so a declared size of 2**40 costs nothing.
 */
export class Reader {
  pos = 0;
  /** Offset of the opcode being decoded, for error messages. */
  opStart = 0;

  readonly bytes: Buffer;
  private readonly view: DataView;

  constructor(input: Uint8Array) {
    // Views, not copies: fixed-width reads go straight to these instead of slicing per opcode.
    this.bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(what: string): never {
    throw new PickleDecodeError(this.opStart, what);
  }

  private need(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`${what} declares a negative or oversized length`);
    if (n > this.remaining) {
      this.fail(`${what} needs ${n} bytes but only ${this.remaining} remain (truncated or corrupt length)`);
    }
  }

  /** A view of the next n bytes (no copy). */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const view = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  /** The next n bytes as UTF-8 text (surrogates allowed, as Python's surrogatepass), or null if invalid. */
  utf8(n: number, what: string): string | null {
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    // Most pickled strings are short ASCII keys: decode those without slicing or a TextDecoder call.
    if (n <= 64) {
      let ascii = true;
      for (let i = start; i < start + n; i++) if (this.bytes[i] > 0x7f) ascii = false;
      if (ascii) return this.bytes.toString('latin1', start, start + n);
    }
    return decodeUtf8(this.bytes.subarray(start, start + n));
  }

  /** A fresh copy of the next n bytes, so decoded values never alias (or pin) the caller's buffer. */
  copy(n: number, what: string): Buffer {
    return Buffer.from(this.take(n, what));
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** An unsigned 64-bit length; anything beyond 2**53 cannot fit in the input, so it is reported as such. */
  u64(what: string): number {
    const lo = this.u32(what);
    const hi = this.u32(what);
    if (hi > 0x1fffff) this.fail(`${what} declares a length of 2**53 bytes or more, larger than the pickle`);
    return hi * 0x100000000 + lo;
  }

  f64be(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  /** Bytes up to (not including) the next newline, which is consumed. */
  line(what: string): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`${what} has no terminating newline (truncated)`);
    const view = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return view;
  }

  /** A newline-terminated argument decoded as text (latin-1 keeps every byte; callers validate). */
  textLine(what: string): string {
    const b = this.line(what);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  }
}
