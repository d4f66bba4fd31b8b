import type { DataSource } from 'typeorm';
import { BackendClosedError, DecodeLocation, GroupNotFoundError, InvalidArgumentError, InvalidOptionError, ResultBackendError, ResultDecodeError, TaskFailedError, TaskRevokedError, WaitTimeoutError } from '../errors';
import { dialectOf } from '../dialects';
import { ResolvedResultBackendOptions, ResultBackendOptions, describeValue, resolveResultBackendOptions } from '../options';
import type { SqlQuery } from '../query';
import { driverPool, poolQuery } from '../dialects/postgres/pool-query';
import { withRetry } from './retry';
import { loginRole } from './privileges';
import { ResultWaiter } from './result-waiter';
import { MySqlStore } from '../dialects/mysql/store';
import { PostgresStore } from '../dialects/postgres/store';
import { MariaDbTaskMeta, MariaDbTaskSetMeta, MySqlTaskMeta, MySqlTaskSetMeta } from '../../entities/mysql-task-meta';
import { TaskState } from '../celery/states';
import type { OutcomeRow, ResultStore, StatementRunner, StoreParams, TaskRow } from './store';
import { GroupEntityClass, TaskEntityClass, resolveEntities } from './tables';
import { MAX_ID_LENGTH, checkPayloadSize, validateOptionalText, validateRetries, validateState, validateTaskId } from './validate';

/** A task's stored state, as Celery's `AsyncResult` would report it. `T` is the result type you expect; nothing checks it at run time. */
export interface TaskResult<T = unknown> {
  taskId: string;
  status: string;
  /** The decoded result; for FAILURE, the stored error as `{ exc_type, exc_message, exc_module }`. */
  result: T | null;
  /** When the task reached a ready state (UTC). */
  dateDone: Date | null;
  traceback: string | null;
  name: string | null;
  args: unknown;
  kwargs: unknown;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

/** The extended fields Celery stores with `result_extended`, plus columns a TaskMeta subclass adds. */
export interface StoreMeta {
  traceback?: string | null;
  name?: string | null;
  args?: unknown;
  kwargs?: unknown;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  /** Values for columns your TaskMeta subclass adds, by property name. */
  extra?: Record<string, unknown>;
}

/** What a store did. `applied: false` means a ready state was already stored and this non-ready write was dropped. */
export interface StoreOutcome {
  applied: boolean;
}

export interface WaitOptions {
  /** Give up after this long with a WaitTimeoutError. @defaultValue no limit */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Reject with TaskFailedError / TaskRevokedError / ResultDecodeError (true), or resolve to the stored
   * error, or in a join to a member's ResultDecodeError in its place (false). @defaultValue true
   */
  propagate?: boolean;
}

/** A saved group: its id and its member task ids, in order. */
export interface GroupMeta {
  groupId: string;
  taskIds: string[];
  dateDone: Date | null;
}

export interface CleanupOptions {
  /** Remove ready results finished longer ago than this. @defaultValue the backend's expiresMs */
  olderThanMs?: number;
  /** Remove rows still unfinished this long after cleanup first saw them. @defaultValue the backend's unfinishedExpiresMs */
  unfinishedOlderThanMs?: number;
}

export interface CleanupOutcome {
  tasks: number;
  unfinishedTasks: number;
  groups: number;
}

/**
 * Stores, reads, waits for, groups, forgets and expires task results in
 * Celery's tables, safely under concurrency. Every write is one statement.
 */
export class ResultBackend {
  private readonly options: ResolvedResultBackendOptions;
  /** The statements of this database: PostgreSQL's, or MySQL's and MariaDB's. */
  private readonly store: ResultStore;
  private readonly waiter: ResultWaiter<OutcomeRow>;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    options: ResultBackendOptions<TaskEntityClass, GroupEntityClass> = {},
  ) {
    const dialect = dialectOf(dataSource, 'backend');
    this.options = resolveResultBackendOptions(options);
    const { task, group } = resolveEntities(options.entities, defaultEntities(dataSource.options.type));
    const { logger, listen, listenConnection } = this.options;
    if (dialect === 'mysql' && listenConnection !== undefined) {
      throw new InvalidOptionError(
        `Option listenConnection was given for a ${String(dataSource.options.type)} DataSource; it is the connection PostgreSQL's LISTEN runs on, ` +
          'and MySQL has no LISTEN/NOTIFY: waits there poll every pollIntervalMs. Leave it out, and tune pollIntervalMs instead.',
      );
    }
    const run = this.statementRunner();
    this.store = dialect === 'mysql' ? new MySqlStore(dataSource, task, group, run, logger) : new PostgresStore(dataSource, task, group, run, { listen, listenConnection, logger });
    // Where the database cannot push (MySQL), or listen is off, waits poll, batched, at pollIntervalMs.
    const push = this.store.push;
    this.waiter = new ResultWaiter<OutcomeRow>({
      fetch: (ids) => this.store.readOutcomes(ids),
      connect: push ? () => push.connect() : null,
      channel: () => push?.channel() ?? '',
      intervalMs: push ? this.options.recheckIntervalMs : this.options.pollIntervalMs,
      probeTimeoutMs: this.options.listenProbeTimeoutMs,
      pollIntervalMs: this.options.pollIntervalMs,
      notify: async (payload) => (await push?.notify(payload)) === true,
      tablesMissing: () => this.store.tablesMissing(),
      logger,
      interests: push?.interests,
    });
  }

