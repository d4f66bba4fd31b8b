import type { DataSource, EntityMetadata } from 'typeorm';
import { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta } from '../../../entities/mysql-task-meta';
import { InvalidOptionError } from '../../errors';
import { metadataFor as metadataOf } from '../../backend/tables';
import { MySqlBackendTables, qualifiedMySql, quoteMySqlIdent } from './backend-sql';

const BASE_TASK_PROPERTIES = new Set(['id', 'taskId', 'status', 'result', 'dateDone', 'traceback', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue']);

/** The largest value each MySQL binary type holds: what a store may write into result, args and kwargs. */
const BLOB_LIMITS: Readonly<Record<string, number>> = { tinyblob: 255, blob: 65_535, mediumblob: 16_777_215, longblob: 4_294_967_295 };

export interface ResolvedMySqlTables extends MySqlBackendTables {
  /** Quoted column names of the columns a TaskMeta subclass adds, by property name. */
  extraColumns: Map<string, string>;
  /** The byte limit of the task table's result column (BLOB: 65,535). */
  resultLimit: number;
}

/** Quoted table and sequence names from the entity metadata, `database`.`table` where the entity names a database. */
/** As on PostgreSQL, but naming the MySQL entities when a class of the wrong family is given. */
function metadataFor(dataSource: DataSource, target: Function, base: Function, role: string): EntityMetadata {
  if (typeof target === 'function' && !(target.prototype instanceof base)) {
    throw new InvalidOptionError(
      `entities.${role} is class ${target.name}, which does not extend ${base.name}; on MySQL and MariaDB the backend reads and writes Celery's columns as ${base.name} defines them. ` +
        'Use MySqlTaskMeta/MySqlTaskSetMeta (MySQL), MariaDbTaskMeta/MariaDbTaskSetMeta (MariaDB), or defineCeleryEntities({ dialect }).',
    );
  }
  return metadataOf(dataSource, target, base, role);
}

export function resolveMySqlTables(dataSource: DataSource, task: Function, group: Function, firstSeenName: (taskTable: string) => string): ResolvedMySqlTables {
  const taskMeta = metadataFor(dataSource, task, AbstractMySqlTaskMeta, 'task');
  const groupMeta = metadataFor(dataSource, group, AbstractMySqlTaskSetMeta, 'group');
  const taskSequence = (task as unknown as typeof AbstractMySqlTaskMeta).idSequence;
  const groupSequence = (group as unknown as typeof AbstractMySqlTaskSetMeta).idSequence;
  const extraColumns = new Map<string, string>();
  for (const column of taskMeta.columns) {
    if (!BASE_TASK_PROPERTIES.has(column.propertyName)) extraColumns.set(column.propertyName, quoteMySqlIdent(column.databaseName));
  }
  const resultType = String(taskMeta.findColumnWithPropertyName('result')?.type ?? 'blob').toLowerCase();
  return {
    task: qualifiedMySql(taskMeta.database, taskMeta.tableName),
    group: qualifiedMySql(groupMeta.database, groupMeta.tableName),
    firstSeen: qualifiedMySql(taskMeta.database, firstSeenName(taskMeta.tableName)),
    taskSequence: taskSequence ? qualifiedMySql(taskMeta.database, taskSequence) : null,
    groupSequence: groupSequence ? qualifiedMySql(groupMeta.database, groupSequence) : null,
    extraColumns,
    resultLimit: BLOB_LIMITS[resultType] ?? BLOB_LIMITS.blob,
  };
}
