/**
 * The wake-up path's SQL, as pure functions: an UNLOGGED table of interests
 * (which task ids some LISTEN connection waits for), a trigger on the task
 * table that notifies only when an interest exists, and a function that
 * records interests. Together they make a store pay for NOTIFY only when
 * someone waits, and make Celery's own writes wake Node waiters.
 *
 * Why there is no gap: the trigger takes a shared advisory lock on the task
 * id's bucket before it looks for an interest; recording an interest takes
 * the same buckets exclusively, in sorted order, and holds them until its
 * commit. So either the writer's check runs after the interest committed (it
 * sees it and notifies, and the waiter was listening since before), or the
 * interest waits for the writer's commit, and the waiter's read, which comes
 * after, sees the row. See the README's "Wake-ups" section.
 */
import { createHash } from 'node:crypto';
import { SqlQuery, qualified, quoteIdent } from '../../query';
import { READY_STATES } from '../../celery/states';

/** First half of the buckets' advisory lock keys: fixed, so it never meets the schema lock or an application's locks. */
export const WAKE_LOCK_NAMESPACE = 0x54524257; // "TRBW"

/** Buckets of task ids. Few enough that registering a 10,000-task group takes at most this many locks. */
export const WAKE_BUCKETS = 256;

export const WAKE_TRIGGER = 'typeorm_result_backend_wake';

export interface WakeNames {
  /** Quoted, schema-qualified task table. */
  task: string;
  taskSchema: string;
  /** Unquoted names, in the task table's schema. */
  interestTable: string;
  triggerFunction: string;
  registerFunction: string;
  channel: string;
}

function shortHash(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 20);
}

/** `<table><suffix>`, or a hashed name where that would pass PostgreSQL's 63-byte identifier limit. */
export function besideTable(table: string, suffix: string, fallbackPrefix: string): string {
  const name = `${table}${suffix}`;
  return Buffer.byteLength(name) <= 63 ? name : `${fallbackPrefix}${shortHash(table)}`;
}

/** Channel names are identifiers (63 bytes at most); a hash of the table keeps them short and distinct. */
export function channelFor(quotedTaskTable: string): string {
  return `trb_${shortHash(quotedTaskTable)}`;
}

export function wakeNames(taskSchema: string, taskTable: string): WakeNames {
  const task = qualified(taskSchema, taskTable);
  const h = shortHash(task);
  return {
    task,
    taskSchema,
    interestTable: besideTable(taskTable, '_waiters', 'trb_waiters_'),
    triggerFunction: `trb_wake_${h}`,
    registerFunction: `trb_wait_${h}`,
    channel: channelFor(task),
  };
}

function readyList(): string {
  return READY_STATES.map((s) => `'${s}'`).join(', ');
}

/**
 * Idempotent DDL, in order. The trigger fires only for ready states (the WHEN
 * clause is checked without calling the function), so STARTED and RETRY
 * writes cost nothing. If the interest table is dropped by hand, the trigger
 * skips the wake-up rather than failing Celery's write.
 */
export function wakeStatements(n: WakeNames): string[] {
  const interests = qualified(n.taskSchema, n.interestTable);
  const trigger = qualified(n.taskSchema, n.triggerFunction);
  const register = qualified(n.taskSchema, n.registerFunction);
  const bucket = (expr: string) => `(hashtext(${expr}) & ${WAKE_BUCKETS - 1})`;
  return [
    `CREATE UNLOGGED TABLE IF NOT EXISTS ${interests} (task_id varchar(155) NOT NULL, pid int NOT NULL, since timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (task_id, pid))`,
    `CREATE OR REPLACE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $trb$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${WAKE_LOCK_NAMESPACE}, ${bucket('NEW.task_id')});
  BEGIN
    IF EXISTS (SELECT 1 FROM ${interests} w WHERE w.task_id = NEW.task_id) THEN
      PERFORM pg_notify('${n.channel}', NEW.task_id);
    END IF;
  EXCEPTION WHEN undefined_table THEN
    NULL;
  END;
  RETURN NULL;
END
$trb$`,
    `CREATE OR REPLACE FUNCTION ${register}(ids text[]) RETURNS void LANGUAGE sql AS $trb$
SELECT pg_advisory_xact_lock(${WAKE_LOCK_NAMESPACE}, b) FROM (SELECT DISTINCT ${bucket('i')} AS b FROM unnest(ids) AS i ORDER BY 1) AS buckets;
INSERT INTO ${interests} (task_id, pid) SELECT DISTINCT i, pg_backend_pid() FROM unnest(ids) AS i ON CONFLICT DO NOTHING;
$trb$`,
    `CREATE OR REPLACE TRIGGER ${quoteIdent(WAKE_TRIGGER)} AFTER INSERT OR UPDATE OF status ON ${n.task} FOR EACH ROW ` +
      `WHEN (NEW.status IN (${readyList()})) EXECUTE FUNCTION ${trigger}()`,
  ];
}

export function dropWakeStatements(n: WakeNames): string[] {
  return [
    `DROP TRIGGER IF EXISTS ${quoteIdent(WAKE_TRIGGER)} ON ${n.task}`,
    `DROP FUNCTION IF EXISTS ${qualified(n.taskSchema, n.triggerFunction)}()`,
    `DROP FUNCTION IF EXISTS ${qualified(n.taskSchema, n.registerFunction)}(text[])`,
    `DROP TABLE IF EXISTS ${qualified(n.taskSchema, n.interestTable)}`,
  ];
}

/** True when the interest table, both functions and the trigger are all in place. */
export function wakeInstalledSql(n: WakeNames): SqlQuery {
  return {
    text: `SELECT to_regclass($1) IS NOT NULL
  AND to_regprocedure($2) IS NOT NULL
  AND to_regprocedure($3) IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass($4) AND tgname = $5) AS installed`,
    values: [
      qualified(n.taskSchema, n.interestTable),
      `${qualified(n.taskSchema, n.triggerFunction)}()`,
      `${qualified(n.taskSchema, n.registerFunction)}(text[])`,
      n.task,
      WAKE_TRIGGER,
    ],
  };
}

/** Records this connection's interest in the ids; committed when it returns (one autocommit statement). */
export function registerInterestSql(n: WakeNames, taskIds: readonly string[]): SqlQuery {
  return { text: `SELECT ${qualified(n.taskSchema, n.registerFunction)}($1::text[])`, values: [taskIds] };
}

export function unregisterInterestSql(n: WakeNames, taskIds: readonly string[]): SqlQuery {
  return {
    text: `DELETE FROM ${qualified(n.taskSchema, n.interestTable)} WHERE pid = pg_backend_pid() AND task_id = ANY($1::text[])`,
    values: [taskIds],
  };
}

/** Interests left by connections that are gone (a killed process): they would only cost needless NOTIFYs. */
export function purgeDeadInterestsSql(n: WakeNames): SqlQuery {
  return {
    text: `DELETE FROM ${qualified(n.taskSchema, n.interestTable)} w WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = w.pid)`,
    values: [],
  };
}
