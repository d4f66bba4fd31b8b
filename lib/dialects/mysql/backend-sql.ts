/**
 * Every statement the ResultBackend sends on MySQL and MariaDB, as pure
 * functions of the table names: the counterparts, one for one, of
 * lib/dialects/postgres/backend-sql.ts. Written for mysql2's `query` (the client-side `?`
 * substitution TypeORM's mysql driver uses), and checked against MariaDB 10.11
 * with MySQL 8 semantics in mind.
 *
 * Dates. Celery stores naive UTC in DATETIME columns. We write
 * `UTC_TIMESTAMP(6)` and compare against it, never NOW() or CURRENT_TIMESTAMP,
 * which follow the session's time_zone. We read dates back as text
 * (`DATE_FORMAT(..., '%Y-%m-%dT%H:%i:%s.%fZ')`, see {@link parseMySqlUtc}),
 * because mysql2 turns a DATETIME into a JS Date in its own `timezone` option
 * ('local' by default, and TypeORM's default too): a raw DATETIME would be
 * read as the right instant only where the app process happens to run in UTC.
 *
 * States. Ready states are compared as bytes (`CAST(status AS BINARY)`), as
 * PostgreSQL compares text: a case-insensitive or PAD SPACE collation on the
 * status column must not make 'success' or 'SUCCESS ' a ready state.
 */
import type { StoreParams } from '../../backend/store';
import { READY_STATES, isReadyState } from '../../celery/states';
import type { SqlQuery } from '../../query';

export interface MySqlBackendTables {
  /** Backtick-quoted, possibly database-qualified (`db`.`table`) table names. */
  task: string;
  group: string;
  /** The package's own table of when cleanup first saw each unfinished task, beside the task table. */
  firstSeen: string;
  /**
   * Quoted sequence names where ids come from Celery's sequences (MariaDB), or
   * null where `id` is AUTO_INCREMENT (MySQL).
   */
  taskSequence: string | null;
  groupSequence: string | null;
}

