import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { connectDedicated } from '../connection';
import { DatabaseError, DecodeLocation, GroupNotFoundError, InvalidArgumentError, MissingTableError, ResultBackendError, ResultDecodeError, TaskFailedError, TaskRevokedError } from '../errors';
import { DialectName, dialectOf } from '../dialects';
import { ResolvedResultBackendOptions, ResultBackendOptions, SAFE_SYNCHRONIZER_DEFAULTS, describeValue, resolveResultBackendOptions } from '../options';
import { PgCode, findPgError } from '../dialects/postgres/codes';
import type { SqlQuery } from '../query';
import { ensureBackendTable, ensureSequences } from '../sync/sequences';
import { ensureWake, isWakeInstalled } from './wake';
import { purgeDeadInterestsSql, registerInterestSql, unregisterInterestSql } from './wake-sql';
import { withRetry } from './retry';
import { ResultWaiter } from './result-waiter';
import * as sql from './sql';
import * as mysql from '../dialects/mysql/backend-sql';
import { ResolvedMySqlTables, resolveMySqlTables } from '../dialects/mysql/tables';
import { MariaDbTaskMeta, MariaDbTaskSetMeta, MySqlTaskMeta, MySqlTaskSetMeta } from '../../entities/mysql-task-meta';
import { TaskState } from '../celery/states';
import { GroupEntityClass, ResolvedTables, TaskEntityClass, firstSeenTableName, resolveEntities, resolveTables } from './tables';
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

type WakeMode = 'trigger' | 'inline';

interface TaskRow {
  task_id: string;
  status: string | null;
  result: Buffer | null;
  date_done: Date | null;
  traceback: string | null;
  name: string | null;
  args: Buffer | null;
  kwargs: Buffer | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

/**
 * Stores, reads, waits for, groups, forgets and expires task results in
 * Celery's tables, safely under concurrency. Every write is one statement.
 */
export class ResultBackend {
  private readonly options: ResolvedResultBackendOptions;
  private readonly dialect: DialectName;
  private readonly taskEntity: TaskEntityClass;
  private readonly groupEntity: GroupEntityClass;
  private resolved: ResolvedTables | undefined;
  private resolvedMySql: ResolvedMySqlTables | undefined;
  private firstSeenReady = false;
  private wakeMode: Promise<WakeMode> | undefined;
  private readonly waiter: ResultWaiter<TaskRow>;

  constructor(
    private readonly dataSource: DataSource,
    options: ResultBackendOptions<TaskEntityClass, GroupEntityClass> = {},
  ) {
    this.dialect = dialectOf(dataSource, 'backend');
    this.options = resolveResultBackendOptions(options);
    ({ task: this.taskEntity, group: this.groupEntity } = resolveEntities(options.entities, defaultEntities(dataSource.options.type)));
    // MySQL has no LISTEN/NOTIFY: waits there poll, batched, at pollIntervalMs.
    const listen = this.options.listen && this.dialect === 'postgres';
    this.waiter = new ResultWaiter<TaskRow>({
      fetch: (ids) => this.readTasks(ids),
      connect: listen ? () => this.connectListener() : null,
      channel: () => this.tables.channel,
      intervalMs: listen ? this.options.recheckIntervalMs : this.options.pollIntervalMs,
      probeTimeoutMs: this.options.listenProbeTimeoutMs,
      pollIntervalMs: this.options.pollIntervalMs,
      notify: (payload) => this.query('probe the LISTEN connection', sql.notifySql(this.tables.channel, payload)),
      logger: this.options.logger,
      interests: {
        register: async (client, ids) => {
          if ((await this.wake()) === 'trigger') await client.query(registerInterestSql(this.tables.wake, ids));
        },
        unregister: async (client, ids) => {
          if ((await this.wake()) === 'trigger') await client.query(unregisterInterestSql(this.tables.wake, ids));
        },
        purge: async (client) => {
          if ((await this.wake()) === 'trigger') await client.query(purgeDeadInterestsSql(this.tables.wake));
        },
      },
    });
  }

