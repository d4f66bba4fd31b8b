import { isReleasedUnderUs } from '../../query';
import { MySqlErrno, findMySqlError } from './codes';

/** "Another session created this object first": a process outside the lock raced us. */
const CONCURRENT_CREATE: ReadonlySet<number> = new Set([
  MySqlErrno.TABLE_EXISTS,
  MySqlErrno.DUP_KEYNAME,
  MySqlErrno.FK_DUP_NAME,
  MySqlErrno.DUP_KEY,
  MySqlErrno.DUP_FIELDNAME,
  MySqlErrno.CANT_CREATE_TABLE,
]);

/**
 * MySQL DDL is not transactional, so a process outside the lock can also be
 * seen half-way: a table its diff saw is gone, a key it meant to drop is not
 * there yet, or two ALTERs deadlock on metadata locks. A fresh diff sorts all
 * of these out.
 */
const HALF_SEEN: ReadonlySet<number> = new Set([MySqlErrno.CANT_DROP_FIELD_OR_KEY, MySqlErrno.NO_SUCH_TABLE, MySqlErrno.LOCK_DEADLOCK, MySqlErrno.LOCK_WAIT_TIMEOUT]);

const LOST: ReadonlySet<number> = new Set([MySqlErrno.SERVER_SHUTDOWN, MySqlErrno.CONNECTION_KILLED, MySqlErrno.SERVER_GONE, MySqlErrno.SERVER_LOST]);
const LOST_CODES: ReadonlySet<string> = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']);

export function isConcurrentCreateError(error: unknown): boolean {
  const errno = findMySqlError(error)?.errno;
  return errno !== undefined && CONCURRENT_CREATE.has(errno);
}

/** The session ended under the statement: whatever it was doing was not finished, and may start again. */
export function isConnectionLost(error: unknown): boolean {
  if (isReleasedUnderUs(error)) return true;
  const e = findMySqlError(error);
  if (!e) return false;
  return (e.errno !== undefined && LOST.has(e.errno)) || (e.code !== undefined && LOST_CODES.has(e.code));
}

export function isRetryableSyncError(error: unknown): boolean {
  if (isConcurrentCreateError(error) || isConnectionLost(error)) return true;
  const errno = findMySqlError(error)?.errno;
  return errno !== undefined && HALF_SEEN.has(errno);
}
