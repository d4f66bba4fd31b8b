export { AbstractTaskMeta } from './abstract-task-meta';
export { AbstractTaskSetMeta } from './abstract-task-set-meta';
export { TaskMeta } from './task-meta';
export { TaskSetMeta } from './task-set-meta';
export { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta, MySqlTaskMeta, MySqlTaskSetMeta, MariaDbTaskMeta, MariaDbTaskSetMeta } from './mysql-task-meta';
export { defineCeleryEntities, CELERY_ENTITY_DEFAULTS } from './celery-entities';
export type { CeleryEntityOptions } from './celery-entities';

import type { AbstractTaskMeta } from './abstract-task-meta';
import type { AbstractTaskSetMeta } from './abstract-task-set-meta';
/** Any class with the task table's columns: TaskMeta, a subclass, or what defineCeleryEntities returns. */
export type TaskEntityClass = abstract new (...args: never[]) => AbstractTaskMeta;
export type GroupEntityClass = abstract new (...args: never[]) => AbstractTaskSetMeta;
