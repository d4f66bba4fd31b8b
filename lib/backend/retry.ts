import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseError, ResultBackendError } from '../errors';
import { PgCode, findPgError, isConnectionLost } from '../dialects/postgres/codes';
import { MySqlErrno, findMySqlError } from '../dialects/mysql/codes';
import { isConnectionLost as isMySqlConnectionLost } from '../dialects/mysql/classify';
import { isPermissionDenied, permissionDenied } from './privileges';

/** Errors after which the same single statement may simply be sent again, on PostgreSQL or MySQL/MariaDB. */
export function isTransientError(error: unknown): boolean {
  const code = findPgError(error)?.code;
  if (code === PgCode.SERIALIZATION_FAILURE || code === PgCode.DEADLOCK_DETECTED || isConnectionLost(error)) return true;
  const errno = findMySqlError(error)?.errno;
  return errno === MySqlErrno.LOCK_DEADLOCK || errno === MySqlErrno.LOCK_WAIT_TIMEOUT || isMySqlConnectionLost(error);
}

/**
 * Runs one statement, retrying transient failures with jittered exponential
 * backoff. Every statement we send is a single atomic one, so a retry can
 * never find half of an earlier attempt.
 */
export async function withRetry<T>(operation: string, maxRetries: number, baseDelayMs: number, run: () => Promise<T>, role: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ResultBackendError) throw error;
      // A missing grant is not a fault to retry, and the raw error does not say which grant.
      if (isPermissionDenied(error)) throw permissionDenied(operation, error, role);
      if (!isTransientError(error) || attempt > maxRetries) throw new DatabaseError(operation, findPgError(error)?.code ?? findMySqlError(error)?.code, attempt, error);
      await sleep(Math.random() * baseDelayMs * 2 ** (attempt - 1));
    }
  }
}