  /** Stores a task's state and result. Concurrent stores of one id leave one row; a ready state is never overwritten by a non-ready one. */
  async storeResult(taskId: string, result: unknown, state: string, meta: StoreMeta = {}): Promise<StoreOutcome> {
    return { applied: await this.store.store(this.storeParams(taskId, result, state, meta)) };
  }

  async markAsStarted(taskId: string, meta: Record<string, unknown> | null = null, extended?: StoreMeta): Promise<StoreOutcome> {
    return this.storeResult(taskId, meta, TaskState.STARTED, extended);
  }

  async markAsDone(taskId: string, result: unknown, extended?: StoreMeta): Promise<StoreOutcome> {
    return this.storeResult(taskId, result, TaskState.SUCCESS, extended);
  }

  /** Stores the error Celery's way, `{ exc_type, exc_message, exc_module }`, with the stack as traceback unless one is given. */
  async markAsFailure(taskId: string, error: unknown, traceback?: string, extended?: StoreMeta): Promise<StoreOutcome> {
    return this.storeResult(taskId, errorToCelery(error), TaskState.FAILURE, withTraceback(error, traceback, extended));
  }

  async markAsRetry(taskId: string, error: unknown, traceback?: string, extended?: StoreMeta): Promise<StoreOutcome> {
    return this.storeResult(taskId, errorToCelery(error), TaskState.RETRY, withTraceback(error, traceback, extended));
  }

  async markAsRevoked(taskId: string, reason = 'revoked', extended?: StoreMeta): Promise<StoreOutcome> {
    return this.storeResult(taskId, { exc_type: 'TaskRevokedError', exc_message: [reason], exc_module: 'celery.exceptions' }, TaskState.REVOKED, extended);
  }

  /** A task's stored state. An unknown id reads as PENDING with everything else null, as in Celery. */
  async getTaskMeta<T = unknown>(taskId: string): Promise<TaskResult<T>> {
    validateTaskId(taskId);
    const row = await this.store.readTask(taskId);
    return (row ? this.toResult(row) : pending(taskId)) as TaskResult<T>;
  }

  /**
   * Resolves to the task's result once it is ready. Wakes on NOTIFY, not on a poll.
   * `T` is the result type you expect; nothing checks it at run time.
   */
  async waitForResult<T = unknown>(taskId: string, options: WaitOptions = {}): Promise<T> {
    validateTaskId(taskId);
    const rows = await this.waiter.wait([taskId], validateTimeout(options.timeoutMs), options.signal);
    return this.valueOf(rows.get(taskId)!, options.propagate ?? true) as T;
  }

