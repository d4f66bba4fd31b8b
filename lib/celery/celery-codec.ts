import { CeleryAsyncResult, CeleryGroupResult, encodePickle, tuple } from './pickle';
import { ResultCodec, assertJsonEncodable, decodeStored, decodeStoredGroup } from './codec';

/**
 * kombu's JSON, as Celery's DatabaseBackend stores `args` and `kwargs`:
 * Python's json.dumps defaults, that is ensure_ascii and ", " / ": " separators.
 */
export function kombuJson(value: unknown): Buffer {
  assertJsonEncodable(value, 'args', { allowBigInt: true });
  const write = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'bigint') return v.toString();
    if (typeof v !== 'object') return asciiJson(JSON.stringify(v));
    const json = (v as { toJSON?: () => unknown }).toJSON;
    if (typeof json === 'function') return write(json.call(v));
    if (Array.isArray(v)) return `[${v.map(write).join(', ')}]`;
    return `{${Object.entries(v).map(([k, x]) => `${asciiJson(JSON.stringify(k))}: ${write(x)}`).join(', ')}}`;
  };
  return Buffer.from(write(value), 'ascii');
}

/** ensure_ascii: every non-ASCII UTF-16 unit as \uXXXX, as Python writes it. */
function asciiJson(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Celery's failure dict carries exc_message as the exception's args tuple. */
function toCeleryValue(value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value) && typeof (value as { exc_type?: unknown }).exc_type === 'string') {
    const e = value as { exc_type: string; exc_message?: unknown; exc_module?: unknown };
    const message = Array.isArray(e.exc_message) ? tuple(...(e.exc_message as unknown[])) : e.exc_message;
    return { exc_type: e.exc_type, exc_message: message, exc_module: e.exc_module ?? null };
  }
  return value;
}

/**
 * Celery's own layout, so that Python Celery reads what Node stores: results
 * and groups pickled (protocol 4, which Celery 5.2.6's pickle.loads reads),
 * args and kwargs as kombu JSON. Reading accepts pickle and JSON alike.
 */
export const celeryCodec: ResultCodec = Object.freeze({
  name: 'celery',
  encodeResult: (value: unknown) => encodePickle(toCeleryValue(value)),
  decodeResult: decodeStored,
  encodeGroup: (groupId: string, taskIds: readonly string[]) =>
    encodePickle(new CeleryGroupResult(groupId, taskIds.map((id) => new CeleryAsyncResult(id)))),
  decodeGroup: decodeStoredGroup,
  encodeArgs: kombuJson,
  decodeArgs: decodeStored,
});
