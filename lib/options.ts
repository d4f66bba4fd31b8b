import type { ClientConfig } from 'pg';
import { InvalidOptionError } from './errors';
import { ConsoleStyleLogger, LogFields, Logger, silentLogger } from './logger';
import { ResultCodec, jsonCodec } from './celery/codec';
import { celeryCodec } from './celery/celery-codec';
import type { GroupEntityClass, TaskEntityClass } from '../entities';
import { BUILTIN_STATES, MAX_STATE_LENGTH } from './celery/states';

/** What the synchronizer and the migrator share: how they wait for the schema lock, and where they log. */
export interface SchemaLockOptions {
  /**
   * How long to wait for the schema advisory lock before failing with
   * `LockTimeoutError`. `0` waits without limit.
   * @defaultValue 60000
   */
  lockTimeoutMs?: number;
  /**
   * The two-int advisory lock key. By default the first half is this package's
   * namespace and the second is `hashtext(current_database() || ':' || schemas)`,
   * so processes syncing the same schemas of the same database share one lock.
   * Set it when several applications must serialize on one key.
   * @defaultValue derived, see above
   */
  lockKey?: readonly [number, number];
  /**
   * MySQL/MariaDB only: the GET_LOCK name (at most 64 characters; names are
   * server-wide). By default `typeorm_result_backend:` and a hash of the
   * database and the synced schemas.
   * @defaultValue derived, see above
   */
  lockName?: string;
  /** Where diagnostics go: a {@link Logger}, or a console-style one such as NestJS's `Logger`. @defaultValue a logger that says nothing */
  logger?: Logger | ConsoleStyleLogger;
}

/** Options of {@link SafeSynchronizer}. Every field is optional; defaults are in SAFE_SYNCHRONIZER_DEFAULTS. */
export interface SafeSynchronizerOptions extends SchemaLockOptions {
  /**
   * How many times the sync is attempted when a process that does not take our
   * lock created an object first.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The first retry waits a random time up to this; each later retry doubles it.
   * @defaultValue 50
   */
  retryDelayMs?: number;
  /**
   * How a start decides that the schema is already in line.
   * `"fingerprint"`: one query compares a hash of the entity metadata and a
   * hash of the catalog (computed by PostgreSQL from pg_catalog) with what the
   * last sync recorded under the lock; when both match, TypeORM's diff is
   * skipped. Any change to the synced objects, by hand or by another app
   * version, changes the catalog hash and the full locked sync runs.
   * `"full"`: always run TypeORM's diff under the lock (it still records the fingerprint).
   * @defaultValue "fingerprint"
   */
  verify?: SyncVerifyMode;
  /**
   * Which changes that destroy or alter stored values the sync may make as
   * TypeORM would: `false` (none: they throw `DataLossError` before any DDL),
   * `true` (all: TypeORM's own behaviour, drops and DROP + ADD included), or the
   * columns by name, `"table.column"` (or `"schema.table.column"` outside the
   * default schema). Lossless changes (a wider varchar, int to bigint, …) are
   * made in place whatever this says, unless it names the column or is `true`.
   * @defaultValue false
   */
  allowDataLoss?: boolean | readonly string[];
  /**
   * Columns that are in the table but no longer in the entity are kept (a
   * warning and `SyncResult.kept` say so), which keeps rolling deploys and
   * rollbacks safe. `true` drops those that hold no value; one that still holds
   * values throws `DataLossError` unless `allowDataLoss` names it.
   * @defaultValue false
   */
  dropRemovedColumns?: boolean;
}

export type SyncVerifyMode = 'fingerprint' | 'full';

/** TypeORM's migration transaction modes. */
export type MigrationTransactionMode = 'all' | 'each' | 'none';

/** Options of {@link SafeMigrator}. Every field is optional. */
export interface SafeMigratorOptions extends SchemaLockOptions {
  /**
   * `"all"`: every pending migration in one transaction; `"each"`: one
   * transaction per migration; `"none"`: no transaction (for statements such as
   * `CREATE INDEX CONCURRENTLY`). Each mode runs under the lock.
   * @defaultValue the DataSource's `migrationsTransactionMode`, else `"all"`
   */
  transaction?: MigrationTransactionMode;
}