  /** Saves a group's member task ids, so any process can join it later. Saving the same id again replaces it. */
  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    validateTaskId(groupId, 'group id');
    if (!Array.isArray(taskIds)) throw new InvalidArgumentError(`taskIds is ${describeValue(taskIds)}; it must be an array of task ids. Pass the ids of the group's tasks, in order.`);
    taskIds.forEach((id) => validateTaskId(id));
    const bytes = checkPayloadSize('group', this.options.codec.encodeGroup(groupId, taskIds), this.payloadLimit());
    await this.store.saveGroup(groupId, bytes!);
  }

  async restoreGroup(groupId: string): Promise<GroupMeta | null> {
    validateTaskId(groupId, 'group id');
    const row = await this.store.readGroup(groupId);
    if (!row) return null;
    const taskIds = row.result ? this.decode(() => this.options.codec.decodeGroup(row.result!), { kind: 'group', id: groupId, column: 'result' }) : [];
    return { groupId: row.taskset_id, taskIds, dateDone: row.date_done };
  }

  async deleteGroup(groupId: string): Promise<boolean> {
    validateTaskId(groupId, 'group id');
    return this.store.deleteGroup(groupId);
  }

  /** Every member's result, in task order, once all are ready: one query for all, then notifications for the missing ones. */
  async joinGroup<T = unknown>(groupId: string, options: WaitOptions = {}): Promise<T[]> {
    const timeoutMs = validateTimeout(options.timeoutMs);
    const started = performance.now();
    let group = await this.restoreGroup(groupId);
    if (!group && this.store.tablesMissing()) group = await this.groupOnceSaved(groupId, timeoutMs, options.signal);
    if (!group) throw new GroupNotFoundError(groupId);
    if (group.taskIds.length === 0) return [];
    const left = timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - (performance.now() - started));
    const rows = await this.waiter.wait(group.taskIds, left, options.signal);
    const propagate = options.propagate ?? true;
    return group.taskIds.map((id) => {
      try {
        return this.valueOf(rows.get(id)!, propagate) as T;
      } catch (error) {
        // As Celery's join(propagate=False) returns a failed member's exception in its place,
        // a member whose row cannot be decoded gives its ResultDecodeError; the others their values.
        if (!propagate && error instanceof ResultDecodeError) return error as T;
        throw error;
      }
    });
  }

  /**
   * On a fresh database (no tables yet) a group cannot have been saved, but
   * it is about to be: the client that sent it saves it once the tables
   * exist. So re-read every `pollIntervalMs` until it is there, within the
   * join's timeout. (With the tables there, a missing group is GroupNotFoundError at once, as before.)
   */
  private async groupOnceSaved(groupId: string, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<GroupMeta> {
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      if (this.closed) throw new BackendClosedError();
      if (performance.now() >= deadline) throw new WaitTimeoutError([groupId], timeoutMs!);
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.options.pollIntervalMs, deadline - performance.now())));
      const group = await this.restoreGroup(groupId);
      if (group) return group;
    }
  }

  /** Removes a task's row. Resolves to whether there was one. */
  async forget(taskId: string): Promise<boolean> {
    validateTaskId(taskId);
    return this.store.deleteTask(taskId);
  }

  /**
   * Removes expired ready results and groups, and unfinished rows abandoned
   * past their horizon, in batches so that no statement locks a big table for
   * long. Celery's columns are left as Celery reads them: the age of an
   * unfinished row is kept in the package's own `<task table>_first_seen`
   * table (created here on first use, under the schema lock), so Celery's
   * backend_cleanup never deletes a running task because of this one.
   */
  async cleanup(options: CleanupOptions = {}): Promise<CleanupOutcome> {
    const olderThan = validateTimeout(options.olderThanMs, 'olderThanMs') ?? this.options.expiresMs;
    const unfinishedOlderThan = validateTimeout(options.unfinishedOlderThanMs, 'unfinishedOlderThanMs') ?? this.options.unfinishedExpiresMs;
    const removed = await this.store.cleanup(olderThan, unfinishedOlderThan, this.options.cleanupBatchSize);
    this.options.logger.info('cleanup done', { ...removed });
    return removed;
  }

  /** Stops the listener and rejects pending waits with BackendClosedError. The DataSource stays open. */
  async close(): Promise<void> {
    this.closed = true;
    await this.waiter.close();
  }

  /** The column type caps maxPayloadBytes where it holds less (MySQL's BLOB). */
  private payloadLimit(): number {
    return Math.min(this.options.maxPayloadBytes, this.store.payloadLimit());
  }

  private storeParams(taskId: string, result: unknown, state: string, meta: StoreMeta): StoreParams {
    validateTaskId(taskId);
    validateState(state, this.options.customStates);
    if (meta === null || typeof meta !== 'object') throw new InvalidArgumentError(`meta is ${describeValue(meta)}; it must be an object of extended fields. Pass an object, or leave it out.`);
    const { codec } = this.options;
    const limit = this.payloadLimit();
    const extra = Object.entries(meta.extra ?? {}).map(([property, value]) => {
      const extraColumns = this.store.extraColumns();
      const column = extraColumns.get(property);
      if (!column) {
        throw new InvalidArgumentError(
          `extra.${property} names no column of the task entity; only columns a TaskMeta subclass adds can be set here. ` +
            `Add the column to your entity, or remove the field. Known: ${[...extraColumns.keys()].join(', ') || 'none'}.`,
        );
      }
      return [column, value] as const;
    });
    return {
      taskId,
      status: state,
      traceback: validateOptionalText('traceback', meta.traceback),
      name: validateOptionalText('name', meta.name, MAX_ID_LENGTH),
      worker: validateOptionalText('worker', meta.worker, MAX_ID_LENGTH),
      queue: validateOptionalText('queue', meta.queue, MAX_ID_LENGTH),
      retries: validateRetries(meta.retries),
      // Celery stores a None result as SQL NULL.
      result: checkPayloadSize('result', result === null || result === undefined ? null : codec.encodeResult(result), limit),
      args: checkPayloadSize('args', meta.args === undefined ? null : codec.encodeArgs(meta.args), limit),
      kwargs: checkPayloadSize('kwargs', meta.kwargs === undefined ? null : codec.encodeArgs(meta.kwargs), limit),
      extra,
    };
  }

  private toResult(row: TaskRow): TaskResult {
    const { codec } = this.options;
    const at = (column: DecodeLocation['column']): DecodeLocation => ({ kind: 'task', id: row.task_id, column });
    return {
      taskId: row.task_id,
      status: row.status ?? TaskState.PENDING,
      result: this.resultOf(row),
      dateDone: row.date_done,
      traceback: row.traceback,
      name: row.name,
      args: row.args ? this.decode(() => codec.decodeArgs(row.args!), at('args')) : null,
      kwargs: row.kwargs ? this.decode(() => codec.decodeArgs(row.kwargs!), at('kwargs')) : null,
      worker: row.worker,
      retries: row.retries,
      queue: row.queue,
    };
  }

  private resultOf(row: OutcomeRow): unknown {
    return row.result ? this.decode(() => this.options.codec.decodeResult(row.result!), { kind: 'task', id: row.task_id, column: 'result' }) : null;
  }

  /** What a wait or a join gives for a ready task: its value, or its failure thrown (unless propagate is false). */
  private valueOf(row: OutcomeRow, propagate: boolean): unknown {
    const result = this.resultOf(row);
    if (!propagate || row.status === TaskState.SUCCESS) return result;
    if (row.status === TaskState.REVOKED) throw new TaskRevokedError(row.task_id);
    throw new TaskFailedError(row.task_id, celeryToError(result), row.traceback);
  }

  /**
   * Decodes one stored column. Whatever goes wrong becomes a ResultDecodeError
   * that names the row and column, with the codec's own typed error
   * (UnsafePickleError, PickleDecodeError, …) as its cause: one bad row fails
   * alone, and the caller can tell which one it was.
   */
  private decode<T>(run: () => T, row: DecodeLocation): T {
    try {
      return run();
    } catch (error) {
      const what = `the ${row.column} of ${row.kind} ${row.id}`;
      const found = error instanceof Error ? error.message : String(error);
      const message =
        error instanceof ResultBackendError
          ? `${what} cannot be decoded, so this row cannot be read: ${found}`
          : `The stored bytes of ${what} are neither JSON nor a pickle that the "${this.options.codec.name}" codec reads (${found}). ` +
            'Another writer used a format of its own; read the row with a codec that understands it.';
      throw new ResultDecodeError(message.charAt(0).toUpperCase() + message.slice(1), { cause: error, row });
    }
  }

  /**
   * Statements with the backend's retry policy: every one is a single atomic statement, so sending it again is safe.
   * On PostgreSQL they go straight to the driver's pool, logged through the DataSource's logger (see pool-query.ts).
   */
  private statementRunner(): StatementRunner {
    const role = loginRole(this.dataSource);
    const retry = <T>(operation: string, fn: () => Promise<T>) => withRetry(operation, this.options.maxRetries, this.options.retryDelayMs, fn, role);
    // Looked up per statement (a cheap check): the pool exists only once the DataSource is initialized, and a new one after it is initialized again.
    const direct = () => (this.dataSource.isInitialized ? driverPool(this.dataSource) : null);
    const rows = async <T>(q: SqlQuery): Promise<T[]> => {
      const p = direct();
      return p ? ((await poolQuery(this.dataSource, p, q)).rows as T[]) : ((await this.dataSource.query(q.text, q.values)) as T[]);
    };
    const affected = (operation: string, q: SqlQuery) =>
      retry(operation, async () => {
        const p = direct();
        if (p) return (await poolQuery(this.dataSource, p, q)).rowCount ?? 0;
        const runner = this.dataSource.createQueryRunner();
        try {
          return (await runner.query(q.text, q.values, true)).affected ?? 0;
        } finally {
          await runner.release();
        }
      });
    return {
      query: <T>(operation: string, q: SqlQuery) => retry(operation, () => rows<T>(q)),
      affected,
      retry,
      drain: async (operation, next, batch) => {
        let total = 0;
        for (;;) {
          const n = await affected(operation, next());
          total += n;
          if (n < batch) return total;
        }
      },
    };
  }
}

