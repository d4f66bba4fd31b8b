/**
 * typeorm-result-backend: Celery-compatible task result tables for TypeORM on
 * PostgreSQL, and a schema synchronizer that many processes can run at once.
 * This file is the whole public API.
 */
export { SafeSynchronizer } from './sync/safe-synchronizer';
export type { SyncResult, SafeInitializeOptions } from './sync/safe-synchronizer';
export type { PlannedStatement, StatementAction, KeptChange } from './sync/data-guard';
export { SafeMigrator } from './migrate/safe-migrator';
export type { MigrationRunResult } from './migrate/safe-migrator';
export type { LockKey } from './dialects/postgres/advisory-lock';
export { createIdSequences, dropIdSequences } from './dialects/postgres/sequences';
export { createWakeTriggers, dropWakeTriggers } from './dialects/postgres/wake';
export type { SafeSynchronizerOptions, SafeMigratorOptions, SchemaLockOptions, MigrationTransactionMode, SyncVerifyMode } from './options';
export { SAFE_SYNCHRONIZER_DEFAULTS } from './options';
export {
  ResultBackendError,
  InvalidOptionError,
  UnsupportedDriverError,
  LockTimeoutError,
  SchemaSyncError,
  NotInitializedError,
  MissingSequenceError,
  MissingTableError,
  DataLossError,
  IncompatibleDataError,
} from './errors';
export type { LockHolder, DecodeLocation, GuardedChange } from './errors';
export type { Logger, LogFields, ConsoleStyleLogger } from './logger';
export { silentLogger } from './logger';
export { PgCode, CatalogUniqueIndex } from './dialects/postgres/codes';
export {
  AbstractTaskMeta,
  AbstractTaskSetMeta,
  TaskMeta,
  TaskSetMeta,
  AbstractMySqlTaskMeta,
  AbstractMySqlTaskSetMeta,
  MySqlTaskMeta,
  MySqlTaskSetMeta,
  MariaDbTaskMeta,
  MariaDbTaskSetMeta,
  defineCeleryEntities,
  CELERY_ENTITY_DEFAULTS,
} from '../entities';
export type { CeleryEntityOptions } from '../entities';
export { ResultBackend, errorToCelery } from './backend/result-backend';
export type { TaskResult, StoreMeta, StoreOutcome, WaitOptions, GroupMeta, CleanupOptions, CleanupOutcome } from './backend/result-backend';
export type { ResultBackendOptions } from './options';
export type { TaskEntityClass, GroupEntityClass } from './backend/tables';
export { RESULT_BACKEND_DEFAULTS } from './options';
export { jsonCodec } from './celery/codec';
export { celeryCodec, kombuJson } from './celery/celery-codec';
export type { ResultCodec } from './celery/codec';
export { TaskState, READY_STATES } from './celery/states';
export {
  InvalidArgumentError,
  InvalidTaskIdError,
  UnknownStateError,
  UnencodableResultError,
  PayloadTooLargeError,
  ResultDecodeError,
  WaitTimeoutError,
  TaskFailedError,
  TaskRevokedError,
  GroupNotFoundError,
  BackendClosedError,
  DatabaseError,
  PermissionDeniedError,
  ForeignObjectError,
} from './errors';
export { resultFromTuple } from './celery/result-tuple';
// A data-only Python pickle decoder and encoder, for the rows real Celery writes.
export {
  decodePickle,
  encodePickle,
  PickleDecodeError,
  PickleEncodeError,
  PickleLimitError,
  UnsafePickleError,
  CeleryAsyncResult,
  CeleryGroupResult,
  PyDate,
  PyDecimal,
  PyException,
  PyFrozenSet,
  PyTime,
  PyTimedelta,
  PyTimezone,
  PyTuple,
  PyUUID,
  tuple,
} from './celery/pickle';
export type { DecodeOptions, EncodeOptions, PyDict, PyValue } from './celery/pickle';
