import type { DataSource, DataSourceOptions } from 'typeorm';
import { AbstractTaskMeta } from '../../entities/abstract-task-meta';
import { AbstractTaskSetMeta } from '../../entities/abstract-task-set-meta';
import { ResultBackend } from '../backend/result-backend';
import { countByStateSql, tableExistsSql } from '../dialects/postgres/backend-sql';
import type { GroupEntityClass, TaskEntityClass } from '../backend/tables';
import type { LockHolder } from '../errors';
import type { Logger } from '../logger';
import { SafeMigrator, type MigrationRunResult } from '../migrate/safe-migrator';
import type { MigrationTransactionMode, SafeSynchronizerOptions } from '../options';
import { qualified, runSql } from '../query';
import { dialectOf } from '../dialects';
import { planSchemaLock } from '../dialects/schema-lock';
import * as mysql from '../dialects/mysql/backend-sql';
import { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta } from '../../entities/mysql-task-meta';
import { resolveSafeSynchronizerOptions } from '../options';
import { schemaOf } from '../schemas';
import { SafeSynchronizer, type SyncResult } from '../sync/safe-synchronizer';
import type { PlannedStatement } from '../sync/data-guard';
import { UsageError } from './load-data-source';

export interface LockOptions {
  lockTimeoutMs?: number;
  logger: Logger;
}

/**
 * Initializes the file's DataSource with its own sync and migrations switched
 * off, whatever the file says: the commands run them under the lock, as
 * `typeorm schema:sync` ignores `synchronize`.
 */
export async function open(dataSource: DataSource): Promise<DataSource> {
  dataSource.setOptions({ synchronize: false, migrationsRun: false } as Partial<DataSourceOptions>);
  return dataSource.initialize();
}

export async function sync(ds: DataSource, options: LockOptions & Pick<SafeSynchronizerOptions, 'verify' | 'allowDataLoss' | 'dropRemovedColumns'>): Promise<SyncResult> {
  return new SafeSynchronizer(ds, options).synchronize();
}

export async function migrate(ds: DataSource, options: LockOptions & { transaction?: MigrationTransactionMode }): Promise<MigrationRunResult> {
  return new SafeMigrator(ds, options).run();
}

export async function pendingMigrations(ds: DataSource): Promise<string[]> {
  return new SafeMigrator(ds).pending();
}

export interface Status {
  inSync: boolean;
  pendingStatements: string[];
  /** Each statement of the diff with what the sync would do with it (safe, lossless, kept, refused, fails, allowed). */
  plan: PlannedStatement[];
  pendingMigrations: string[];
  /** The PostgreSQL advisory lock key; null on MySQL/MariaDB and SQLite. */
  lockKey: readonly [number, number] | null;
  /** The MySQL/MariaDB GET_LOCK name; null on PostgreSQL and SQLite. */
  lockName: string | null;
  lockHolders: LockHolder[];
  tables: { table: string; states: Record<string, number> }[];
}

export async function status(ds: DataSource): Promise<Status> {
  const plan = await new SafeSynchronizer(ds).plan();
  const pendingStatements = plan.filter((s) => s.action !== 'kept').map((s) => s.sql);
  const pending = await pendingMigrations(ds);
  const dialect = dialectOf(ds, 'sync');
  const lock = await planSchemaLock(ds, dialect, resolveSafeSynchronizerOptions({ lockTimeoutMs: 0 }));
  const holders = await lock.holders();
  const tables: Status['tables'] = [];
  for (const target of celeryTargets(ds, AbstractTaskMeta, AbstractMySqlTaskMeta)) {
    const meta = ds.getMetadata(target);
    if (dialect === 'mysql') {
      const table = mysql.qualifiedMySql(meta.database, meta.tableName);
      const [{ n }] = await runSql<{ n: number | string }>(ds.manager, mysql.relationExistsSql(meta.database, meta.tableName, 'BASE TABLE'));
      const rows = Number(n) > 0 ? await runSql<{ status: string; count: number }>(ds.manager, mysql.countByStateSql(table)) : [];
      tables.push({ table, states: Object.fromEntries(rows.map((r) => [r.status, Number(r.count)])) });
      continue;
    }
    const table = qualified(schemaOf(ds, meta), meta.tableName);
    // A table the sync has not made yet has no rows to count.
    const [{ exists }] = await runSql<{ exists: boolean }>(ds.manager, tableExistsSql(table));
    const rows = exists ? await runSql<{ status: string; count: number }>(ds.manager, countByStateSql(table)) : [];
    tables.push({ table, states: Object.fromEntries(rows.map((r) => [r.status, r.count])) });
  }
  return {
    inSync: pendingStatements.length === 0 && pending.length === 0,
    pendingStatements,
    plan,
    pendingMigrations: pending,
    lockKey: lock.lockKey,
    lockName: lock.lockName,
    lockHolders: holders,
    tables,
  };
}

export async function cleanup(
  ds: DataSource,
  options: { olderThanMs?: number; unfinishedOlderThanMs?: number; logger: Logger },
): Promise<{ task: string; group: string; tasks: number; unfinishedTasks: number; groups: number }> {
  const [task] = pickOne(celeryTargets(ds, AbstractTaskMeta, AbstractMySqlTaskMeta), 'AbstractTaskMeta');
  const [group] = pickOne(celeryTargets(ds, AbstractTaskSetMeta, AbstractMySqlTaskSetMeta), 'AbstractTaskSetMeta');
  const backend = new ResultBackend(ds, { entities: { task: task as TaskEntityClass, group: group as GroupEntityClass }, listen: false, logger: options.logger });
  try {
    const removed = await backend.cleanup({ olderThanMs: options.olderThanMs, unfinishedOlderThanMs: options.unfinishedOlderThanMs });
    return { task: ds.getMetadata(task).tableName, group: ds.getMetadata(group).tableName, ...removed };
  } finally {
    await backend.close();
  }
}

/** The registered entity classes that extend one of the Celery base classes (PostgreSQL's or MySQL's). */
function celeryTargets(ds: DataSource, ...bases: Function[]): Function[] {
  return ds.entityMetadatas.map((m) => m.target).filter((t): t is Function => typeof t === 'function' && bases.some((base) => t.prototype instanceof base));
}

function pickOne(targets: Function[], base: string): [Function] {
  if (targets.length === 1) return [targets[0]];
  throw new UsageError(
    targets.length === 0
      ? `The DataSource registers no entity that extends ${base}, so there are no result tables to clean. Add TaskMeta and TaskSetMeta (or your subclasses) to its entities.`
      : `The DataSource registers several entities that extend ${base} (${targets.map((t) => t.name).join(', ')}); cleanup needs exactly one pair. Use a data-source file that registers one.`,
  );
}
