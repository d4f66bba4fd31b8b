/* Parsers for the text arguments of protocol 0 opcodes. Each returns null on bad input; the caller reports it. */

/** Python 3.11 refuses int() of longer decimal strings (sys.get_int_max_str_digits); so do we, which also keeps BigInt parsing cheap. */
const MAX_INT_DIGITS = 4300;

/** An int as the decoder models it: a number when it is a safe integer, a bigint otherwise. */
export function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function parseDecimalInt(text: string): number | bigint | null {
  const m = /^\s*([+-]?)0*(\d+)\s*$/.exec(text);
  if (!m || m[2].length > MAX_INT_DIGITS) return null;
  const v = BigInt(m[2]);
  return normalizeInt(m[1] === '-' ? -v : v);
}

const FLOAT = /^\s*[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)\s*$/i;

export function parseFloatText(text: string): number | null {
  if (text.length > 1000 || !FLOAT.test(text)) return null;
  const t = text.trim().toLowerCase();
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[+-]/, '');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  return Number(t);
}

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c, "'": 0x27, '"': 0x22, a: 0x07, b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b,
};

/** Python's codecs.escape_decode, used by the STRING opcode. */
export function escapeDecode(b: Uint8Array): Uint8Array | null {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    i++;
    if (i >= b.length) return null; // a trailing lone backslash is an error in Python
    const e = String.fromCharCode(b[i]);
    if (e === '\n') continue;
    if (e in SIMPLE_ESCAPES) {
      out.push(SIMPLE_ESCAPES[e]);
    } else if (e >= '0' && e <= '7') {
      let v = 0;
      let k = 0;
      while (k < 3 && i < b.length && b[i] >= 0x30 && b[i] <= 0x37) {
        v = v * 8 + (b[i] - 0x30);
        i++;
        k++;
      }
      i--;
      out.push(v & 0xff);
    } else if (e === 'x') {
      const hex = String.fromCharCode(b[i + 1] ?? 0, b[i + 2] ?? 0);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(0x5c, b[i]);
    }
  }
  return Uint8Array.from(out);
}

/** Python's raw_unicode_escape decoding, used by the UNICODE opcode: latin-1 plus \uXXXX and \UXXXXXXXX. */
export function rawUnicodeEscapeDecode(b: Uint8Array): string | null {
  let out = '';
  let i = 0;
  while (i < b.length) {
    if (b[i] !== 0x5c) {
      out += String.fromCharCode(b[i++]);
      continue;
    }
    let run = 0;
    while (i < b.length && b[i] === 0x5c) {
      run++;
      i++;
    }
    const next = b[i];
    if (run % 2 === 1 && (next === 0x75 || next === 0x55)) {
      out += '\\'.repeat(run - 1);
      const width = next === 0x75 ? 4 : 8;
      const hex = String.fromCharCode(...b.subarray(i + 1, i + 1 + width));
      if (hex.length !== width || !/^[0-9a-fA-F]+$/.test(hex)) return null;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return null;
      out += String.fromCodePoint(cp);
      i += 1 + width;
    } else {
      out += '\\'.repeat(run);
    }
  }
  return out;
}

/** Python 2 str payloads, which Python 3 decodes as ASCII by default. */
export function asciiDecode(b: Uint8Array): string | null {
  for (const c of b) if (c > 0x7f) return null;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