/** Quotes an identifier for MySQL/MariaDB, doubling embedded backticks: safe for any name. */
export function quoteMySqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `db`.`name`, or `name` alone (the connection's current database) when no schema is given. */
export function qualifiedMySql(schema: string | undefined, name: string): string {
  return schema ? `${quoteMySqlIdent(schema)}.${quoteMySqlIdent(name)}` : quoteMySqlIdent(name);
}

/**
 * Full microseconds; the column decides what it keeps. On Celery's DATETIME
 * (no fractional part) MariaDB truncates to the second (checked: .999999 is
 * stored as :00), and MySQL, by its manual, rounds to the nearest second
 * unless sql_mode has TIME_TRUNCATE_FRACTIONAL, so a MySQL date_done may lie
 * up to half a second ahead. Either way the server treats our value exactly
 * as the microsecond datetimes Celery itself sends, so a row reads the same
 * whoever wrote it; a DATETIME(6) column keeps the microseconds.
 */
const UTC_NOW = 'UTC_TIMESTAMP(6)';

/**
 * The ready states as an SQL list of literals. They are our own constants,
 * not input, so inlining them is safe (checked here once) and keeps the
 * upsert free of a dozen repeated parameters.
 */
const READY_LIST = `(${READY_STATES.map((s) => {
  if (!/^[A-Z_]+$/.test(s)) throw new Error(`ready state ${JSON.stringify(s)} cannot be inlined as an SQL literal`);
  return `'${s}'`;
}).join(', ')})`;

function isReady(column: string): string {
  return `CAST(${column} AS BINARY) IN ${READY_LIST}`;
}

/** A NULL status is Celery's PENDING: not ready. */
function isNotReady(column: string): string {
  return `(${column} IS NULL OR CAST(${column} AS BINARY) NOT IN ${READY_LIST})`;
}

/** A naive UTC DATETIME read as text that names its zone, for {@link parseMySqlUtc}. */
function utcText(column: string): string {
  return `DATE_FORMAT(${column}, '%Y-%m-%dT%H:%i:%s.%fZ')`;
}

const TASK_SELECT = `task_id, status, result, ${utcText('date_done')} AS date_done, traceback, name, args, kwargs, worker, retries, queue`;
/** The columns of an OutcomeRow. */
const OUTCOME_SELECT = 'task_id, status, result, traceback';

const MYSQL_IDENT = /^`(?:[^`]|``)+`$/;

/**
 * The `date_done` (or `first_seen`) text of a row read by these statements, as
 * the UTC instant it is, whatever the session time_zone and mysql2's
 * `timezone` option. Microseconds are truncated to JS milliseconds. A zero
 * date ('0000-00-00', which non-strict sql_modes let in) reads as null, as
 * Celery's own MySQL drivers give None for it.
 */
export function parseMySqlUtc(value: string | Buffer | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? value : value.toString('latin1');
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!m) throw new TypeError(`${JSON.stringify(text)} is not a UTC datetime as these statements read them ('YYYY-MM-DDTHH:MM:SS.ffffffZ')`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year === 0 || month === 0 || day === 0) return null;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(Number((m[7] ?? '0').padEnd(6, '0')) / 1000)));
  if (year < 100) date.setUTCFullYear(year); // Date.UTC reads years 0-99 as 1900-1999
  return date;
}

/**
 * One statement: `INSERT ... ON DUPLICATE KEY UPDATE` on the unique task_id
 * (so concurrent stores of one id never collide), and a ready state never
 * overwritten by a non-ready one. The id is left to AUTO_INCREMENT where the
 * table has it (Celery on MySQL), or drawn with NEXTVAL from Celery's
 * `task_id_sequence` (Celery on MariaDB 10.3+, whose `id` is a plain int).
 * Extended columns keep their stored value when a later write gives NULL;
 * result, traceback, date_done and the columns of a TaskMeta subclass take
 * the new write's values, as on PostgreSQL.
 *
 * Precedence. Whether the new state is ready is known here, so the SQL has
 * two shapes. A ready write applies unconditionally (ready over anything,
 * ready over ready included). A non-ready write applies only where the stored
 * status is not ready, and every assignment tests that itself, because MySQL
 * evaluates ON DUPLICATE KEY UPDATE assignments left to right and a later one
 * sees the columns earlier ones already changed: `status` is assigned LAST so
 * that every test reads the old status.
 *
 * New values are read with `VALUES(col)`: MariaDB (10.11 included) has no
 * `INSERT ... AS new` row alias (a syntax error, checked), and MySQL 8.0.20+
 * still runs VALUES(), deprecated there with warning 1287 (by its manual;
 * not run here).
 *
 * Applied or dropped. The OK packet answers, in this one statement, through
 * its insertId; read it with {@link storeApplied}. A fresh insert sends its
 * new id (the AUTO_INCREMENT value, or the NEXTVAL, which the VALUES row
 * passes through LAST_INSERT_ID(expr) since no AUTO_INCREMENT value is made).
 * An applied update runs `id = LAST_INSERT_ID(id)`, which sends the row's id
 * even when no value changed. A write dropped by precedence leaves every
 * column as it was and runs LAST_INSERT_ID(0), so insertId is 0 (on a
 * sequence table the VALUES row has already set it to the NEXTVAL drawn for
 * the insert that did not happen; an earlier LAST_INSERT_ID of the session
 * never leaks in, the server computes insertId per statement). affectedRows
 * cannot tell: with mysql2's default CLIENT_FOUND_ROWS an identical rewrite
 * and a dropped write both report 1 (0 and 0 without it).
 *
 * Two conditions, both true of Celery's schemas: ids are 1 and up, and the
 * task table has no triggers. On MariaDB, once a trigger of the table has run
 * in the statement, the statement's LAST_INSERT_ID(expr) no longer reaches
 * the OK packet (observed with a no-op AFTER UPDATE and a no-op BEFORE UPDATE
 * trigger): an identical rewrite then reads as dropped, and under a BEFORE
 * UPDATE trigger that changes the row a dropped write reads as applied. For
 * such tables use {@link lockStoredStatusSql} and {@link storeWouldApply} in
 * a transaction.
 *
 * Like PostgreSQL's nextval, the INSERT draws an id even when it ends as an
 * update (neither InnoDB's AUTO_INCREMENT nor a sequence gives it back): ids
 * grow by one per store, not per task.
 *
 * The columns of a TaskMeta subclass (`p.extra`) must come backtick-quoted
 * (see {@link quoteMySqlIdent}); anything else is refused, never inlined.
 */
export function storeSql(t: MySqlBackendTables, p: StoreParams): SqlQuery {
  for (const [column] of p.extra) {
    if (!MYSQL_IDENT.test(column)) throw new Error(`extra column ${JSON.stringify(column)} must be a backtick-quoted MySQL identifier (quoteMySqlIdent)`);
  }
  const ready = isReadyState(p.status);
  const extraColumns = p.extra.map(([column]) => column);
  const values: unknown[] = [p.taskId, p.status, p.result, p.traceback, p.name, p.args, p.kwargs, p.worker, p.retries, p.queue, ...p.extra.map(([, value]) => value)];
  // A ready write always applies; a non-ready one only over a stored state that is not ready.
  const when = (value: string, column: string): string => (ready ? value : `IF(${isNotReady('status')}, ${value}, ${column})`);
  // A dropped write sets LAST_INSERT_ID to 0 itself: on a MariaDB table whose ids come from a
  // sequence, the VALUES row has already set it to the NEXTVAL drawn for the insert that did not happen.
  const dropped = 'LAST_INSERT_ID(0) + id';
  const keep = (column: string): string => when(`COALESCE(VALUES(${column}), ${column})`, column);
  const take = (column: string): string => when(`VALUES(${column})`, column);
  const sets = [
    `id = ${ready ? 'LAST_INSERT_ID(id)' : `IF(${isNotReady('status')}, LAST_INSERT_ID(id), ${dropped})`}`,
    `result = ${take('result')}`,
    `date_done = ${take('date_done')}`,
    `traceback = ${take('traceback')}`,
    ...['name', 'args', 'kwargs', 'worker', 'retries', 'queue'].map((c) => `${c} = ${keep(c)}`),
    ...extraColumns.map((c) => `${c} = ${take(c)}`),
    // Last: every assignment above must still see the stored status.
    `status = ${take('status')}`,
  ];
  const id = t.taskSequence ? { column: 'id, ', value: `LAST_INSERT_ID(NEXTVAL(${t.taskSequence})), ` } : { column: '', value: '' };
  const text = `INSERT INTO ${t.task} (${id.column}task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue${extraColumns.map((c) => `, ${c}`).join('')})