  /** Stores a task's state and result. Concurrent stores of one id leave one row; a ready state is never overwritten by a non-ready one. */
  async storeResult(taskId: string, result: unknown, state: string, meta: StoreMeta = {}): Promise<StoreOutcome> {
    const params = this.storeParams(taskId, result, state, meta);
    if (this.dialect === 'mysql') {
      const ok = (await this.query('store result', mysql.storeSql(this.mysqlTables, params))) as unknown as mysql.MySqlOkPacket;
      return { applied: mysql.storeApplied(ok) };
    }
    const inline = (await this.wake()) === 'inline';
    const rows = await this.write('store result', () => sql.storeSql(this.tables, params, inline));
    return { applied: rows.length > 0 };
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
    const [row] = this.dialect === 'mysql' ? (await this.query<MySqlTaskRow>('read task', mysql.selectTaskSql(this.mysqlTables, taskId))).map(fromMySql) : await this.query<TaskRow>('read task', sql.selectTaskSql(this.tables, taskId));
    return (row ? this.toResult(row) : pending(taskId)) as TaskResult<T>;
  }

  /**
   * Resolves to the task's result once it is ready. Wakes on NOTIFY, not on a poll.
   * `T` is the result type you expect; nothing checks it at run time.
   */
  async waitForResult<T = unknown>(taskId: string, options: WaitOptions = {}): Promise<T> {
    validateTaskId(taskId);
    const rows = await this.waiter.wait([taskId], validateTimeout(options.timeoutMs), options.signal);
    return this.valueOf(this.toResult(rows.get(taskId)!), options.propagate ?? true) as T;
  }

  /** Saves a group's member task ids, so any process can join it later. Saving the same id again replaces it. */
  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    validateTaskId(groupId, 'group id');
    if (!Array.isArray(taskIds)) throw new InvalidArgumentError(`taskIds is ${describeValue(taskIds)}; it must be an array of task ids. Pass the ids of the group's tasks, in order.`);
    taskIds.forEach((id) => validateTaskId(id));
    const bytes = checkPayloadSize('group', this.options.codec.encodeGroup(groupId, taskIds), this.payloadLimit());
    if (this.dialect === 'mysql') {
      await this.query('save group', mysql.saveGroupSql(this.mysqlTables, groupId, bytes!));
      return;
    }
    await this.write('save group', () => sql.saveGroupSql(this.tables, groupId, bytes!));
  }

  async restoreGroup(groupId: string): Promise<GroupMeta | null> {
    validateTaskId(groupId, 'group id');
    type GroupRow = { taskset_id: string; result: Buffer | null; date_done: Date | null };
    const [row] =
      this.dialect === 'mysql'
        ? (await this.query<Omit<GroupRow, 'date_done'> & { date_done: string | null }>('restore group', mysql.selectGroupSql(this.mysqlTables, groupId))).map((r) => ({ ...r, date_done: mysql.parseMySqlUtc(r.date_done) }))
        : await this.query<GroupRow>('restore group', sql.selectGroupSql(this.tables, groupId));
    if (!row) return null;
    const taskIds = row.result ? this.decode(() => this.options.codec.decodeGroup(row.result!), { kind: 'group', id: groupId, column: 'result' }) : [];
    return { groupId: row.taskset_id, taskIds, dateDone: row.date_done };
  }

  async deleteGroup(groupId: string): Promise<boolean> {
    validateTaskId(groupId, 'group id');
    return (await this.affected('delete group', this.dialect === 'mysql' ? mysql.deleteGroupSql(this.mysqlTables, groupId) : sql.deleteGroupSql(this.tables, groupId))) > 0;
  }

  /** Every member's result, in task order, once all are ready: one query for all, then notifications for the missing ones. */
  async joinGroup<T = unknown>(groupId: string, options: WaitOptions = {}): Promise<T[]> {
    const group = await this.restoreGroup(groupId);
    if (!group) throw new GroupNotFoundError(groupId);
    if (group.taskIds.length === 0) return [];
    const rows = await this.waiter.wait(group.taskIds, validateTimeout(options.timeoutMs), options.signal);
    const propagate = options.propagate ?? true;
    return group.taskIds.map((id) => {
      try {
        return this.valueOf(this.toResult(rows.get(id)!), propagate) as T;
      } catch (error) {
        // As Celery's join(propagate=False) returns a failed member's exception in its place,
        // a member whose row cannot be decoded gives its ResultDecodeError; the others their values.
        if (!propagate && error instanceof ResultDecodeError) return error as T;
        throw error;
      }
    });
  }

