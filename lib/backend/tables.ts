import type { DataSource, EntityMetadata } from 'typeorm';
import { AbstractTaskMeta } from '../../entities/abstract-task-meta';
import { AbstractTaskSetMeta } from '../../entities/abstract-task-set-meta';
import { TaskMeta } from '../../entities/task-meta';
import { TaskSetMeta } from '../../entities/task-set-meta';
import { InvalidOptionError, NotInitializedError } from '../errors';
import { describeValue } from '../options';
import { schemaOf } from '../schemas';
import { qualified } from '../query';
import type { BackendTables } from '../dialects/postgres/backend-sql';
import { WakeNames, wakeNames } from '../dialects/postgres/wake-sql';

import type { GroupEntityClass, TaskEntityClass } from '../../entities';
export type { GroupEntityClass, TaskEntityClass };

export interface ResolvedTables extends BackendTables {
  /** Columns a TaskMeta subclass adds: property name to quoted column name. */
  extraColumns: ReadonlyMap<string, string>;
  /** The wake-up trigger's objects beside the task table. */
  wake: WakeNames;
  /** The id sequences, unquoted, for creating them when a schema made without SafeSynchronizer lacks them. */
  /** With the quoted, qualified table that draws from each. */
  sequences: { schema: string; name: string; table: string }[];
}

/**
 * The two entity classes from either shape the option takes: `{ task, group }`,
 * or `{ TaskMeta, TaskSetMeta }` as `defineCeleryEntities()` returns them. In
 * JavaScript a misspelt key would otherwise fall back to the default tables
 * without a word, so any other key is refused.
 */
export function resolveEntities(entities: unknown, defaults: { task: TaskEntityClass; group: GroupEntityClass } = { task: TaskMeta, group: TaskSetMeta }): { task: TaskEntityClass; group: GroupEntityClass } {
  if (entities === undefined) return defaults;
  const keys = entities !== null && typeof entities === 'object' ? Object.keys(entities).sort().join(',') : undefined;
  const e = entities as Record<string, TaskEntityClass & GroupEntityClass>;
  if (keys === 'TaskMeta,TaskSetMeta') return { task: e.TaskMeta, group: e.TaskSetMeta };
  if (keys !== undefined && ['', 'task', 'group', 'group,task'].includes(keys)) return { task: e.task ?? defaults.task, group: e.group ?? defaults.group };
  throw new InvalidOptionError(
    `Option entities is ${keys === undefined ? describeValue(entities) : `an object with the keys ${keys || '(none)'}`}; it must be { task, group } ` +
      'or { TaskMeta, TaskSetMeta } (what defineCeleryEntities() returns), so that the backend knows which tables are yours. ' +
      'Pass one of those shapes, or leave the option out for Celery\'s default tables.',
  );
}

const BASE_TASK_PROPERTIES = new Set(['id', 'taskId', 'status', 'result', 'dateDone', 'traceback', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue']);

export function metadataFor(dataSource: DataSource, target: Function, base: Function, role: string): EntityMetadata {
  if (typeof target !== 'function' || !(target.prototype instanceof base)) {
    throw new InvalidOptionError(
      `entities.${role} is ${typeof target === 'function' ? `class ${target.name}` : String(target)}, which does not extend ${base.name}; ` +
        `the backend reads and writes Celery's columns, which ${base.name} defines. Extend ${base.name} and decorate the class with @Entity.`,
    );
  }
  if (!dataSource.isInitialized) throw new NotInitializedError('The ResultBackend');
  if (!dataSource.hasMetadata(target)) {
    throw new InvalidOptionError(
      `entities.${role} is class ${target.name}, which the DataSource does not know. ` +
        "Add it to the DataSource's entities option, so that its table exists and its metadata is built.",
    );
  }
  return dataSource.getMetadata(target);
}

export { firstSeenTableName } from '../dialects/postgres/wake-sql';

/** Quoted table and sequence names, and the NOTIFY channel, from the entity metadata. */
export function resolveTables(dataSource: DataSource, task: TaskEntityClass, group: GroupEntityClass): ResolvedTables {
  const taskMeta = metadataFor(dataSource, task, AbstractTaskMeta, 'task');
  const groupMeta = metadataFor(dataSource, group, AbstractTaskSetMeta, 'group');
  const taskSchema = schemaOf(dataSource, taskMeta);
  const groupSchema = schemaOf(dataSource, groupMeta);
  const taskTable = qualified(taskSchema, taskMeta.tableName);
  const wake = wakeNames(taskSchema, taskMeta.tableName);
  const extraColumns = new Map<string, string>();
  for (const column of taskMeta.columns) {
    if (!BASE_TASK_PROPERTIES.has(column.propertyName)) extraColumns.set(column.propertyName, qualified(undefined, column.databaseName));
  }
  const taskSequence = (task as unknown as typeof AbstractTaskMeta).idSequence;
  const groupSequence = (group as unknown as typeof AbstractTaskSetMeta).idSequence;
  const groupTable = qualified(groupSchema, groupMeta.tableName);
  return {
    task: taskTable,
    group: groupTable,
    taskSequence: qualified(taskSchema, taskSequence),
    groupSequence: qualified(groupSchema, groupSequence),
    sequences: [
      { schema: taskSchema, name: taskSequence, table: taskTable },
      { schema: groupSchema, name: groupSequence, table: groupTable },
    ],
    channel: wake.channel,
    wake,
    firstSeen: qualified(taskSchema, wake.firstSeenTable),
    extraColumns,
  };
}