VALUES (${id.value}?, ?, ?, ${ready ? UTC_NOW : 'NULL'}, ?, ?, ?, ?, ?, ?, ?${extraColumns.map(() => ', ?').join('')})
ON DUPLICATE KEY UPDATE
  ${sets.join(',\n  ')}`;
  return { text, values };
}

/** The fields of mysql2's OK packet (ResultSetHeader) that {@link storeApplied} reads. */
export interface MySqlOkPacket {
  affectedRows: number;
  /** mysql2 gives a string for a value beyond 2^53 (a BIGINT id). */
  insertId: number | string;
}

/**
 * Whether the write of {@link storeSql} was applied (inserted, or updated,
 * identical values included) or dropped by precedence: a non-zero insertId.
 * Sound because insertId is the new id of an insert (ids start at 1), the
 * row's own id on an applied update (the statement's LAST_INSERT_ID(id)), and
 * 0 on a dropped one (its LAST_INSERT_ID(0)); see storeSql for why
 * affectedRows cannot tell and for the trigger caveat.
 */
export function storeApplied(ok: MySqlOkPacket): boolean {
  if (ok === null || typeof ok !== 'object' || !('insertId' in ok)) throw new TypeError('storeApplied takes the OK packet (ResultSetHeader) of the store statement');
  return String(ok.insertId) !== '0';
}

/**
 * For task tables with triggers, where the OK packet cannot tell (see
 * storeSql): in one transaction, lock the stored row (or the gap where it
 * would go), decide with {@link storeWouldApply}, then send {@link storeSql}.
 * Concurrent first stores of one id may deadlock on the gap locks; InnoDB rolls
 * one back (1213) and the transaction is sent again.
 */
export function lockStoredStatusSql(t: MySqlBackendTables, taskId: string): SqlQuery {
  return { text: `SELECT status FROM ${t.task} WHERE task_id = ? FOR UPDATE`, values: [taskId] };
}

/** The precedence of storeSql in JS: `stored` is undefined when there is no row, null for a NULL status. */
export function storeWouldApply(stored: string | null | undefined, next: string): boolean {
  return stored === undefined || isReadyState(next) || !isReadyState(stored);
}

export function selectTaskSql(t: MySqlBackendTables, taskId: string): SqlQuery {
  return { text: `SELECT ${TASK_SELECT} FROM ${t.task} WHERE task_id = ?`, values: [taskId] };
}

/** Ids per statement in {@link selectOutcomesSql}. */
export const MYSQL_IN_LIST_CHUNK = 1000;

/**
 * What group joins and batched wake-ups use: one `IN (?, ...)` statement per
 * {@link MYSQL_IN_LIST_CHUNK} ids (none for none: `IN ()` is a syntax error);
 * the caller concatenates the rows. MySQL has no array parameter, and a very
 * long IN list can exceed the optimizer's range_optimizer_max_mem_size, after
 * which MySQL silently scans the whole table: a thousand stays far below it.
 */
export function selectOutcomesSql(t: MySqlBackendTables, taskIds: readonly string[]): SqlQuery[] {
  const queries: SqlQuery[] = [];
  for (let i = 0; i < taskIds.length; i += MYSQL_IN_LIST_CHUNK) {
    const chunk = taskIds.slice(i, i + MYSQL_IN_LIST_CHUNK);
    queries.push({ text: `SELECT ${OUTCOME_SELECT} FROM ${t.task} WHERE task_id IN (${chunk.map(() => '?').join(', ')})`, values: [...chunk] });
  }
  return queries;
}

export function deleteTaskSql(t: MySqlBackendTables, taskId: string): SqlQuery {
  return { text: `DELETE FROM ${t.task} WHERE task_id = ?`, values: [taskId] };
}

/** An upsert on the unique taskset_id: saving a group again replaces it. The id is AUTO_INCREMENT (MySQL) or drawn from the group sequence (MariaDB). */
export function saveGroupSql(t: MySqlBackendTables, groupId: string, result: Buffer): SqlQuery {
  return {
    text: `INSERT INTO ${t.group} (${t.groupSequence ? 'id, ' : ''}taskset_id, result, date_done) VALUES (${t.groupSequence ? `NEXTVAL(${t.groupSequence}), ` : ''}?, ?, ${UTC_NOW})