  /** Removes a task's row. Resolves to whether there was one. */
  async forget(taskId: string): Promise<boolean> {
    validateTaskId(taskId);
    return (await this.affected('forget task', this.dialect === 'mysql' ? mysql.deleteTaskSql(this.mysqlTables, taskId) : sql.deleteTaskSql(this.tables, taskId))) > 0;
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
    const batch = this.options.cleanupBatchSize;
    if (this.dialect === 'mysql') return this.cleanupMySql(olderThan, unfinishedOlderThan, batch);
    const t = this.tables;
    const tasks = await this.drain('clean up tasks', () => sql.deleteExpiredBatchSql(t.task, olderThan, batch, true), batch);
    const groups = await this.drain('clean up groups', () => sql.deleteExpiredBatchSql(t.group, olderThan, batch, false), batch);
    await this.ensureFirstSeenTable();
    const unfinishedTasks = await this.drain('clean up abandoned tasks', () => sql.deleteAbandonedBatchSql(t, unfinishedOlderThan, batch), batch);
    await this.affected('forget first-seen times', sql.forgetFirstSeenSql(t));
    await this.drain('record first-seen times', () => sql.recordFirstSeenBatchSql(t, batch), batch);
    this.options.logger.info('cleanup done', { tasks, unfinishedTasks, groups });
    return { tasks, unfinishedTasks, groups };
  }

  /** Stops the listener and rejects pending waits with BackendClosedError. The DataSource stays open. */
  async close(): Promise<void> {
    await this.waiter.close();
  }

  /** MySQL/MariaDB: the same steps in MySQL's statements. CREATE TABLE IF NOT EXISTS is safe to race there, so no lock. */
  private async cleanupMySql(olderThan: number, unfinishedOlderThan: number, batch: number): Promise<CleanupOutcome> {
    const t = this.mysqlTables;
    const tasks = await this.drain('clean up tasks', () => mysql.deleteExpiredBatchSql(t.task, olderThan, batch, true), batch);
    const groups = await this.drain('clean up groups', () => mysql.deleteExpiredBatchSql(t.group, olderThan, batch, false), batch);
    if (!this.firstSeenReady) {
      await this.query('create the first-seen table', { text: mysql.createFirstSeenSql(t), values: [] });
      this.firstSeenReady = true;
    }
    const unfinishedTasks = await this.drain('clean up abandoned tasks', () => mysql.deleteAbandonedBatchSql(t, unfinishedOlderThan, batch), batch);
    await this.affected('forget first-seen times', mysql.forgetFirstSeenSql(t));
    await this.drain('record first-seen times', () => mysql.recordFirstSeenBatchSql(t, batch), batch);
    this.options.logger.info('cleanup done', { tasks, unfinishedTasks, groups });
    return { tasks, unfinishedTasks, groups };
  }

  /** One read for any number of tasks (in chunks of a thousand ids on MySQL). */
  private async readTasks(ids: readonly string[]): Promise<TaskRow[]> {
    if (this.dialect !== 'mysql') return this.query<TaskRow>('read tasks', sql.selectTasksSql(this.tables, ids));
    const rows: TaskRow[] = [];
    for (const q of mysql.selectTasksSql(this.mysqlTables, ids)) rows.push(...(await this.query<MySqlTaskRow>('read tasks', q)).map(fromMySql));
    return rows;
  }

  /** BLOB holds 65,535 bytes: on MySQL the column type caps maxPayloadBytes, so a store fails typed before MySQL refuses or cuts it. */
  private payloadLimit(): number {
    const limit = this.options.maxPayloadBytes;
    return this.dialect === 'mysql' ? Math.min(limit, this.mysqlTables.resultLimit) : limit;
  }

  private get mysqlTables(): ResolvedMySqlTables {
    this.resolvedMySql ??= resolveMySqlTables(this.dataSource, this.taskEntity, this.groupEntity, firstSeenTableName);
    return this.resolvedMySql;
  }

  private get tables(): ResolvedTables {
    this.resolved ??= resolveTables(this.dataSource, this.taskEntity, this.groupEntity);
    return this.resolved;
  }

