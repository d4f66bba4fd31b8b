/**
 * Every statement the ResultBackend sends, as pure functions of the table
 * names, so the SQL is unit-tested and read in one place. Dates are compared
 * and written as naive UTC (`now() AT TIME ZONE 'UTC'`), as Celery writes
 * them, whatever the session's TimeZone.
 */
import { READY_STATES } from '../../celery/states';
import { SqlQuery, quoteIdent } from '../../query';
import { NOTIFY_QUEUE_LIMIT, createFirstSeenTableSql } from './wake-sql';
import type { StoreParams } from '../../backend/store';

export type { StoreParams };

export interface BackendTables {
  /** Quoted, schema-qualified table names. */
  task: string;
  group: string;
  /** Schema-qualified sequence names, as text for `::regclass`. */
  taskSequence: string;
  groupSequence: string;
  /** The LISTEN/NOTIFY channel for ready results of the task table. */
  channel: string;
  /** The package's own table of when cleanup first saw each unfinished task, beside the task table. */
  firstSeen: string;
}

const UTC_NOW = "(pg_catalog.now() AT TIME ZONE 'UTC')";

/** Now, in naive UTC (Celery's date_done), less $1 milliseconds. */
const CUTOFF = `(${UTC_NOW} OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1::float8 OPERATOR(pg_catalog./) 1000::float8))`;

const TASK_COLUMNS = 'task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue';
const TASK_SELECT =
  "task_id, status, result, (date_done AT TIME ZONE 'UTC') AS date_done, traceback, name, args, kwargs, worker, retries, queue";
/** The columns of an OutcomeRow. */
const OUTCOME_SELECT = 'task_id, status, result, traceback';

/**
 * One statement: an upsert on the task_id key (so concurrent stores of one id
 * never collide), the id drawn by an explicit nextval (so Celery-created
 * tables, which have no column default, work), and a ready state never
 * overwritten by a non-ready one. Extended columns keep their stored value
 * when a later write omits them.
 *
 * Wake-ups: where the task table has the wake-up trigger, the statement sends
 * no NOTIFY (the trigger does, and only for a waited-for task). Where it does
 * not (`notifyInline`), the statement NOTIFYs every ready result itself.
 * Returns one row when the write was applied, none when precedence refused it.
 */
export function storeSql(t: BackendTables, p: StoreParams, notifyInline: boolean): SqlQuery {
  return storeRowsSql(t, [p], notifyInline);
}

/**
 * {@link storeSql} for several tasks in one statement (one commit): what
 * concurrent stores from one process are coalesced into (see store-batcher.ts).
 * The task ids must be distinct (ON CONFLICT DO UPDATE may touch a row only
 * once per statement) and every row must carry the same extra columns.
 * Returns one row, with its task_id, per write that was applied.
 */
export function storeRowsSql(t: BackendTables, rows: readonly StoreParams[], notifyInline: boolean): SqlQuery {
  const values: unknown[] = [t.taskSequence, READY_STATES];
  const ready = (expr: string) => `${expr}::text OPERATOR(pg_catalog.=) ANY ($2::text[])`;
  const notify = notifyInline
    ? `CASE WHEN ${ready('status')} AND pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) ${NOTIFY_QUEUE_LIMIT} THEN pg_catalog.pg_notify($${values.push(t.channel)}::text, task_id::text) END`
    : 'NULL';
  const extraColumns = (rows[0]?.extra ?? []).map(([column]) => column);
  const tuples = rows.map((p) => {
    // Placeholders numbered in column order: each row's ten values, then its extra columns.
    const [taskId, status, result, traceback, name, args, kwargs, worker, retries, queue, ...extras] = [
      p.taskId, p.status, p.result, p.traceback, p.name, p.args, p.kwargs, p.worker, p.retries, p.queue, ...p.extra.map(([, value]) => value),
    ].map((value) => `$${values.push(value)}`);
    return (
      `(pg_catalog.nextval($1::text::regclass), ${taskId}::varchar, ${status}::varchar, ${result}::bytea, CASE WHEN ${ready(status)} THEN ${UTC_NOW} END, ` +
      `${traceback}::text, ${name}::varchar, ${args}::bytea, ${kwargs}::bytea, ${worker}::varchar, ${retries}::int, ${queue}::varchar${extras.map((x) => `, ${x}`).join('')})`
    );
  });
  const extraSets = extraColumns.map((c) => `, ${c} = EXCLUDED.${c}`).join('');
  const text = `WITH stored AS (
  INSERT INTO ${t.task} AS m (id, ${TASK_COLUMNS}${extraColumns.map((c) => `, ${c}`).join('')})
  VALUES ${tuples.join(',\n    ')}
  ON CONFLICT (task_id) DO UPDATE SET
    status = EXCLUDED.status, result = EXCLUDED.result, date_done = EXCLUDED.date_done, traceback = EXCLUDED.traceback,
    name = COALESCE(EXCLUDED.name, m.name), args = COALESCE(EXCLUDED.args, m.args), kwargs = COALESCE(EXCLUDED.kwargs, m.kwargs),
    worker = COALESCE(EXCLUDED.worker, m.worker), retries = COALESCE(EXCLUDED.retries, m.retries), queue = COALESCE(EXCLUDED.queue, m.queue)${extraSets}
  WHERE m.status IS NULL OR NOT (${ready('m.status')}) OR ${ready('EXCLUDED.status')}
  RETURNING task_id, status
)
SELECT task_id, status, ${notify} AS notified FROM stored`;
  return { text, values };
}