/** The entities a backend uses when none are given: Celery's tables as Celery makes them on that database. */
function defaultEntities(type: unknown): { task: TaskEntityClass; group: GroupEntityClass } | undefined {
  if (type === 'mariadb') return { task: MariaDbTaskMeta as unknown as TaskEntityClass, group: MariaDbTaskSetMeta as unknown as GroupEntityClass };
  if (type === 'mysql') return { task: MySqlTaskMeta as unknown as TaskEntityClass, group: MySqlTaskSetMeta as unknown as GroupEntityClass };
  return undefined;
}

/** The given traceback, or else the error's own stack. */
function withTraceback(error: unknown, traceback: string | undefined, extended: StoreMeta | undefined): StoreMeta {
  return { ...extended, traceback: traceback ?? (error instanceof Error ? error.stack ?? null : null) };
}

function pending(taskId: string): TaskResult {
  return { taskId, status: TaskState.PENDING, result: null, dateDone: null, traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null };
}

function validateTimeout(value: unknown, name = 'timeoutMs'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${name} is ${describeValue(value)}; it must be a number of milliseconds from 0 up. Pass a non-negative number, or leave it out.`);
  }
  return value;
}

/** Python's builtins that JavaScript errors share a name with, so Celery rebuilds the same class. */
const PYTHON_BUILTIN_ERRORS = new Set(['Exception', 'TypeError', 'SyntaxError', 'ReferenceError', 'ValueError', 'KeyError', 'RuntimeError', 'TimeoutError']);

/** Celery's stored-error shape, from a JS error or from one already in that shape. */
export function errorToCelery(error: unknown): { exc_type: string; exc_message: unknown[]; exc_module: string | null } {
  if (error && typeof error === 'object' && typeof (error as { exc_type?: unknown }).exc_type === 'string') {
    const e = error as { exc_type: string; exc_message?: unknown; exc_module?: unknown };
    return { exc_type: e.exc_type, exc_message: Array.isArray(e.exc_message) ? e.exc_message : [e.exc_message ?? ''], exc_module: typeof e.exc_module === 'string' ? e.exc_module : null };
  }
  if (error instanceof Error) {
    const type = error.name === 'Error' ? 'Exception' : error.name;
    return { exc_type: type, exc_message: [error.message], exc_module: PYTHON_BUILTIN_ERRORS.has(type) ? 'builtins' : null };
  }
  return { exc_type: 'Exception', exc_message: [String(error)], exc_module: 'builtins' };
}

function celeryToError(result: unknown): { excType: string; excMessage: readonly unknown[]; excModule: string | null } {
  const e = (result ?? {}) as { exc_type?: unknown; exc_message?: unknown; exc_module?: unknown };
  const message = e.exc_message;
  return {
    excType: typeof e.exc_type === 'string' ? e.exc_type : 'Exception',
    excMessage: Array.isArray(message) ? message : message === undefined ? [] : [message],
    excModule: typeof e.exc_module === 'string' ? e.exc_module : null,
  };
}