  private storeParams(taskId: string, result: unknown, state: string, meta: StoreMeta): sql.StoreParams {
    validateTaskId(taskId);
    validateState(state, this.options.customStates);
    if (meta === null || typeof meta !== 'object') throw new InvalidArgumentError(`meta is ${describeValue(meta)}; it must be an object of extended fields. Pass an object, or leave it out.`);
    const { codec } = this.options;
    const limit = this.payloadLimit();
    const extra = Object.entries(meta.extra ?? {}).map(([property, value]) => {
      const extraColumns = this.dialect === 'mysql' ? this.mysqlTables.extraColumns : this.tables.extraColumns;
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
      result: row.result ? this.decode(() => codec.decodeResult(row.result!), at('result')) : null,
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

  private valueOf(meta: TaskResult, propagate: boolean): unknown {
    if (!propagate || meta.status === TaskState.SUCCESS) return meta.result;
    if (meta.status === TaskState.REVOKED) throw new TaskRevokedError(meta.taskId);
    throw new TaskFailedError(meta.taskId, celeryToError(meta.result), meta.traceback);
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

  private async query<T = Record<string, unknown>>(operation: string, q: SqlQuery): Promise<T[]> {
    const { maxRetries, retryDelayMs } = this.options;
    return withRetry(operation, maxRetries, retryDelayMs, async () => (await this.dataSource.query(q.text, q.values)) as T[]);
  }

  /**
   * A write that draws an id. On tables made without SafeSynchronizer (plain
   * synchronize, schema:sync, a generated migration) the id sequences may be
   * missing; they are created once, under the schema lock, and the write is sent again.
   */
  private async write<T = Record<string, unknown>>(operation: string, q: () => SqlQuery): Promise<T[]> {
    try {
      return await this.query<T>(operation, q());
    } catch (error) {
      if (findPgError(error)?.code !== PgCode.UNDEFINED_TABLE) throw error;
      if (!(await ensureSequences(this.dataSource, this.tables.sequences, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs))) throw error;
      this.options.logger.info('created the missing id sequences', { sequences: this.tables.sequences.map((s) => `${s.schema}.${s.name}`) });
      return this.query<T>(operation, q());
    }
  }

  /**
   * How ready results wake waiters, found once: `"trigger"` when the task
   * table has the wake-up trigger (installed here, under the schema lock, on
   * tables the synchronizer did not make), so stores NOTIFY only for waited-for
   * tasks; `"inline"` when this role may not install it, so every ready store
   * NOTIFYs itself, as before. A missing task table is asked again next time.
   */
  private wake(): Promise<WakeMode> {
    this.wakeMode ??= this.findWakeMode().then(
      (mode) => {
        if (mode === undefined) this.wakeMode = undefined;
        return mode ?? 'inline';
      },
      (error: unknown) => {
        this.wakeMode = undefined;
        throw error;
      },
    );
    return this.wakeMode;
  }

  private async findWakeMode(): Promise<WakeMode | undefined> {
    const names = this.tables.wake;
    if (await isWakeInstalled(this.dataSource, names)) return 'trigger';
    try {
      await ensureWake(this.dataSource, names, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs);
      this.options.logger.info('installed the wake-up trigger on the task table', { table: names.task });
      return 'trigger';
    } catch (error) {
      if (findPgError(error)?.code === PgCode.UNDEFINED_TABLE) return undefined;
      if (!(error instanceof MissingTableError)) throw error;
      this.options.logger.warn('this role may not install the wake-up trigger: every ready store will NOTIFY, and waits on results written by Celery itself wake on the periodic re-read', {
        table: names.task,
        statements: error.statement,
      });
      return 'inline';
    }
  }

  private async ensureFirstSeenTable(): Promise<void> {
    if (this.firstSeenReady) return;
    await ensureBackendTable(this.dataSource, sql.createFirstSeenSql(this.tables), SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs);
    this.firstSeenReady = true;
  }

  private async affected(operation: string, q: SqlQuery): Promise<number> {
    const { maxRetries, retryDelayMs } = this.options;
    return withRetry(operation, maxRetries, retryDelayMs, async () => {
      const runner = this.dataSource.createQueryRunner();
      try {
        return (await runner.query(q.text, q.values, true)).affected ?? 0;
      } finally {
        await runner.release();
      }
    });
  }

  private async drain(operation: string, next: () => SqlQuery, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.affected(operation, next());
      total += n;
      if (n < batch) return total;
    }
  }

  /**
   * A connection of its own, outside TypeORM's pool, since LISTEN must stay on
   * one session for good. Its socket does not keep the process alive: an app
   * that destroys its DataSource and forgets `close()` still exits.
   */
  private async connectListener(): Promise<Client> {
    let client: Client;
    try {
      client = await connectDedicated(this.dataSource, 'Waiting for results (the LISTEN connection)', this.options.logger, this.options.listenConnection);
    } catch (error) {
      if (error instanceof ResultBackendError) throw error;
      throw new DatabaseError('open the LISTEN connection', findPgError(error)?.code, 1, error);
    }
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    return client;
  }
}

/** A task row as MySQL's statements read it: date_done as UTC text. */
type MySqlTaskRow = Omit<TaskRow, 'date_done'> & { date_done: string | null };

function fromMySql(row: MySqlTaskRow): TaskRow {
  return { ...row, date_done: mysql.parseMySqlUtc(row.date_done) };
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

