/**
 * typeorm-result-backend: Celery-compatible task result tables for TypeORM on
 * PostgreSQL, and a schema synchronizer that many processes can run at once.
 * This file is the whole public API.
 */
export { SafeSynchronizer } from './sync/safe-synchronizer';
export type { SyncResult } from './sync/safe-synchronizer';
export type { SafeSynchronizerOptions } from './options';
export { SAFE_SYNCHRONIZER_DEFAULTS } from './options';
export {
  ResultBackendError,
  InvalidOptionError,
  UnsupportedDriverError,
  LockTimeoutError,
  SchemaSyncError,
} from './errors';
export type { LockHolder } from './errors';
export type { Logger, LogFields } from './logger';
export { silentLogger } from './logger';
export { PgCode, CatalogUniqueIndex } from './pg-codes';
export {
  AbstractTaskMeta,
  AbstractTaskSetMeta,
  TaskMeta,
  TaskSetMeta,
  defineCeleryEntities,
  CELERY_ENTITY_DEFAULTS,
} from '../entities';
export type { CeleryEntityOptions } from '../entities';
