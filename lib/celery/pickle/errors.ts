import { ResultBackendError } from '../../errors';

/*
 * Messages never quote decoded values: a pickled Celery result can embed a
 * database URL with its password, and error messages end up in logs. They
 * name opcodes, byte offsets, Python type names and global names only.
 */

const DECODE_ADVICE =
  'Check that the bytes are the whole column value, read as bytea, and were written by Python pickle.dumps.';

/** The bytes are not a pickle this decoder can read: truncated, corrupt, or using a form it does not model. */
export class PickleDecodeError extends ResultBackendError {
  /** Byte offset of the opcode being decoded, or null when the failure is not tied to one. */
  readonly offset: number | null;

  constructor(offset: number | null, what: string, options?: { cause?: unknown }, code = 'PICKLE_DECODE_ERROR') {
    const where = offset === null ? 'Pickle is malformed' : `Pickle is malformed at byte ${offset}`;
    super(code, `${where}: ${what}. It cannot be decoded because it is not complete, valid pickle data. ${DECODE_ADVICE}`, options);
    this.offset = offset;
  }
}

/** A configured limit was hit; raising the option may help if the data is trusted and legitimately large. */
export class PickleLimitError extends PickleDecodeError {
  /** The option that was exceeded, e.g. `maxDepth`. */
  readonly limit: string;

  constructor(offset: number | null, limit: string, value: number) {
    super(
      offset,
      `${limit} (${value}) exceeded, so decoding stopped before allocating more. Raise the ${limit} option if this data is trusted`,
      undefined,
      'PICKLE_LIMIT_EXCEEDED',
    );
    this.limit = limit;
  }
}

/** The pickle asks for a Python global (class or function) that is not on the allow-list. Nothing was executed. */
export class UnsafePickleError extends ResultBackendError {
  /** Python module of the refused global, or null when the refusal is about an opcode, not a global. */
  readonly module: string | null;
  /** Attribute name of the refused global, or null when the refusal is about an opcode. */
  readonly globalName: string | null;
  readonly offset: number;

  constructor(offset: number, module: string | null, globalName: string | null, found?: string) {
    const what = found ?? `references global ${module}.${globalName}`;
    super(
      'UNSAFE_PICKLE',
      `Pickle at byte ${offset} ${what}; only data types and a fixed allow-list of Celery/stdlib types are decoded, ` +
        'because unpickling arbitrary globals executes code. Store results with a data-only serializer, or decode this row in Python.',
    );
    this.module = module;
    this.globalName = globalName;
    this.offset = offset;
  }
}

/** A JavaScript value has no faithful pickle form in the supported value model. Nothing was written. */
export class PickleEncodeError extends ResultBackendError {
  /** Where in the value the problem is, e.g. `$.results[2]`. */
  readonly path: string;

  constructor(path: string, what: string) {
    super(
      'PICKLE_ENCODE_ERROR',
      `Cannot pickle ${path}: ${what}. Only the documented value model (null, booleans, numbers, bigints, strings, bytes, ` +
        'arrays, tuples, plain objects, Maps, Sets, Dates and the Py*/Celery* classes) is encoded, so Python reads back exactly ' +
        'what was meant. Convert the value to one of those types first.',
    );
    this.path = path;
  }
}
