/** SQLite's result codes as the sqlite3 and better-sqlite3 drivers report them. */
interface SqliteErrorFields {
  code?: string;
  message?: string;
}

function findSqliteError(error: unknown): SqliteErrorFields | undefined {
  let current: unknown = error;
  for (let depth = 0; current !== null && typeof current === 'object' && depth < 5; depth++) {
    const e = current as SqliteErrorFields & { driverError?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return e;
    current = e.driverError ?? e.cause;
  }
  return undefined;
}

/** Another connection created the object first ("table x already exists", "index y already exists"). */
export function isConcurrentCreateError(error: unknown): boolean {
  const e = findSqliteError(error);
  return e !== undefined && /already exists/i.test(e.message ?? '');
}

/** Or the file was locked by another writer past the busy timeout: a fresh attempt is safe, DDL being transactional. */
export function isRetryableSyncError(error: unknown): boolean {
  const code = findSqliteError(error)?.code;
  return isConcurrentCreateError(error) || code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
