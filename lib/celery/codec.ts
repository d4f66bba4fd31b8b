import { ResultDecodeError, UnencodableResultError } from '../errors';
import { CeleryGroupResult, decodePickle } from './pickle';
import { renderValue } from './render';

/**
 * Turns values into the bytes of the bytea columns and back. The default is
 * JSON; Celery's own layout (pickle results, kombu-json args) is another codec.
 */
export interface ResultCodec {
  readonly name: string;
  /** The `result` column of a task. */
  encodeResult(value: unknown): Buffer;
  decodeResult(bytes: Buffer): unknown;
  /** The `result` column of a group: its member task ids, in order. */
  encodeGroup(groupId: string, taskIds: readonly string[]): Buffer;
  decodeGroup(bytes: Buffer): string[];
  /** The `args` and `kwargs` columns (result_extended). */
  encodeArgs(value: unknown): Buffer;
  decodeArgs(bytes: Buffer): unknown;
}

/**
 * Refuses what JSON.stringify would silently change or drop, so that what is
 * read back is what was stored: functions, symbols, undefined, BigInt,
 * non-finite numbers, Maps, Sets, class instances and cycles.
 */
export function assertJsonEncodable(value: unknown, what = 'result', options: { allowBigInt?: boolean } = {}): void {
  const path: unknown[] = [];
  const visit = (v: unknown, where: string): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) refuse(where, `the number ${v}`, 'JSON has no NaN or Infinity and would store null');
        return;
      case 'bigint':
        if (options.allowBigInt) return;
        {
          // renderValue: a huge BigInt shows as its bit length; its decimal form could take minutes.
          const shown = renderValue(v);
          refuse(where, shown.startsWith('<') ? `a BigInt ${shown}` : `the BigInt ${shown}n`, 'JSON has no integers beyond 2^53; store it as a string');
        }
        return;
      case 'undefined':
        refuse(where, 'undefined', 'JSON would drop it or store null');
        return;
      case 'function':
      case 'symbol':
        refuse(where, `a ${typeof v}`, 'it is not data');
        return;
    }
    if (v === null) return;
    const object = v as object;
    if (path.includes(object)) refuse(where, 'a circular reference', 'JSON cannot represent cycles');
    if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return;
    const proto = Object.getPrototypeOf(object);
    const isArray = Array.isArray(object);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      refuse(where, `an instance of ${(proto?.constructor as { name?: string })?.name ?? 'an unknown class'}`, 'JSON would store only its own enumerable fields, or {}');
    }
    path.push(object);
    if (isArray) (object as unknown[]).forEach((item, i) => visit(item, `${where}[${i}]`));
    else for (const [key, item] of Object.entries(object)) visit(item, `${where}.${key.length > 60 ? `${key.slice(0, 60)}…` : key}`); // a key is cut so the message stays short
    path.pop();
  };
  const refuse = (where: string, found: string, why: string): never => {
    throw new UnencodableResultError(
      `The ${what} holds ${found} at ${where}; ${why}, so it would not read back as it was stored. ` +
        'Convert it to plain JSON data (strings, finite numbers, booleans, null, arrays, plain objects) first, or use a codec that supports it.',
    );
  };
  visit(value, what);
}

function toJson(value: unknown, what: string): Buffer {
  assertJsonEncodable(value, what);
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Pickles start with the PROTO opcode (Celery writes protocol 5); JSON never starts with byte 0x80. */
export function isPickle(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes[0] === 0x80;
}

/** Whichever codec wrote it: a table shared with Celery holds both, and both read cleanly. */
export function decodeStored(bytes: Buffer): unknown {
  return isPickle(bytes) ? decodePickle(bytes) : (JSON.parse(bytes.toString('utf8')) as unknown);
}

/** A group's member ids, from our JSON list or from Celery's pickled GroupResult. */
export function decodeStoredGroup(bytes: Buffer): string[] {
  const value = decodeStored(bytes);
  const members = value instanceof CeleryGroupResult ? value.results.map((r) => r.id) : value;
  if (!Array.isArray(members) || members.some((id) => typeof id !== 'string')) {
    throw new ResultDecodeError(
      'A stored group is neither a list of task ids nor a Celery GroupResult of task results, so its members are unknown. ' +
        'Save groups through saveGroup, or with Celery\'s GroupResult.save().',
    );
  }
  return members as string[];
}

/**
 * JSON as UTF-8 bytes: the default codec, for tables that Node writes. It
 * reads Celery's pickles too, with the data-only decoder.
 */
export const jsonCodec: ResultCodec = Object.freeze({
  name: 'json',
  encodeResult: (value: unknown) => toJson(value, 'result'),
  decodeResult: decodeStored,
  encodeGroup: (_groupId: string, taskIds: readonly string[]) => Buffer.from(JSON.stringify(taskIds), 'utf8'),
  decodeGroup: decodeStoredGroup,
  encodeArgs: (value: unknown) => toJson(value, 'args'),
  decodeArgs: decodeStored,
});