export interface ResolvedSchemaLockOptions {
  lockTimeoutMs: number;
  lockKey: readonly [number, number] | undefined;
  lockName: string | undefined;
  logger: Logger;
}

export interface ResolvedSafeSynchronizerOptions extends ResolvedSchemaLockOptions {
  maxAttempts: number;
  retryDelayMs: number;
  verify: SyncVerifyMode;
  /** true, or the set of `table.column` / `schema.table.column` names whose loss is accepted. */
  allowDataLoss: true | ReadonlySet<string>;
  dropRemovedColumns: boolean;
}

export const SAFE_SYNCHRONIZER_DEFAULTS = Object.freeze({
  lockTimeoutMs: 60_000,
  maxAttempts: 5,
  retryDelayMs: 50,
  verify: 'fingerprint' as SyncVerifyMode,
  allowDataLoss: false,
  dropRemovedColumns: false,
});

const VERIFY_MODES: readonly SyncVerifyMode[] = ['fingerprint', 'full'];

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function isInt32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return String(value);
}

export function requireNonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(
      `Option ${name} is ${describeValue(value)}; it must be a whole number of at least 0. ` +
        `Pass a non-negative integer, or leave it out for the default (${fallback}).`,
    );
  }
  return value;
}

export function requirePositiveInteger(name: string, value: unknown, fallback: number): number {
  const n = requireNonNegativeInteger(name, value, fallback);
  if (n === 0) {
    throw new InvalidOptionError(
      `Option ${name} is 0; it must be at least 1. Pass a positive integer, or leave it out for the default (${fallback}).`,
    );
  }
  return n;
}

const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return value !== null && typeof value === 'object' && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/**
 * A {@link Logger} as given, or one adapted from a console-style logger
 * (`log`, `warn`, `error`, and `debug` or `verbose` if it has them), such as
 * NestJS's `Logger` or `console`. Methods are called on the object, so bound
 * state (a Nest logger's context) is kept.
 */
export function requireLogger(value: unknown): Logger {
  if (value === undefined) return silentLogger;
  if (hasMethods(value, LOGGER_METHODS)) return value as Logger;
  if (hasMethods(value, ['log', 'warn', 'error'])) {
    const c = value as ConsoleStyleLogger;
    const noop = (): void => undefined;
    const debug = c.debug ? (m: string, f?: LogFields) => c.debug!(m, ...withFields(f)) : c.verbose ? (m: string, f?: LogFields) => c.verbose!(m, ...withFields(f)) : noop;
    return {
      debug,
      info: (m, f) => c.log(m, ...withFields(f)),
      warn: (m, f) => c.warn(m, ...withFields(f)),
      error: (m, f) => c.error(m, ...withFields(f)),
    };
  }
  throw new InvalidOptionError(
    `Option logger is ${describeValue(value)}; it needs debug, info, warn and error methods, or log, warn and error (console-style, as NestJS's Logger). ` +
      'Pass such an object, or leave it out to log nothing.',
  );
}

function withFields(fields: LogFields | undefined): unknown[] {
  return fields === undefined ? [] : [fields];
}

/** Every key SafeSynchronizer, SafeMigrator and SafeSynchronizer.initialize take: initialize passes one object to both. */
/** MySQL refuses GET_LOCK names longer than this. */
export const MAX_LOCK_NAME_LENGTH = 64;

const SCHEMA_LOCK_KEYS = ['lockTimeoutMs', 'lockKey', 'lockName', 'logger', 'maxAttempts', 'retryDelayMs', 'verify', 'allowDataLoss', 'dropRemovedColumns', 'transaction', 'onSynchronized', 'onMigrated'] as const;

