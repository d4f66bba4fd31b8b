/**
 * Every error this package throws on purpose extends {@link ResultBackendError},
 * so callers can tell ours from the driver's with one `instanceof`.
 *
 * Messages have three parts: what was found, why it is refused, what to do.
 */
export class ResultBackendError extends Error {
  /** A stable, machine-readable name for the failure. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option, argument or entity definition that cannot work. Nothing was written. */
export class InvalidOptionError extends ResultBackendError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_OPTION', message, options);
  }
}

/** The DataSource is not PostgreSQL. */
export class UnsupportedDriverError extends ResultBackendError {
  readonly driver: string;

  constructor(driver: string) {
    super(
      'UNSUPPORTED_DRIVER',
      `DataSource type "${driver}" is not supported: the synchronizer relies on PostgreSQL advisory locks ` +
        'and PostgreSQL error codes. Use a DataSource with type "postgres".',
    );
    this.driver = driver;
  }
}

/** Who held the advisory lock when we gave up waiting for it. */
export interface LockHolder {
  pid: number;
  applicationName: string;
  /** When the holder's transaction (or, for a session lock, its session) began. */
  since: Date | null;
  state: string | null;
}

/** The schema-sync advisory lock was not granted within `lockTimeoutMs`. Nothing was changed by this process. */
export class LockTimeoutError extends ResultBackendError {
  readonly lockKey: readonly [number, number];
  readonly timeoutMs: number;
  readonly holders: readonly LockHolder[];

  constructor(lockKey: readonly [number, number], timeoutMs: number, holders: readonly LockHolder[], cause: unknown) {
    const who = holders.length
      ? holders
          .map((h) => `pid ${h.pid} (application_name "${h.applicationName}", since ${h.since ? h.since.toISOString() : 'unknown'}, ${h.state ?? 'unknown state'})`)
          .join('; ')
      : 'a session that ended before it could be identified';
    super(
      'LOCK_TIMEOUT',
      `Waited ${timeoutMs} ms for the schema-sync advisory lock [${lockKey[0]}, ${lockKey[1]}], held by ${who}. ` +
        'Another process is still synchronizing the schema, or is stuck holding the lock. ' +
        'Raise lockTimeoutMs if its sync is legitimately slow, or end that session (pg_terminate_backend) if it is stuck.',
      { cause },
    );
    this.lockKey = lockKey;
    this.timeoutMs = timeoutMs;
    this.holders = holders;
  }
}

/** The schema could not be brought in line with the entities. The cause chain holds the last database error. */
export class SchemaSyncError extends ResultBackendError {
  readonly attempts: number;

  constructor(message: string, attempts: number, cause: unknown) {
    super('SCHEMA_SYNC_FAILED', message, { cause });
    this.attempts = attempts;
  }
}
