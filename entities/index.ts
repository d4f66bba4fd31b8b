export { AbstractTaskMeta } from './abstract-task-meta';
export { AbstractTaskSetMeta } from './abstract-task-set-meta';
export { TaskMeta } from './task-meta';
export { TaskSetMeta } from './task-set-meta';
export { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta, MySqlTaskMeta, MySqlTaskSetMeta, MariaDbTaskMeta, MariaDbTaskSetMeta } from './mysql-task-meta';
export { defineCeleryEntities, CELERY_ENTITY_DEFAULTS } from './celery-entities';
export type { CeleryEntityOptions } from './celery-entities';