export function selectTaskSql(t: BackendTables, taskId: string): SqlQuery {
  return { text: `SELECT ${TASK_SELECT} FROM ${t.task} WHERE task_id::text OPERATOR(pg_catalog.=) $1::text`, values: [taskId] };
}

/** One query for any number of tasks' outcomes (see OutcomeRow): what group joins and batched wake-ups use. */
export function selectOutcomesSql(t: BackendTables, taskIds: readonly string[]): SqlQuery {
  return { text: `SELECT ${OUTCOME_SELECT} FROM ${t.task} WHERE task_id::text OPERATOR(pg_catalog.=) ANY ($1::text[])`, values: [taskIds] };
}

export function deleteTaskSql(t: BackendTables, taskId: string): SqlQuery {
  return { text: `DELETE FROM ${t.task} WHERE task_id::text OPERATOR(pg_catalog.=) $1::text`, values: [taskId] };
}

export function saveGroupSql(t: BackendTables, groupId: string, result: Buffer): SqlQuery {
  return {
    text: `INSERT INTO ${t.group} AS g (id, taskset_id, result, date_done) VALUES (pg_catalog.nextval($1::text::regclass), $2, $3, ${UTC_NOW})
ON CONFLICT (taskset_id) DO UPDATE SET result = EXCLUDED.result, date_done = EXCLUDED.date_done`,
    values: [t.groupSequence, groupId, result],
  };
}

export function selectGroupSql(t: BackendTables, groupId: string): SqlQuery {
  return { text: `SELECT taskset_id, result, (date_done AT TIME ZONE 'UTC') AS date_done FROM ${t.group} WHERE taskset_id::text OPERATOR(pg_catalog.=) $1::text`, values: [groupId] };
}

export function deleteGroupSql(t: BackendTables, groupId: string): SqlQuery {
  return { text: `DELETE FROM ${t.group} WHERE taskset_id::text OPERATOR(pg_catalog.=) $1::text`, values: [groupId] };
}

/**
 * Deletes up to `batch` rows finished before the cutoff. Small batches keep
 * each statement's locks short on a big table; SKIP LOCKED lets two cleaners
 * run at once without waiting on each other. Uses the date_done index.
 */
