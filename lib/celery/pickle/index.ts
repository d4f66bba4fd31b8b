/**
 * A safe reader and writer for the Python pickles Celery's database backend stores.
 *
 * - {@link decodePickle} turns pickle bytes (protocols 0-5) into plain JavaScript values without
 *   executing anything: only data opcodes and a fixed allow-list of stdlib/Celery types are
 *   understood; every other global is refused with {@link UnsafePickleError}.
 * - {@link encodePickle} writes the same value model back as a protocol 4 pickle that Python's
 *   `pickle.loads` (and so Celery) reads.
 *
 * The value model (Python type to JavaScript type, both directions) is documented in `values.ts`
 * and on each exported class.
 *
 * @packageDocumentation
 */
export { decodePickle, type DecodeOptions } from './decode';
export { encodePickle, type EncodeOptions } from './encode';
export { PickleDecodeError, PickleEncodeError, PickleLimitError, UnsafePickleError } from './errors';
export {
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
  tuple,
  type PyDict,
  type PyValue,
} from './values';
