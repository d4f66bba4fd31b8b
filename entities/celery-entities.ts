import { Entity } from 'typeorm';
import { InvalidOptionError } from '../lib/errors';
import { describeValue } from '../lib/options';
import { AbstractTaskMeta } from './abstract-task-meta';
import { AbstractTaskSetMeta } from './abstract-task-set-meta';
import { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta, declareMySqlId } from './mysql-task-meta';

/** Like Celery's `database_table_names`, `database_table_schemas` and its sequence names. */
export interface CeleryEntityOptions {
  /** @defaultValue "celery_taskmeta" */
  taskTable?: string;
  /** @defaultValue "celery_tasksetmeta" */
  groupTable?: string;
  /** The schema of both tables and sequences. @defaultValue the connection's current schema */
  schema?: string;
  /** @defaultValue "task_id_sequence" */
  taskSequence?: string;
  /** @defaultValue "taskset_id_sequence" */
  groupSequence?: string;
  /**
   * The column types to use, as Celery creates its tables on each database:
   * PostgreSQL's (bytea, timestamp, ids from sequences), MySQL's (blob,
   * datetime, AUTO_INCREMENT ids) or MariaDB's (blob, datetime, ids from
   * sequences). On MySQL and MariaDB, `schema` is a database name.
   * @defaultValue "postgres"
   */
  dialect?: 'postgres' | 'mysql' | 'mariadb';
}

export const CELERY_ENTITY_DEFAULTS = Object.freeze({
  taskTable: 'celery_taskmeta',
  groupTable: 'celery_tasksetmeta',
  taskSequence: 'task_id_sequence',
  groupSequence: 'taskset_id_sequence',
});

const MAX_IDENTIFIER_BYTES = 63;

function identifier(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES || value.includes('\0')) {
    throw new InvalidOptionError(
      `Option ${option} is ${describeValue(value)}; it must be a non-empty name of at most ${MAX_IDENTIFIER_BYTES} bytes, ` +
        'because PostgreSQL truncates longer identifiers and the table would not be found again. Pass a shorter name.',
    );
  }
  // TypeORM 1.x writes table and schema names into its catalog queries between quotes without
  // doubling the quotes inside, so such a name would break TypeORM's SQL (or be injected into it).
  if (/['"]/.test(value)) {
    throw new InvalidOptionError(
      `Option ${option} is ${describeValue(value)}; it contains a quote, and TypeORM builds its catalog queries with table and schema names ` +
        "between quotes without escaping them, so the sync would fail or run SQL of the name's making. Pass a name without ' or \".",
    );
  }
  return value;
}

/**
 * Builds a TaskMeta/TaskSetMeta pair for other table names, a schema or other
 * sequences. Register the returned classes in the DataSource's `entities` and
 * pass them to the ResultBackend.
 */
export function defineCeleryEntities(options?: CeleryEntityOptions & { dialect?: 'postgres' }): { TaskMeta: typeof AbstractTaskMeta; TaskSetMeta: typeof AbstractTaskSetMeta };
export function defineCeleryEntities(options: CeleryEntityOptions & { dialect: 'mysql' | 'mariadb' }): { TaskMeta: typeof AbstractMySqlTaskMeta; TaskSetMeta: typeof AbstractMySqlTaskSetMeta };
export function defineCeleryEntities(
  options: CeleryEntityOptions = {},
): { TaskMeta: typeof AbstractTaskMeta | typeof AbstractMySqlTaskMeta; TaskSetMeta: typeof AbstractTaskSetMeta | typeof AbstractMySqlTaskSetMeta } {
  const taskTable = identifier('taskTable', options.taskTable, CELERY_ENTITY_DEFAULTS.taskTable);
  const groupTable = identifier('groupTable', options.groupTable, CELERY_ENTITY_DEFAULTS.groupTable);
  const schema = options.schema === undefined ? undefined : identifier('schema', options.schema, '');
  const dialect: unknown = options.dialect ?? 'postgres';
  if (dialect === 'mysql' && (options.taskSequence !== undefined || options.groupSequence !== undefined)) {
    throw new InvalidOptionError(
      'Options taskSequence and groupSequence were given with dialect "mysql"; MySQL has no sequences, and Celery makes the id column ' +
        'AUTO_INCREMENT there. Leave them out, or use dialect "mariadb", where Celery draws ids from sequences.',
    );
  }
  if (dialect === 'mysql' || dialect === 'mariadb') {
    const taskSequence = dialect === 'mysql' ? null : identifier('taskSequence', options.taskSequence, CELERY_ENTITY_DEFAULTS.taskSequence);
    const groupSequence = dialect === 'mysql' ? null : identifier('groupSequence', options.groupSequence, CELERY_ENTITY_DEFAULTS.groupSequence);
    class TaskMeta extends AbstractMySqlTaskMeta {
      static override readonly idSequence = taskSequence;
    }
    class TaskSetMeta extends AbstractMySqlTaskSetMeta {
      static override readonly idSequence = groupSequence;
    }
    declareMySqlId(TaskMeta, taskSequence);
    declareMySqlId(TaskSetMeta, groupSequence);
    Entity({ name: taskTable, database: schema })(TaskMeta);
    Entity({ name: groupTable, database: schema })(TaskSetMeta);
    return { TaskMeta, TaskSetMeta };
  }
  if (dialect !== 'postgres') {
    throw new InvalidOptionError(`Option dialect is ${describeValue(dialect)}; it must be "postgres", "mysql" or "mariadb". Pass one of those, or leave it out.`);
  }
  const taskSequence = identifier('taskSequence', options.taskSequence, CELERY_ENTITY_DEFAULTS.taskSequence);
  const groupSequence = identifier('groupSequence', options.groupSequence, CELERY_ENTITY_DEFAULTS.groupSequence);

  class TaskMeta extends AbstractTaskMeta {
    static override readonly idSequence = taskSequence;
  }
  class TaskSetMeta extends AbstractTaskSetMeta {
    static override readonly idSequence = groupSequence;
  }
  Entity({ name: taskTable, schema })(TaskMeta);
  Entity({ name: groupTable, schema })(TaskSetMeta);
  return { TaskMeta, TaskSetMeta };
}