ON DUPLICATE KEY UPDATE result = VALUES(result), date_done = VALUES(date_done)`,
    values: [groupId, result],
  };
}

/** date_done comes back as text: read it with {@link parseMySqlUtc}. */
export function selectGroupSql(t: MySqlBackendTables, groupId: string): SqlQuery {
  return { text: `SELECT taskset_id, result, ${utcText('date_done')} AS date_done FROM ${t.group} WHERE taskset_id = ?`, values: [groupId] };
}

export function deleteGroupSql(t: MySqlBackendTables, groupId: string): SqlQuery {
  return { text: `DELETE FROM ${t.group} WHERE taskset_id = ?`, values: [groupId] };
}

/** Past any DATETIME (1000-01-01 is the oldest), and still a plain integer in JS's decimal form and in a BIGINT. */
const MAX_HORIZON_MICROS = 1e18;

/**
 * `UTC_TIMESTAMP(6)` minus the horizon, or NULL (so that nothing compares as
 * older) when the horizon reaches back past year 1000, where the subtraction
 * would overflow DATETIME with a warning per row. Two parameters, both the
 * horizon in whole microseconds.
 */
function cutoff(olderThanMs: number): { sql: string; values: [number, number] } {
  const micros = Math.min(Math.max(0, Math.round(olderThanMs * 1000)), MAX_HORIZON_MICROS);
  return {
    sql: `IF(? >= TIMESTAMPDIFF(MICROSECOND, '1000-01-01', ${UTC_NOW}), NULL, ${UTC_NOW} - INTERVAL ? MICROSECOND)`,
    values: [micros, micros],
  };
}

/**
 * Deletes up to `batch` rows finished before the cutoff, oldest first. MySQL
 * refuses `DELETE ... WHERE id IN (SELECT ... LIMIT)` (a LIMIT in an IN
 * subquery, and the target table in its own subquery), but a single-table
 * DELETE takes ORDER BY and LIMIT itself: one statement, no derived table.
 * It reads current rows under locks, so a row that another session changed
 * meanwhile is judged on what it holds now. `ORDER BY date_done, id` is
 * deterministic (safe for statement-based binlogs) and walks a date_done
 * index, where there is one, in its own order (InnoDB appends the id to every
 * secondary index). There is no SKIP LOCKED for DELETE: two cleaners at once
 * wait for each other's batch rather than skip it.
 */
export function deleteExpiredBatchSql(table: string, olderThanMs: number, batch: number, readyOnly: boolean): SqlQuery {
  const cut = cutoff(olderThanMs);
  return {
    text: `DELETE FROM ${table} WHERE date_done < ${cut.sql}${readyOnly ? ` AND ${isReady('status')}` : ''}
