import { Entity } from 'typeorm';
import { AbstractTaskSetMeta } from './abstract-task-set-meta';

/** Celery's `celery_tasksetmeta`, under Celery's names. */
@Entity({ name: 'celery_tasksetmeta' })
export class TaskSetMeta extends AbstractTaskSetMeta {}
