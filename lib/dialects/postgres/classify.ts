import { CatalogUniqueIndex, PgCode, findPgError, isConnectionLost } from './codes';

const catalogIndexes: ReadonlySet<string> = new Set(Object.values(CatalogUniqueIndex));

/**
 * True when the error means "another session created this object first":
 * a process that does not take our lock (plain `synchronize: true`, Celery's
 * `create_all`, a person in psql) raced us on the catalog.
 */
export function isConcurrentCreateError(error: unknown): boolean {
  const pg = findPgError(error);
  if (!pg) return false;
  switch (pg.code) {
    case PgCode.DUPLICATE_TABLE:
    case PgCode.DUPLICATE_SCHEMA:
    case PgCode.DUPLICATE_OBJECT:
      return true;
    case PgCode.UNIQUE_VIOLATION:
      return pg.constraint !== undefined && catalogIndexes.has(pg.constraint);
    default:
      return false;
  }
}

/**
 * DDL from two uncooperative sessions can also deadlock on catalog rows, or
 * fail serialization; both roll back cleanly, so a fresh attempt is safe. So
 * does a connection lost mid-sync (a terminated backend, a restart): the
 * server rolled the sync's one transaction back, lock and all.
 */
export function isRetryableSyncError(error: unknown): boolean {
  if (isConcurrentCreateError(error) || isConnectionLost(error)) return true;
  const code = findPgError(error)?.code;
  return code === PgCode.DEADLOCK_DETECTED || code === PgCode.SERIALIZATION_FAILURE;
}

export function isLockTimeout(error: unknown): boolean {
  return findPgError(error)?.code === PgCode.LOCK_NOT_AVAILABLE;
}
