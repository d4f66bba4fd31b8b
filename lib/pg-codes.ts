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
