import { Entity } from 'typeorm';
import { AbstractTaskMeta } from './abstract-task-meta';

/** Celery's `celery_taskmeta`, under Celery's names. */
@Entity({ name: 'celery_taskmeta' })
export class TaskMeta extends AbstractTaskMeta {}
