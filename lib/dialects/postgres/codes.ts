import { isReleasedUnderUs } from '../../query';

/**
 * PostgreSQL SQLSTATE codes and catalog constraint names this package reacts to.
 * Named here once so every classification reads the same list.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export const PgCode = Object.freeze({
  UNIQUE_VIOLATION: '23505',
  DUPLICATE_TABLE: '42P07',
  DUPLICATE_SCHEMA: '42P06',
  DUPLICATE_OBJECT: '42710',
  LOCK_NOT_AVAILABLE: '55P03',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  ADMIN_SHUTDOWN: '57P01',
  UNDEFINED_TABLE: '42P01',
  INVALID_SCHEMA_NAME: '3F000',
  QUERY_CANCELED: '57014',
  INSUFFICIENT_PRIVILEGE: '42501',
});

/**
 * Unique indexes of the system catalogs. A 23505 on one of these means another
 * session created the same schema object a moment before us.
 */
export const CatalogUniqueIndex = Object.freeze({
  TYPE_NAME: 'pg_type_typname_nsp_index',
  CLASS_NAME: 'pg_class_relname_nsp_index',
  NAMESPACE_NAME: 'pg_namespace_nspname_index',
  EXTENSION_NAME: 'pg_extension_name_index',
});

/** The fields of a node-postgres error this package reads. */
export interface PgErrorFields {
  code?: string;
  constraint?: string;
  detail?: string;
}

/**
 * Finds the PostgreSQL error inside whatever was thrown: TypeORM wraps it in
 * QueryFailedError (`driverError`), and our own errors chain it as `cause`.
 */
export function findPgError(error: unknown): PgErrorFields | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const candidate = current as PgErrorFields & { driverError?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) return candidate;
    current = candidate.driverError ?? candidate.cause;
  }
  return undefined;
}

const CONNECTION_LOST_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/**
 * True when the session ended under the statement: the server was shut down or
 * the backend terminated (57P01), or the socket broke. Whatever that session
 * had not committed was rolled back by the server, so the work may start again
 * on a fresh connection.
 */
export function isConnectionLost(error: unknown): boolean {
  if (isReleasedUnderUs(error)) return true;
  const pg = findPgError(error);
  if (pg) return pg.code === PgCode.ADMIN_SHUTDOWN;
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const e = current as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && CONNECTION_LOST_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && /Connection terminated|connection terminated unexpectedly|Client has encountered a connection error/i.test(e.message)) return true;
    current = e.driverError ?? e.cause;
  }
  return false;
}
