import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseError, ResultBackendError } from '../errors';
import { PgCode, findPgError } from '../pg-codes';

const TRANSIENT_CODES: ReadonlySet<string> = new Set([PgCode.SERIALIZATION_FAILURE, PgCode.DEADLOCK_DETECTED, PgCode.ADMIN_SHUTDOWN]);
const TRANSIENT_NET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** Errors after which the same single statement may simply be sent again. */
export function isTransientError(error: unknown): boolean {
  const code = findPgError(error)?.code;
  if (code !== undefined) return TRANSIENT_CODES.has(code);
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const e = current as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && TRANSIENT_NET_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && /Connection terminated|connection terminated unexpectedly|Client has encountered a connection error/i.test(e.message)) return true;
    current = e.driverError ?? e.cause;
  }
  return false;
}

/**
 * Runs one statement, retrying transient failures with jittered exponential
 * backoff. Every statement we send is a single atomic one, so a retry can
 * never find half of an earlier attempt.
 */
export async function withRetry<T>(operation: string, maxRetries: number, baseDelayMs: number, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ResultBackendError) throw error;
      if (!isTransientError(error) || attempt > maxRetries) throw new DatabaseError(operation, findPgError(error)?.code, attempt, error);
      await sleep(Math.random() * baseDelayMs * 2 ** (attempt - 1));
    }
  }
}
