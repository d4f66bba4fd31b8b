/**
 * typeorm-result-backend/celery-node: this package as the result backend of
 * celery-node (https://github.com/actumn/celery.node) clients and workers.
 * celery-node sends tasks to real Celery over AMQP or Redis, but accepts only
 * Redis and AMQP result backends, and its AsyncResult.get() polls every 500 ms.
 * With this, a celery-node client waits on Celery's database backend with push
 * wake-ups, and a celery-node worker stores results that Python's `.get()`
 * reads. `celery-node` is an optional peer dependency (0.5.x); nothing here
 * loads it: it is given the app it already made.
 */
import type { ResultBackend } from '../backend/result-backend';
import { PickleEncodeError } from '../celery/pickle/errors';
import { InvalidArgumentError, InvalidTaskIdError, ResultBackendError, TaskFailedError, TaskRevokedError, WaitTimeoutError } from '../errors';
import type { ConsoleStyleLogger, Logger } from '../logger';
import { requireLogger } from '../options';

/** What celery-node's AsyncResult and its own Redis backend give for a task: Celery's result meta. */
export interface CeleryNodeTaskMeta {
  task_id: string;
  status: string;
  /** The value; for FAILURE and REVOKED, Celery's `{ exc_type, exc_message, exc_module }`. */
  result: unknown;
  traceback: string | null;
  /** ISO 8601, UTC, or null until the task is ready. */
  date_done: string | null;
  children: unknown[];
}

/** celery-node's `CeleryBackend` interface, which its Client and Worker call. */
export interface CeleryNodeBackendLike {
  isReady(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  storeResult(taskId: string, result: unknown, state: string): Promise<unknown>;
  getTaskMeta(taskId: string): Promise<object>;
}

export interface CeleryNodeBackendOptions {
  /** Where a store that could not be written at all is reported (it cannot reject: celery-node does not catch it). @defaultValue silent */
  logger?: Logger | ConsoleStyleLogger;
  /** Close the ResultBackend (its LISTEN connection) when celery-node disconnects. The DataSource stays open. @defaultValue true */
  closeOnDisconnect?: boolean;
}

/** The error celery-node's own AsyncResult.get() rejects with: its message is the state, Celery's fields on it. */
export interface CeleryNodeError extends Error {
  exc_type?: string;
  exc_message?: readonly unknown[];
  exc_module?: string | null;
}

function celeryNodeError(state: 'FAILURE' | 'REVOKED' | 'TIMEOUT', fields: object, cause: unknown): CeleryNodeError {
  return Object.assign(new Error(state, { cause }), fields);
}

/**
 * celery-node's `CeleryBackend` over a {@link ResultBackend}. Use the backend
 * with `codec: 'celery'` so Python Celery reads what Node stores.
 *
 * A store never rejects: celery-node's worker neither awaits nor catches it,
 * so a rejection would end the worker. A task that threw is stored as a
 * FAILURE Celery rebuilds (its class name and message); a result the codec
 * cannot encode (a function, a cycle, a value over `maxPayloadBytes`) is
 * stored as a FAILURE that says so (`kombu.exceptions.EncodeError`, as Celery
 * reports its own); a store the database refuses is logged.
 */
export class CeleryNodeBackend implements CeleryNodeBackendLike {
  private readonly logger: Logger;

  constructor(
    readonly backend: ResultBackend,
    private readonly options: CeleryNodeBackendOptions = {},
  ) {
    this.logger = requireLogger(options.logger);
  }

  /** The DataSource is the application's: it is ready when the app made it so. */
  isReady(): Promise<void> {
    return Promise.resolve();
  }

  async disconnect(): Promise<void> {
    if (this.options.closeOnDisconnect !== false) await this.backend.close();
  }

  async storeResult(taskId: string, result: unknown, state: string): Promise<void> {
    try {
      if (state === 'FAILURE') await this.backend.markAsFailure(taskId, result, result instanceof Error ? result.stack : undefined);
      // A handler that returns nothing gives undefined: Python's None, as a Python task that returns nothing.
      else await this.backend.storeResult(taskId, result === undefined ? null : result, state);
    } catch (error) {
      if (!isInputError(error)) return this.reportLost(taskId, state, error);
      // The value cannot be stored as it is: store that, so the caller's .get() ends instead of waiting forever.
      try {
        await this.backend.markAsFailure(
          taskId,
          { exc_type: 'EncodeError', exc_module: 'kombu.exceptions', exc_message: [`the ${state} result of this celery-node task could not be stored: ${error.message}`] },
          undefined,
        );
      } catch (second) {
        this.reportLost(taskId, state, second);
      }
    }
  }

