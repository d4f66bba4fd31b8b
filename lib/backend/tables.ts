import { createHash } from 'node:crypto';
import type { DataSource, EntityMetadata } from 'typeorm';
import { AbstractTaskMeta } from '../../entities/abstract-task-meta';
import { AbstractTaskSetMeta } from '../../entities/abstract-task-set-meta';
import { InvalidOptionError } from '../errors';
import { schemaOf } from '../sync/prerequisites';
import { qualified } from '../sync/sql';
import type { BackendTables } from './sql';

export type TaskEntityClass = abstract new (...args: never[]) => AbstractTaskMeta;
export type GroupEntityClass = abstract new (...args: never[]) => AbstractTaskSetMeta;

export interface ResolvedTables extends BackendTables {
  /** Columns a TaskMeta subclass adds: property name to quoted column name. */
  extraColumns: ReadonlyMap<string, string>;
}

const BASE_TASK_PROPERTIES = new Set(['id', 'taskId', 'status', 'result', 'dateDone', 'traceback', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue']);

function metadataFor(dataSource: DataSource, target: Function, base: Function, role: string): EntityMetadata {
  if (typeof target !== 'function' || !(target.prototype instanceof base)) {
    throw new InvalidOptionError(
      `entities.${role} is ${typeof target === 'function' ? `class ${target.name}` : String(target)}, which does not extend ${base.name}; ` +
        `the backend reads and writes Celery's columns, which ${base.name} defines. Extend ${base.name} and decorate the class with @Entity.`,
    );
  }
  if (!dataSource.hasMetadata(target)) {
    throw new InvalidOptionError(
      `entities.${role} is class ${target.name}, which the DataSource does not know. ` +
        "Add it to the DataSource's entities option, so that its table exists and its metadata is built.",
    );
  }
  return dataSource.getMetadata(target);
}

/** Quoted table and sequence names, and the NOTIFY channel, from the entity metadata. */
export function resolveTables(dataSource: DataSource, task: TaskEntityClass, group: GroupEntityClass): ResolvedTables {
  const taskMeta = metadataFor(dataSource, task, AbstractTaskMeta, 'task');
  const groupMeta = metadataFor(dataSource, group, AbstractTaskSetMeta, 'group');
  const taskSchema = schemaOf(dataSource, taskMeta);
  const groupSchema = schemaOf(dataSource, groupMeta);
  const taskTable = qualified(taskSchema, taskMeta.tableName);
  const extraColumns = new Map<string, string>();
  for (const column of taskMeta.columns) {
    if (!BASE_TASK_PROPERTIES.has(column.propertyName)) extraColumns.set(column.propertyName, qualified(undefined, column.databaseName));
  }
  return {
    task: taskTable,
    group: qualified(groupSchema, groupMeta.tableName),
    taskSequence: qualified(taskSchema, (task as unknown as typeof AbstractTaskMeta).idSequence),
    groupSequence: qualified(groupSchema, (group as unknown as typeof AbstractTaskSetMeta).idSequence),
    // Channel names are identifiers (63 bytes at most); a hash of the table keeps them short and distinct.
    channel: `trb_${createHash('sha1').update(taskTable).digest('hex').slice(0, 20)}`,
    extraColumns,
  };
}