const RESULT_BACKEND_KEYS = [
  'entities',
  'codec',
  'expiresMs',
  'unfinishedExpiresMs',
  'cleanupBatchSize',
  'customStates',
  'maxPayloadBytes',
  'listen',
  'listenConnection',
  'listenProbeTimeoutMs',
  'pollIntervalMs',
  'recheckIntervalMs',
  'maxRetries',
  'retryDelayMs',
  'logger',
] as const;

/** Edit distance, for naming the option a misspelt key was meant to be. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * In JavaScript a misspelt option (`listenConnetion`) would be ignored without
 * a word, and the default used instead: refuse it, naming the nearest known one.
 */
export function refuseUnknownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const [nearest] = [...known].sort((a, b) => distance(key, a) - distance(key, b));
    const hint = distance(key, nearest) <= Math.max(2, Math.floor(key.length / 3)) ? `Did you mean ${JSON.stringify(nearest)}? ` : '';
    throw new InvalidOptionError(
      `${what} was given the option ${JSON.stringify(key)}, which it does not know; a misspelt option would otherwise be ignored and its default used. ` +
        `${hint}The options it knows: ${known.join(', ')}.`,
    );
  }
}

function resolveSchemaLockOptions(what: string, options: SchemaLockOptions): ResolvedSchemaLockOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`${what} options are ${describeValue(options)}; they must be an object. Pass an object or nothing.`);
  }
  refuseUnknownKeys(what, options, SCHEMA_LOCK_KEYS);
  let lockKey: readonly [number, number] | undefined;
  if (options.lockKey !== undefined) {
    const key: unknown = options.lockKey;
    if (!Array.isArray(key) || key.length !== 2 || !isInt32(key[0]) || !isInt32(key[1])) {
      throw new InvalidOptionError(
        `Option lockKey is ${describeValue(key)}; it must be a pair of 32-bit integers, because PostgreSQL's ` +
          'two-key advisory locks take two int4 values. Pass e.g. [1234, 5678], or leave it out to derive one.',
      );
    }
    lockKey = Object.freeze([key[0], key[1]] as const);
  }
  const lockName: unknown = options.lockName;
  if (lockName !== undefined && (typeof lockName !== 'string' || lockName.length === 0 || lockName.length > MAX_LOCK_NAME_LENGTH)) {
    throw new InvalidOptionError(
      `Option lockName is ${describeValue(lockName)}; it must be a non-empty string of at most ${MAX_LOCK_NAME_LENGTH} characters, ` +
        'because MySQL refuses longer GET_LOCK names. Pass a shorter name, or leave it out to derive one.',
    );
  }
  return {
    lockTimeoutMs: requireNonNegativeInteger('lockTimeoutMs', options.lockTimeoutMs, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs),
    lockKey,
    lockName: lockName as string | undefined,
    logger: requireLogger(options.logger),
  };
}

export function resolveSafeSynchronizerOptions(options: SafeSynchronizerOptions = {}): ResolvedSafeSynchronizerOptions {
  return {
    ...resolveSchemaLockOptions('SafeSynchronizer', options),
    maxAttempts: requirePositiveInteger('maxAttempts', options.maxAttempts, SAFE_SYNCHRONIZER_DEFAULTS.maxAttempts),
    retryDelayMs: requireNonNegativeInteger('retryDelayMs', options.retryDelayMs, SAFE_SYNCHRONIZER_DEFAULTS.retryDelayMs),
    verify: resolveVerify(options.verify),
    allowDataLoss: resolveAllowDataLoss(options.allowDataLoss),
    dropRemovedColumns: requireBoolean('dropRemovedColumns', options.dropRemovedColumns, SAFE_SYNCHRONIZER_DEFAULTS.dropRemovedColumns),
  };
}

function requireBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw new InvalidOptionError(`Option ${name} is ${describeValue(value)}; it must be true or false. Pass a boolean, or leave it out for ${fallback}.`);
}

