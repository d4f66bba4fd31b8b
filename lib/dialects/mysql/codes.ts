/**
 * MySQL and MariaDB error numbers this package reacts to, named once.
 * https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html
 * https://mariadb.com/kb/en/mariadb-error-codes/
 */
export const MySqlErrno = Object.freeze({
  /** ER_CANT_CREATE_TABLE: MariaDB's answer to a foreign key whose name another session took (errno 121). */
  CANT_CREATE_TABLE: 1005,
  DUP_KEY: 1022,
  TABLE_EXISTS: 1050,
  SERVER_SHUTDOWN: 1053,
  DUP_FIELDNAME: 1060,
  DUP_KEYNAME: 1061,
  DUP_ENTRY: 1062,
  CANT_DROP_FIELD_OR_KEY: 1091,
  /** ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR: a missing grant. */
  DBACCESS_DENIED: 1044,
  TABLEACCESS_DENIED: 1142,
  COLUMNACCESS_DENIED: 1143,
  NO_SUCH_TABLE: 1146,
  LOCK_WAIT_TIMEOUT: 1205,
  LOCK_DEADLOCK: 1213,
  FK_DUP_NAME: 1826,
  /** MariaDB: the connection was killed (KILL, a server restart). */
  CONNECTION_KILLED: 1927,
  /** Client-side: the server went away, or the connection was lost during a query. */
  SERVER_GONE: 2006,
  SERVER_LOST: 2013,
});

/** The fields of a mysql2 error this package reads. */
export interface MySqlErrorFields {
  errno?: number;
  code?: string;
  fatal?: boolean;
}

/** Finds the mysql2 error inside whatever was thrown (TypeORM's QueryFailedError keeps it as driverError). */
export function findMySqlError(error: unknown): MySqlErrorFields | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const candidate = current as MySqlErrorFields & { driverError?: unknown; cause?: unknown };
    if (typeof candidate.errno === 'number' || (typeof candidate.code === 'string' && candidate.fatal !== undefined)) return candidate;
    current = candidate.driverError ?? candidate.cause;
  }
  return undefined;
}
