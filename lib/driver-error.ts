/**
 * The cause our errors keep of a database driver's error, without the values the
 * statement was sent. TypeORM's QueryFailedError holds them as `parameters` (a
 * stored result's bytes, a traceback: whatever the task returned, secrets
 * included), mysql2 as `sql` with the values written in, and PostgreSQL's
 * detail of a CHECK or NOT NULL violation lists the whole failing row. Whoever
 * logs our error (util.inspect walks the cause, pino serializes it) would print
 * them all; so the cause is a copy of the fields that say what went wrong.
 */

/** The fields a copy keeps: what the classifiers in lib/dialects/* read (code, errno, fatal, constraint) and what a person needs. */
const KEPT_FIELDS = ['code', 'errno', 'sqlState', 'severity', 'detail', 'hint', 'schema', 'table', 'column', 'dataType', 'constraint', 'routine', 'fatal', 'query'] as const;

/** PostgreSQL's detail for 23502 and 23514 is the failing row itself, every value in it. */
const FAILING_ROW = /^Failing row contains .*/s;

function isDriverError(value: unknown): value is Error & Record<string, unknown> {
  if (!(value instanceof Error)) return false;
  const e = value as Error & Record<string, unknown>;
  // QueryFailedError (TypeORM), a pg DatabaseError (severity), a mysql2 error (sqlMessage, sql).
  return 'parameters' in e || 'driverError' in e || 'sql' in e || 'sqlMessage' in e || typeof e.severity === 'string';
}

/** The driver error's copy without the statement's values; anything else as it is. */
export function withoutStatementValues(cause: unknown): unknown {
  if (!isDriverError(cause)) return cause;
  const copy = new Error(cause.message) as Error & Record<string, unknown>;
  // The name says which error it was, and the stack is the original's: its first line is the message, the rest frames.
  Object.defineProperty(copy, 'name', { value: cause.name, enumerable: false, writable: true, configurable: true });
  if (cause.stack !== undefined) copy.stack = cause.stack;
  // QueryFailedError copies the driver error's fields onto itself, but read the driver error too, in case it did not.
  const sources = [cause, cause.driverError].filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null);
  for (const field of KEPT_FIELDS) {
    const value = sources.map((s) => s[field]).find((v) => v !== undefined);
    if (value === undefined || (typeof value === 'object' && value !== null)) continue;
    copy[field] = field === 'detail' && typeof value === 'string' ? value.replace(FAILING_ROW, "Failing row contains (the row's values, not shown)") : value;
  }
  return copy;
}