/** `table.column` or `schema.table.column`: the names allowDataLoss takes. */
const COLUMN_NAME = /^[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/;

function resolveAllowDataLoss(value: unknown): true | ReadonlySet<string> {
  if (value === undefined || value === false) return new Set();
  if (value === true) return true;
  if (Array.isArray(value)) {
    for (const name of value) {
      if (typeof name !== 'string' || !COLUMN_NAME.test(name)) {
        throw new InvalidOptionError(
          `Option allowDataLoss holds ${describeValue(name)}; each entry must name one column as "table.column" or "schema.table.column", ` +
            'so that accepting a loss is never broader than meant. Name the columns, or pass true to accept every loss (TypeORM\'s own behaviour).',
        );
      }
    }
    return new Set(value as string[]);
  }
  throw new InvalidOptionError(
    `Option allowDataLoss is ${describeValue(value)}; it must be false, true, or a list of "table.column" names. ` +
      'Pass one of those, or leave it out to refuse every change that would lose stored values.',
  );
}

function resolveVerify(value: unknown): SyncVerifyMode {
  if (value === undefined) return SAFE_SYNCHRONIZER_DEFAULTS.verify;
  if (VERIFY_MODES.includes(value as SyncVerifyMode)) return value as SyncVerifyMode;
  throw new InvalidOptionError(
    `Option verify is ${describeValue(value)}; it must be "fingerprint" (skip the diff when the recorded schema fingerprint matches) or "full" (always diff). ` +
      'Pass one of those, or leave it out for "fingerprint".',
  );
}

const MIGRATION_MODES: readonly MigrationTransactionMode[] = ['all', 'each', 'none'];

export function resolveSafeMigratorOptions(options: SafeMigratorOptions = {}, dataSourceMode: unknown): ResolvedSchemaLockOptions & { transaction: MigrationTransactionMode } {
  const resolved = resolveSchemaLockOptions('SafeMigrator', options);
  const transaction = options.transaction ?? dataSourceMode ?? 'all';
  if (!MIGRATION_MODES.includes(transaction as MigrationTransactionMode)) {
    throw new InvalidOptionError(
      `The migration transaction mode is ${describeValue(transaction)}; TypeORM knows only "all", "each" and "none". ` +
        'Pass one of those as transaction (or migrationsTransactionMode), or leave it out for "all".',
    );
  }
  return { ...resolved, transaction: transaction as MigrationTransactionMode };
}

/** Options of {@link ResultBackend}. Every field is optional; defaults are in RESULT_BACKEND_DEFAULTS. */
export interface ResultBackendOptions<TTask = TaskEntityClass, TGroup = GroupEntityClass> {
  /**
   * The entity classes of the two tables: subclasses of AbstractTaskMeta and
   * AbstractTaskSetMeta, under any table name and schema. They must be
   * registered in the DataSource. What `defineCeleryEntities()` returns fits as it is.
   * @defaultValue `{ task: TaskMeta, group: TaskSetMeta }`
   */
  entities?: { task?: TTask; group?: TGroup } | { TaskMeta: TTask; TaskSetMeta: TGroup };
  /**
   * How values become bytes: `"json"` (Node-only tables), `"celery"` (Celery's
   * own layout: pickled results and groups, kombu-json args), or a
   * {@link ResultCodec} of your own. Reading detects pickle and JSON either way.
   * @defaultValue "json"
   */
  codec?: ResultCodec | 'json' | 'celery';
  /**
   * How long finished results are kept before `cleanup()` removes them (Celery's `result_expires`).
   * @defaultValue 86400000 (one day)
   */
  expiresMs?: number;
  /**
   * How long an unfinished row (PENDING, STARTED, RETRY, custom) may stay unfinished, from when `cleanup()` first saw it, before `cleanup()` removes it.
   * @defaultValue 604800000 (seven days)
   */
  unfinishedExpiresMs?: number;
  /**
   * Rows deleted per statement by `cleanup()`, so no statement holds locks for long.
   * @defaultValue 5000
   */
  cleanupBatchSize?: number;
  /**
   * Progress states of your own, accepted by storeResult. They are never ready.
   * @defaultValue []
   */
  customStates?: readonly string[];
  /**
   * The largest encoded result, args or kwargs accepted, in bytes.
   * @defaultValue 67108864 (64 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * Wake waiters through LISTEN/NOTIFY on one connection per backend. Turn it
   * off where LISTEN does not work, such as behind PgBouncer in transaction
   * mode; waiters then poll every `pollIntervalMs`.
   * @defaultValue true
   */
  listen?: boolean;
  /**
   * Where the one LISTEN connection goes: a connection string, or a `pg`
   * client config. Use it when the DataSource goes through PgBouncer in
   * transaction mode, where LISTEN does not work: the pool keeps using the
   * bouncer, and this one connection goes straight to PostgreSQL.
   * @defaultValue the DataSource's own connection settings
   */
  listenConnection?: string | ClientConfig;
  /**
   * How long the LISTEN connection may take to receive its own probe
   * notification. If it does not (a transaction pooler in between), the
   * backend logs one warning and waits poll every `pollIntervalMs` instead.
   * Generous, because a busy server that is merely slow must not be taken for a deaf one.
   * @defaultValue 3000
   */
  listenProbeTimeoutMs?: number;
  /**
   * With `listen: false`, how often waiters re-read their rows.
   * @defaultValue 500
   */
  pollIntervalMs?: number;
  /**
   * With `listen: true`, how often pending waits are re-read anyway: a safety
   * net for writers the wake-up trigger cannot see in time (a writer at
   * REPEATABLE READ, a table without the trigger). `0` turns it off.
   * @defaultValue 2000
   */
  recheckIntervalMs?: number;
  /**
   * Retries of a statement that failed transiently (connection reset, 40001, 40P01, 57P01).
   * @defaultValue 3
   */
  maxRetries?: number;
  /**
   * The first retry waits a random time up to this; each later one doubles it.
   * @defaultValue 50
   */
  retryDelayMs?: number;
  /** Where diagnostics go: a {@link Logger}, or a console-style one such as NestJS's `Logger`. @defaultValue a logger that says nothing */
  logger?: Logger | ConsoleStyleLogger;
}

/**
 * How long recording a wait may queue for a wake-up bucket lock (held for
 * microseconds by each writer's commit, or for good by a hostile session).
 * Past it the registration gives up and the wait relies on the NOTIFY a
 * writer sends when it cannot take its bucket, and on the periodic re-read.
 */
export const WAIT_REGISTER_LOCK_TIMEOUT_MS = 1000;

/** How long finished waits' interests gather before one DELETE drops them all (see result-waiter.ts). */
export const UNREGISTER_DELAY_MS = 20;

/**
 * Concurrent stores on PostgreSQL (see store-batcher.ts): up to
 * `maxInFlight` statements run at once; stores that arrive meanwhile share
 * the next statement, up to `maxRows` rows and `maxBytes` of payload, and go
 * anyway after `maxWaitMs` when no slot frees (a stalled statement).
 */
export const STORE_BATCH = Object.freeze({ maxInFlight: 2, maxWaitMs: 5, maxRows: 100, maxBytes: 1024 * 1024 });

export const RESULT_BACKEND_DEFAULTS = Object.freeze({
  expiresMs: 86_400_000,
  unfinishedExpiresMs: 7 * 86_400_000,
  cleanupBatchSize: 5000,
  maxPayloadBytes: 64 * 1024 * 1024,
  listen: true,
  listenProbeTimeoutMs: 3000,
  pollIntervalMs: 500,
  recheckIntervalMs: 2000,
  maxRetries: 3,
  retryDelayMs: 50,
});

export interface ResolvedResultBackendOptions {
  codec: ResultCodec;
  expiresMs: number;
  unfinishedExpiresMs: number;
  cleanupBatchSize: number;
  customStates: readonly string[];
  maxPayloadBytes: number;
  listen: boolean;
  listenConnection: string | ClientConfig | undefined;
  listenProbeTimeoutMs: number;
  pollIntervalMs: number;
  recheckIntervalMs: number;
  maxRetries: number;
  retryDelayMs: number;
  logger: Logger;
}

function resolveCodec(codec: unknown): ResultCodec {
  if (codec === undefined || codec === 'json') return jsonCodec;
  if (codec === 'celery') return celeryCodec;
  const c = codec as Partial<ResultCodec> | null;
  const methods = ['encodeResult', 'decodeResult', 'encodeGroup', 'decodeGroup', 'encodeArgs', 'decodeArgs'] as const;
  if (c !== null && typeof c === 'object' && typeof c.name === 'string' && methods.every((m) => typeof c[m] === 'function')) return c as ResultCodec;
  throw new InvalidOptionError(
    `Option codec is ${describeValue(codec)}; it must be "json", "celery" or an object with a name and ${methods.join(', ')}. ` +
      'Pass one of those, or leave it out for JSON.',
  );
}

function resolveCustomStates(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || s.length === 0 || s.length > MAX_STATE_LENGTH || BUILTIN_STATES.includes(s))) {
    throw new InvalidOptionError(
      `Option customStates is ${describeValue(value)}; it must be an array of new state names of 1 to ${MAX_STATE_LENGTH} characters ` +
        "(Celery's status column width), none of them a built-in state. Pass e.g. ['PROGRESS'].",
    );
  }
  return Object.freeze([...value]);
}

