import { InvalidArgumentError, InvalidTaskIdError, PayloadTooLargeError, UnknownStateError } from '../errors';
import { describeValue } from '../options';
import { BUILTIN_STATES } from '../celery/states';

/** Celery's width for task_id, name, worker and queue. */
export const MAX_ID_LENGTH = 155;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function validateTaskId(taskId: unknown, what = 'task id'): string {
  // PostgreSQL's varchar(155) counts characters (code points), not UTF-16 units.
  const characters = typeof taskId === 'string' ? [...taskId].length : 0;
  if (typeof taskId !== 'string' || characters === 0 || characters > MAX_ID_LENGTH) {
    const found = typeof taskId === 'string' ? (characters === 0 ? 'an empty string' : `${characters} characters long`) : describeValue(taskId);
    throw new InvalidTaskIdError(
      `The ${what} is ${found}; it must be a string of 1 to ${MAX_ID_LENGTH} characters, the width of Celery's column. ` +
        'Pass a non-empty id such as a UUID.',
    );
  }
  if (taskId.includes('\0')) {
    throw new InvalidTaskIdError(
      `The ${what} ${describeValue(taskId)} contains a NUL character, which PostgreSQL text cannot hold, so it could never be stored or found. Pass an id without \\0.`,
    );
  }
  if (LONE_SURROGATE.test(taskId)) {
    throw new InvalidTaskIdError(
      `The ${what} ${describeValue(taskId)} contains a lone UTF-16 surrogate, which has no UTF-8 form: it would be stored as U+FFFD, under another id than the one given. ` +
        'Pass a well-formed string.',
    );
  }
  return taskId;
}

export function validateState(state: unknown, customStates: readonly string[]): string {
  if (typeof state !== 'string' || !(BUILTIN_STATES.includes(state) || customStates.includes(state))) {
    throw new UnknownStateError(
      `The state ${describeValue(state)} is not one of Celery's (${BUILTIN_STATES.join(', ')}) nor a registered custom state; ` +
        'an unknown name is usually a typo, and Celery clients would not know it. Use a built-in state, or register it in the customStates option.',
    );
  }
  return state;
}

export function validateOptionalText(field: string, value: unknown, maxLength?: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || (maxLength !== undefined && value.length > maxLength)) {
    throw new InvalidArgumentError(
      `${field} is ${describeValue(value)}${typeof value === 'string' ? ` (${value.length} characters)` : ''}; it must be a string` +
        `${maxLength ? ` of at most ${maxLength} characters, the width of Celery's column` : ''}. Pass a string, or leave it out.`,
    );
  }
  return value;
}

export function validateRetries(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2147483647) {
    throw new InvalidArgumentError(`retries is ${describeValue(value)}; it must be a whole number from 0 up, as Celery counts retries. Pass an integer, or leave it out.`);
  }
  return value;
}

export function checkPayloadSize(field: string, bytes: Buffer | null, limit: number): Buffer | null {
  if (bytes && bytes.length > limit) {
    throw new PayloadTooLargeError(
      `The encoded ${field} is ${bytes.length} bytes, over the limit of ${limit} (maxPayloadBytes); large rows slow every reader and ` +
        'bloat the table. Store the data elsewhere and return a reference, or raise maxPayloadBytes.',
    );
  }
  return bytes;
}
