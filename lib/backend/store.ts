/**
 * The one small shape between the result store's API (ResultBackend, the same
 * on every database) and the statements that differ per database
 * (lib/dialects/postgres/store.ts, lib/dialects/mysql/store.ts).
 */
import type { Client } from 'pg';
import type { SqlQuery } from '../query';

/** A task row as every store returns it: dates as UTC instants, encoded columns as bytes. */
export interface TaskRow {
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
 * What a wait needs of a task's row to resolve: its state, and its result or
 * error. Waits read only these columns: a wake-up does not pay for the
 * columns a wait never returns (dates to parse, args to decode).
 */
export type OutcomeRow = Pick<TaskRow, 'task_id' | 'status' | 'result' | 'traceback'>;

export interface GroupRow {
  taskset_id: string;
  result: Buffer | null;
  date_done: Date | null;
}

/** One store's values, validated and encoded. */
export interface StoreParams {
  taskId: string;
  status: string;
  result: Buffer | null;
  traceback: string | null;
  name: string | null;
  args: Buffer | null;
  kwargs: Buffer | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
  /** Columns a TaskMeta subclass adds: quoted column name to value. */
  extra: readonly (readonly [string, unknown])[];
}

export interface CleanupCounts {
  tasks: number;
  unfinishedTasks: number;
  groups: number;
}

/** How a store sends statements: with the backend's retry policy for transient errors. */
export interface StatementRunner {
  /** Resolves to the rows (or, for a MySQL write, the OK packet). */
  query<T = Record<string, unknown>>(operation: string, q: SqlQuery): Promise<T[]>;
  /** Resolves to the number of rows the statement changed. */
  affected(operation: string, q: SqlQuery): Promise<number>;
  /** Runs the statement again and again until a run changes fewer than `batch` rows; resolves to the total. */
  drain(operation: string, next: () => SqlQuery, batch: number): Promise<number>;
  /** Runs a step of several statements that is safe to run again (a CREATE … IF NOT EXISTS under the lock), with the same retry policy. */
  retry<T>(operation: string, step: () => Promise<T>): Promise<T>;
}

/** How waits are woken where the database can push (PostgreSQL's LISTEN/NOTIFY). */
export interface PushWakeups {
  connect(): Promise<Client>;
  channel(): string;
  /** False when the probe was not sent: the NOTIFY queue is over its limit. */
  notify(payload: string): Promise<boolean>;
  interests: {
    register(client: Client, taskIds: readonly string[]): Promise<void>;
    unregister(client: Client, taskIds: readonly string[]): Promise<void>;
    purge(client: Client): Promise<void>;
  };
}

/** The statements of the result store on one database. Table names resolve lazily: the DataSource may initialize later. */
export interface ResultStore {
  /** The columns a TaskMeta subclass adds, quoted, by property name. */
  extraColumns(): ReadonlyMap<string, string>;
  /** The most bytes an encoded result, args or kwargs column takes (MySQL's BLOB: 65,535). */
  payloadLimit(): number;
  /**
   * True while the last read found the task or group table missing (a fresh
   * database that no worker has written to yet): reads then answer as for
   * tasks nobody stored (PENDING), and waits poll until the tables appear.
   */
  tablesMissing(): boolean;
  /** True when the write was applied, false when a stored ready state kept it out. */
  store(params: StoreParams): Promise<boolean>;
  readTask(taskId: string): Promise<TaskRow | undefined>;
  /** The outcome columns of these tasks, in one query (a few on MySQL): what waits and joins read. */
  readOutcomes(taskIds: readonly string[]): Promise<OutcomeRow[]>;
  saveGroup(groupId: string, bytes: Buffer): Promise<void>;
  readGroup(groupId: string): Promise<GroupRow | undefined>;
  deleteGroup(groupId: string): Promise<boolean>;
  deleteTask(taskId: string): Promise<boolean>;
  cleanup(olderThanMs: number, unfinishedOlderThanMs: number, batch: number): Promise<CleanupCounts>;
  /** Push wake-ups, or null where waits poll. */
  readonly push: PushWakeups | null;
}

/** The statements of one cleanup, for {@link cleanupInBatches}. */
export interface CleanupSteps {
  expiredTasks(): SqlQuery;
  expiredGroups(): SqlQuery;
  /** Makes the package's own first-seen table, once. */
  ensureFirstSeen(): Promise<void>;
  abandonedTasks(): SqlQuery;
  forgetFirstSeen: SqlQuery;
  recordFirstSeen(): SqlQuery;
}

/**
 * The cleanup every store runs, in this order: expired ready rows, expired
 * groups, unfinished rows whose first-seen time is past the horizon, then the
 * first-seen times of tasks that finished or went, then first-seen times for
 * the unfinished rows not seen before. Each step in batches.
 */
export async function cleanupInBatches(run: StatementRunner, batch: number, steps: CleanupSteps): Promise<CleanupCounts> {
  const tasks = await run.drain('clean up tasks', steps.expiredTasks, batch);
  const groups = await run.drain('clean up groups', steps.expiredGroups, batch);
  await steps.ensureFirstSeen();
  const unfinishedTasks = await run.drain('clean up abandoned tasks', steps.abandonedTasks, batch);
  await run.affected('forget first-seen times', steps.forgetFirstSeen);
  await run.drain('record first-seen times', steps.recordFirstSeen, batch);
  return { tasks, unfinishedTasks, groups };
}