export function deleteExpiredBatchSql(table: string, olderThanMs: number, batch: number, readyOnly: boolean): SqlQuery {
  const status = readyOnly ? ' AND status::text OPERATOR(pg_catalog.=) ANY ($3::text[])' : '';
  return {
    text: `DELETE FROM ${table} WHERE id IN (
  SELECT id FROM ${table} WHERE date_done OPERATOR(pg_catalog.<) ${CUTOFF}${status}
  LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    values: readyOnly ? [olderThanMs, batch, READY_STATES] : [olderThanMs, batch],
  };
}

/**
 * Unfinished rows carry no age in Celery's schema (date_done is NULL), and
 * stamping date_done would make Celery's own backend_cleanup, which deletes
 * every row whose date_done is old whatever its state, delete running tasks.
 * So their age lives in a table of the package's own, beside the task table:
 * when cleanup first saw each one unfinished.
 */
export function createFirstSeenSql(t: BackendTables): string {
  return createFirstSeenTableSql(t.firstSeen);
}

/** Ages of unfinished rows not recorded yet start now; LIMIT keeps each statement short on a big backlog. */
export function recordFirstSeenBatchSql(t: BackendTables, batch: number): SqlQuery {
  return {
    text: `INSERT INTO ${t.firstSeen} (task_id, first_seen)
SELECT m.task_id, ${UTC_NOW} FROM ${t.task} m
WHERE m.task_id IS NOT NULL AND (m.status IS NULL OR NOT (m.status::text OPERATOR(pg_catalog.=) ANY ($2::text[])))
  AND NOT EXISTS (SELECT 1 FROM ${t.firstSeen} s WHERE s.task_id::text OPERATOR(pg_catalog.=) m.task_id::text)
LIMIT $1
ON CONFLICT (task_id) DO NOTHING`,
    values: [batch, READY_STATES],
  };
}

/** Forgets the ages of tasks that finished or were removed since. */
export function forgetFirstSeenSql(t: BackendTables): SqlQuery {
  return {
    text: `DELETE FROM ${t.firstSeen} s WHERE NOT EXISTS (
  SELECT 1 FROM ${t.task} m WHERE m.task_id::text OPERATOR(pg_catalog.=) s.task_id::text AND (m.status IS NULL OR NOT (m.status::text OPERATOR(pg_catalog.=) ANY ($1::text[]))))`,
    values: [READY_STATES],
  };
}

/** Deletes up to `batch` rows still unfinished longer than the horizon after cleanup first saw them. */
export function deleteAbandonedBatchSql(t: BackendTables, olderThanMs: number, batch: number): SqlQuery {
  return {
    text: `DELETE FROM ${t.task} WHERE id IN (
  SELECT m.id FROM ${t.task} m JOIN ${t.firstSeen} s ON s.task_id::text OPERATOR(pg_catalog.=) m.task_id::text
  WHERE s.first_seen OPERATOR(pg_catalog.<) ${CUTOFF}
    AND (m.status IS NULL OR NOT (m.status::text OPERATOR(pg_catalog.=) ANY ($3::text[])))
  LIMIT $2 FOR UPDATE OF m SKIP LOCKED)`,
    values: [olderThanMs, batch, READY_STATES],
  };
}

/** For the LISTEN connection: how long its registrations may wait for a bucket lock another session holds. */
export function lockTimeoutSql(ms: number): SqlQuery {
  return { text: "SELECT pg_catalog.set_config('lock_timeout', $1::text, false)", values: [`${ms}ms`] };
}

export function listenSql(channel: string): string {
  return `LISTEN ${quoteIdent(channel)}`;
}

/**
 * The LISTEN probe: sent only while the NOTIFY queue is below the limit the
 * trigger keeps to (a full queue would fail this statement, and so the wait).
 * `sent` is false when it was not sent.
 */
export function notifySql(channel: string, payload: string): SqlQuery {
  return {
    text: `SELECT CASE WHEN pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) ${NOTIFY_QUEUE_LIMIT} THEN (SELECT true FROM pg_catalog.pg_notify($1::text, $2::text) AS n) ELSE false END AS sent`,
    values: [channel, payload],
  };
}

/** Whether a table exists: checked before a CREATE … IF NOT EXISTS, which needs CREATE on the schema even when the table is there. */
export function tableExistsSql(table: string): SqlQuery {
  return { text: 'SELECT pg_catalog.to_regclass($1) IS NOT NULL AS exists', values: [table] };
}

/** Rows per state, for `typeorm-result-backend status`. A NULL status is Celery's PENDING. */
export function countByStateSql(table: string): SqlQuery {
  return { text: `SELECT COALESCE(status, 'PENDING') AS status, pg_catalog.count(*)::int AS count FROM ${table} GROUP BY 1 ORDER BY 1`, values: [] };
}
