/** Celery's task states (celery.states), by the names Celery stores. */
export const TaskState = Object.freeze({
  PENDING: 'PENDING',
  RECEIVED: 'RECEIVED',
  STARTED: 'STARTED',
  RETRY: 'RETRY',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVOKED: 'REVOKED',
});

export type BuiltinTaskState = (typeof TaskState)[keyof typeof TaskState];

/** States after which a task will not change by itself (celery.states.READY_STATES). */
export const READY_STATES: readonly string[] = Object.freeze([TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED]);

export const BUILTIN_STATES: readonly string[] = Object.freeze(Object.values(TaskState));

/** Celery's column width for `status`. */
export const MAX_STATE_LENGTH = 50;

export function isReadyState(state: string | null | undefined): boolean {
  return state !== null && state !== undefined && READY_STATES.includes(state);
}