  async getTaskMeta(taskId: string): Promise<CeleryNodeTaskMeta> {
    const meta = await this.backend.getTaskMeta(taskId);
    return {
      task_id: meta.taskId,
      status: meta.status,
      result: meta.result,
      traceback: meta.traceback,
      date_done: meta.dateDone ? meta.dateDone.toISOString() : null,
      children: [],
    };
  }

  /**
   * What celery-node's `AsyncResult.get(timeout)` does, woken by NOTIFY
   * instead of polling: resolves to the value, or rejects as celery-node does
   * (an Error whose message is FAILURE, REVOKED or TIMEOUT, with Celery's
   * fields on it and our typed error as its `cause`).
   */
  async get(taskId: string, timeoutMs?: number): Promise<unknown> {
    try {
      return await this.backend.waitForResult(taskId, { timeoutMs: timeoutMs || undefined });
    } catch (error) {
      if (error instanceof TaskFailedError) throw celeryNodeError('FAILURE', { exc_type: error.excType, exc_message: error.excMessage, exc_module: error.excModule }, error);
      if (error instanceof TaskRevokedError) throw celeryNodeError('REVOKED', {}, error);
      if (error instanceof WaitTimeoutError) throw celeryNodeError('TIMEOUT', {}, error);
      throw error;
    }
  }

  private reportLost(taskId: string, state: string, error: unknown): void {
    this.logger.error('a celery-node result could not be stored; the task stays in its last stored state', {
      taskId,
      state,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  }
}

/** Errors of the value itself (unencodable, too large, an unknown state): storing a FAILURE instead can work. */
function isInputError(error: unknown): error is ResultBackendError {
  return (error instanceof InvalidArgumentError && !(error instanceof InvalidTaskIdError)) || error instanceof PickleEncodeError;
}

/** The parts of a celery-node Client or Worker this touches (celery-node 0.5 keeps its backend in `_backend`). */
interface CeleryNodeApp {
  _backend?: unknown;
  sendTask?: (...args: never[]) => CeleryNodeAsyncResult;
  asyncResult?: (taskId: string) => CeleryNodeAsyncResult;
}

interface CeleryNodeAsyncResult {
  taskId: string;
  get(timeout?: number, interval?: number): Promise<unknown>;
}

/**
 * Makes a celery-node Client or Worker use the ResultBackend. A worker's
 * results are stored where Python Celery reads them; a client's
 * `AsyncResult.get(timeout)` (from `sendTask`, `createTask(…).applyAsync`,
 * `delay` or `asyncResult(id)`) waits with push wake-ups. Returns the app.
 *
 * ```ts
 * const client = useResultBackend(celery.createClient('amqp://…', 'unused://'), new ResultBackend(ds, { codec: 'celery' }));
 * const sum = await client.createTask('tasks.add').applyAsync([1, 2]).get(10_000);
 * ```
 */
export function useResultBackend<A extends object>(app: A, backend: ResultBackend | CeleryNodeBackend, options: CeleryNodeBackendOptions = {}): A {
  const adapter = backend instanceof CeleryNodeBackend ? backend : new CeleryNodeBackend(backend, options);
  const target = app as A & CeleryNodeApp;
  // celery-node's Base reads `_backend` lazily and makes one from the backend URL only when it is unset.
  target._backend = adapter;
  const pushed = (result: CeleryNodeAsyncResult): CeleryNodeAsyncResult => {
    result.get = (timeout?: number) => adapter.get(result.taskId, timeout);
    return result;
  };
  if (typeof target.sendTask === 'function') {
    const send = target.sendTask.bind(target) as (...args: unknown[]) => CeleryNodeAsyncResult;
    target.sendTask = ((...args: unknown[]) => pushed(send(...args))) as CeleryNodeApp['sendTask'];
  }
  if (typeof target.asyncResult === 'function') {
    const make = target.asyncResult.bind(target);
    target.asyncResult = (taskId: string) => pushed(make(taskId));
  }
  return app;
}