function resolveListenConnection(value: unknown): string | ClientConfig | undefined {
  if (value === undefined) return undefined;
  if ((typeof value === 'string' && value.length > 0) || (value !== null && typeof value === 'object' && !Array.isArray(value))) return value as string | ClientConfig;
  throw new InvalidOptionError(
    `Option listenConnection is ${describeValue(value)}; it must be a connection string or a pg client config object. ` +
      "Pass e.g. 'postgres://user@db-host:5432/app' (straight to PostgreSQL, not through a transaction pooler), or leave it out to use the DataSource's settings.",
  );
}

export function resolveResultBackendOptions(options: ResultBackendOptions = {}): ResolvedResultBackendOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`ResultBackend options are ${describeValue(options)}; they must be an object. Pass an object or nothing.`);
  }
  refuseUnknownKeys('ResultBackend', options, RESULT_BACKEND_KEYS);
  if (options.listen !== undefined && typeof options.listen !== 'boolean') {
    throw new InvalidOptionError(`Option listen is ${describeValue(options.listen)}; it must be true or false. Pass a boolean, or leave it out for true.`);
  }
  const d = RESULT_BACKEND_DEFAULTS;
  return {
    codec: resolveCodec(options.codec),
    expiresMs: requireNonNegativeInteger('expiresMs', options.expiresMs, d.expiresMs),
    unfinishedExpiresMs: requireNonNegativeInteger('unfinishedExpiresMs', options.unfinishedExpiresMs, d.unfinishedExpiresMs),
    cleanupBatchSize: requirePositiveInteger('cleanupBatchSize', options.cleanupBatchSize, d.cleanupBatchSize),
    customStates: resolveCustomStates(options.customStates),
    maxPayloadBytes: requirePositiveInteger('maxPayloadBytes', options.maxPayloadBytes, d.maxPayloadBytes),
    listen: options.listen ?? d.listen,
    listenConnection: resolveListenConnection(options.listenConnection),
    listenProbeTimeoutMs: requirePositiveInteger('listenProbeTimeoutMs', options.listenProbeTimeoutMs, d.listenProbeTimeoutMs),
    pollIntervalMs: requirePositiveInteger('pollIntervalMs', options.pollIntervalMs, d.pollIntervalMs),
    recheckIntervalMs: requireNonNegativeInteger('recheckIntervalMs', options.recheckIntervalMs, d.recheckIntervalMs),
    maxRetries: requireNonNegativeInteger('maxRetries', options.maxRetries, d.maxRetries),
    retryDelayMs: requireNonNegativeInteger('retryDelayMs', options.retryDelayMs, d.retryDelayMs),
    logger: requireLogger(options.logger),
  };
}
