/**
 * The statements of the MySQL/MariaDB schema lock, as pure functions.
 * GET_LOCK is a named, session-scoped lock: it ends with its connection, so a
 * process that dies while holding it frees it at once.
 */
import type { SqlQuery } from '../../query';

/** The database the DataSource is connected to, from which the default lock name is derived. */
export const CURRENT_DATABASE_SQL = 'SELECT DATABASE() AS db';

/**
 * Waits up to `timeoutMs` (fractional seconds on MariaDB). A negative timeout
 * waits forever. Resolves to 1 when the lock is ours, 0 on timeout, NULL on error.
 */
export function getLockSql(name: string, timeoutMs: number): SqlQuery {
  return { text: 'SELECT GET_LOCK(?, ?) AS locked', values: [name, timeoutMs > 0 ? timeoutMs / 1000 : -1] };
}

export function releaseLockSql(name: string): SqlQuery {
  return { text: 'SELECT RELEASE_LOCK(?) AS released', values: [name] };
}

/** Who holds the lock: IS_USED_LOCK gives the connection id, the processlist what that connection is doing. */
export function lockHolderSql(name: string): SqlQuery {
  return {
    text: 'SELECT p.ID AS id, p.USER AS user, p.HOST AS host, p.COMMAND AS command, p.TIME AS time, p.STATE AS state FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)',
    values: [name],
  };
}