ORDER BY date_done, id LIMIT ?`,
    values: [...cut.values, batch],
  };
}

/**
 * Unfinished rows carry no age in Celery's schema (date_done is NULL), and
 * stamping date_done would make Celery's own backend_cleanup, which deletes
 * every row whose date_done is old whatever its state, delete running tasks.
 * So their age lives in a table of the package's own, beside the task table:
 * when cleanup first saw each one unfinished.
 *
 * `CREATE TABLE ... SELECT` copies the task_id column's exact type, character
 * set and collation from the task table (Celery's tables take whatever the
 * database default was). A first_seen.task_id of another collation would
 * either fail every join with "Illegal mix of collations" or, compared under
 * a _bin collation, stop the joins from using the task table's task_id index.
 * The SELECT returns no row (WHERE FALSE); with IF NOT EXISTS an existing
 * table is left alone (a note, not an error). first_seen is DATETIME(6),
 * naive UTC. Needs CREATE TABLE ... SELECT, which MySQL before 8.0.21 refuses
 * under enforce_gtid_consistency.
 */
export function createFirstSeenSql(t: MySqlBackendTables): string {
  return `CREATE TABLE IF NOT EXISTS ${t.firstSeen} (PRIMARY KEY (task_id)) SELECT task_id, ${UTC_NOW} AS first_seen FROM ${t.task} WHERE FALSE`;
}

/**
 * Ages of unfinished rows not recorded yet start now; LIMIT keeps each
 * statement short on a big backlog, and ORDER BY m.id makes it deterministic.
 * INSERT IGNORE stands for PostgreSQL's ON CONFLICT DO NOTHING (a concurrent
 * cleaner recorded the same id first); affectedRows counts only the rows
 * inserted, so a batch short of `batch` means the backlog is done. The
 * NOT EXISTS on the target table itself is allowed in INSERT ... SELECT.
 */
export function recordFirstSeenBatchSql(t: MySqlBackendTables, batch: number): SqlQuery {
  return {
    text: `INSERT IGNORE INTO ${t.firstSeen} (task_id, first_seen)
SELECT m.task_id, ${UTC_NOW} FROM ${t.task} m
WHERE m.task_id IS NOT NULL AND ${isNotReady('m.status')}
  AND NOT EXISTS (SELECT 1 FROM ${t.firstSeen} s WHERE s.task_id = m.task_id)
ORDER BY m.id
LIMIT ?`,
    values: [batch],
  };
}

/**
 * Forgets the ages of tasks that finished or were removed since: an
 * anti-join, as a multi-table DELETE. The table deleted from is named, not
 * aliased: MariaDB resolves an alias in a multi-table DELETE's target list
 * against the connection's current database, and fails with "No database
 * selected" (1046) on a connection that has none.
 */
export function forgetFirstSeenSql(t: MySqlBackendTables): SqlQuery {
  return {
    text: `DELETE ${t.firstSeen} FROM ${t.firstSeen}
LEFT JOIN ${t.task} m ON m.task_id = ${t.firstSeen}.task_id AND ${isNotReady('m.status')}
WHERE m.id IS NULL`,
    values: [],
  };
}

/**
 * Deletes up to `batch` rows still unfinished longer than the horizon after
 * cleanup first saw them. A multi-table DELETE takes no LIMIT, and MySQL
 * refuses a LIMIT in an IN subquery, so the batch is chosen in a derived
 * table with LIMIT (materialised before the delete, which is what lets it
 * read the table being deleted from) and joined back by primary key: the plan
 * drives from the chosen ids, where `id IN (SELECT id FROM (...))` would scan
 * the task table with a dependent subquery per row. The outer DELETE tests the
 * status again on the row as it is now, under its lock: a task that finished
 * after the batch was chosen is kept. The target is named, not aliased (see
 * forgetFirstSeenSql).
 */
export function deleteAbandonedBatchSql(t: MySqlBackendTables, olderThanMs: number, batch: number): SqlQuery {
  const cut = cutoff(olderThanMs);
  return {
    text: `DELETE ${t.task} FROM ${t.task}
JOIN (
  SELECT c.id FROM ${t.task} c JOIN ${t.firstSeen} s ON s.task_id = c.task_id
  WHERE s.first_seen < ${cut.sql} AND ${isNotReady('c.status')}
  ORDER BY c.id
  LIMIT ?
) chosen ON chosen.id = ${t.task}.id
WHERE ${isNotReady(`${t.task}.status`)}`,
    values: [...cut.values, batch],
  };
}

/**
 * Rows per state, for `typeorm-result-backend status`. A NULL status is
 * Celery's PENDING. COUNT(*) is a BIGINT, which mysql2 gives as a string under
 * TypeORM's default bigNumberStrings; as a DOUBLE it is a JS number whatever
 * the settings (exact to 2^53).
 */
export function countByStateSql(table: string): SqlQuery {
  return { text: `SELECT COALESCE(status, 'PENDING') AS status, CAST(COUNT(*) AS DOUBLE) AS count FROM ${table} GROUP BY 1 ORDER BY 1`, values: [] };
}

/**
 * Whether a table (`BASE TABLE`) or sequence (`SEQUENCE`) exists, in the
 * given database or the connection's. `n` is a count, 0 or 1.
 */
export function relationExistsSql(database: string | undefined, name: string, type: 'BASE TABLE' | 'SEQUENCE'): SqlQuery {
  return {
    text: 'SELECT count(*) AS n FROM information_schema.TABLES WHERE TABLE_TYPE = ? AND TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
    values: [type, database ?? null, name],
  };
}
