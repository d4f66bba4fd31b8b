/**
 * The wake-up path's SQL, as pure functions: an UNLOGGED table of interests
 * (which task ids some LISTEN connection waits for), a trigger on the task
 * table that notifies only when an interest exists, and a function that
 * records interests. Together they make a store pay for NOTIFY only when
 * someone waits, and make Celery's own writes wake Node waiters.
 *
 * Why there is no gap: the trigger tries a shared advisory lock on the task
 * id's bucket before it looks for an interest, and notifies anyway when it
 * cannot have it at once (so it never waits); recording an interest takes
 * the same buckets exclusively, in sorted order, and holds them until its
 * commit. So either the writer's check runs after the interest committed (it
 * sees it and notifies, and the waiter was listening since before), or the
 * interest waits for the writer's commit, and the waiter's read, which comes
 * after, sees the row. See the README's "Wake-ups" section.
 */
import { createHash } from 'node:crypto';
import { SqlQuery, dollarQuote, qualified, quoteIdent } from '../../query';
import { READY_STATES } from '../../celery/states';
import type { OwnedObject } from './ownership-sql';

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
  /** When the cleanup first saw each unfinished task (Celery's rows carry no age until done). */
  firstSeenTable: string;
  triggerFunction: string;
  registerFunction: string;
  unregisterFunction: string;
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

/** `<task table>_first_seen`, or a hashed name where that would pass PostgreSQL's 63-byte identifier limit. */
export function firstSeenTableName(taskTable: string): string {
  return besideTable(taskTable, '_first_seen', 'trb_first_seen_');
}

export function wakeNames(taskSchema: string, taskTable: string): WakeNames {
  const task = qualified(taskSchema, taskTable);
  const h = shortHash(task);
  return {
    task,
    taskSchema,
    interestTable: besideTable(taskTable, '_waiters', 'trb_waiters_'),
    firstSeenTable: firstSeenTableName(taskTable),
    triggerFunction: `trb_wake_${h}`,
    registerFunction: `trb_wait_${h}`,
    unregisterFunction: `trb_unwait_${h}`,
    channel: channelFor(task),
  };
}

function readyList(): string {
  return READY_STATES.map((s) => `'${s}'`).join(', ');
}

/**
 * Every function we install runs as its owner (the installing role) with this
 * search_path, so nothing in it resolves through a schema another role can
 * write (CVE-2018-1058): writers need no grant on the interest table, and a
 * planted `public.hashtext(varchar)` is never called. Every name inside is
 * qualified as well, so the body stays safe if it is ever copied elsewhere.
 */
export const WAKE_SEARCH_PATH = 'pg_catalog, pg_temp';

/**
 * Above this share of the NOTIFY queue in use (an idle listener holds it
 * back), the trigger stops notifying: a full queue makes the notifying
 * transaction fail at commit, and a store must never fail for a wake-up.
 * Waiters then wake on their periodic re-read.
 */
export const NOTIFY_QUEUE_LIMIT = 0.5;

interface FunctionDef {
  /** Schema-qualified, quoted name with its argument types: what to_regprocedure takes. */
  signature: string;
  returns: string;
  language: 'plpgsql' | 'sql';
  body: string;
}

function bucketOf(expr: string): string {
  return `(pg_catalog.hashtext(${expr}) OPERATOR(pg_catalog.&) ${WAKE_BUCKETS - 1})`;
}

/**
 * The three functions, as data: the DDL is made from them, and the installed
 * check compares the catalog with them, so an install of an older version (or
 * one altered by hand) is replaced.
 */
export function wakeFunctions(n: WakeNames): { trigger: FunctionDef; register: FunctionDef; unregister: FunctionDef } {
  const interests = qualified(n.taskSchema, n.interestTable);
  const fn = (name: string, args: string) => `${qualified(n.taskSchema, name)}(${args})`;
  return {
    // Never fails, never waits: a writer that cannot take its bucket at once (a
    // registration holds it, or anyone else does) notifies anyway, which is
    // harmless (the waiter re-reads and finds the row, or not yet). Any error
    // in here is swallowed: the row is stored and the waiter wakes on its re-read.
    // (QUERY_CANCELED is not caught by OTHERS: a statement_timeout still ends the writer's statement.)
    trigger: {
      signature: fn(n.triggerFunction, ''),
      returns: 'trigger',
      language: 'plpgsql',
      body: `
BEGIN
  BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(${WAKE_LOCK_NAMESPACE}, ${bucketOf('NEW.task_id::text')})
       OR EXISTS (SELECT 1 FROM ${interests} w WHERE w.task_id::text OPERATOR(pg_catalog.=) NEW.task_id::text) THEN
      IF pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) ${NOTIFY_QUEUE_LIMIT} THEN
        PERFORM pg_catalog.pg_notify('${n.channel}', NEW.task_id::text);
      END IF;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
  RETURN NULL;
END
`,
    },
    register: {
      signature: fn(n.registerFunction, 'text[]'),
      returns: 'void',
      language: 'sql',
      body: `
SELECT pg_catalog.pg_advisory_xact_lock(${WAKE_LOCK_NAMESPACE}, b) FROM (SELECT DISTINCT ${bucketOf('i')} AS b FROM pg_catalog.unnest(ids) AS i ORDER BY 1) AS buckets;
INSERT INTO ${interests} (task_id, pid) SELECT DISTINCT i, pg_catalog.pg_backend_pid() FROM pg_catalog.unnest(ids) AS i ON CONFLICT DO NOTHING;
`,
    },
    // With ids: drops this session's interests in them. With NULL: drops the interests of sessions that are gone (a killed process).
    // One DELETE per id, on the whole primary key: the table is never analyzed when it matters (it fills
    // and drains in seconds), and without statistics PostgreSQL planned "task_id = ANY (ids)" as a scan
    // of the whole table: 1.9 ms per batched removal, and with a waiter on every task the LISTEN
    // connection's backend used 70 µs of CPU per store, against 25 µs for a listener that only listens.
    unregister: {
      signature: fn(n.unregisterFunction, 'text[]'),
      returns: 'void',
      language: 'plpgsql',
      body: `
DECLARE
  wanted text;
BEGIN
  IF ids IS NULL THEN
    DELETE FROM ${interests} w WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) w.pid);
    RETURN;
  END IF;
  FOREACH wanted IN ARRAY ids LOOP
    DELETE FROM ${interests} w WHERE w.task_id::text OPERATOR(pg_catalog.=) wanted AND w.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
  END LOOP;
END
`,
    },
  };
}

function createFunctionSql(f: FunctionDef): string {
  const params = f.signature.endsWith('(text[])') ? f.signature.replace(/\(text\[\]\)$/, '(ids text[])') : f.signature;
  return `CREATE OR REPLACE FUNCTION ${params} RETURNS ${f.returns} LANGUAGE ${f.language} SECURITY DEFINER SET search_path = ${WAKE_SEARCH_PATH} AS ${dollarQuote(f.body)}`;
}

/**
 * Idempotent DDL, in order. The trigger fires only for ready states (the WHEN
 * clause is checked without calling the function), so STARTED and RETRY
 * writes cost nothing. The functions run as their owner, and nobody else may
 * call them unless granted (a trigger function needs no EXECUTE grant to fire).
 */
export function wakeStatements(n: WakeNames): string[] {
  return [...wakeTableStatements(n), ...wakeFunctionStatements(n)];
}

/** The two side tables, made if missing: what exists is checked (wakeOwnedObjects) before the rest runs. */
export function wakeTableStatements(n: WakeNames): string[] {
  return [
    // Not part of the wake-up, but the package's other table beside the task table: made by the
    // installing role here, so an app role that may not CREATE can still clean up abandoned tasks.
    createFirstSeenTableSql(qualified(n.taskSchema, n.firstSeenTable)),
    `CREATE UNLOGGED TABLE IF NOT EXISTS ${qualified(n.taskSchema, n.interestTable)} (task_id varchar(155) NOT NULL, pid int NOT NULL, since timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (task_id, pid))`,
  ];
}

/** What must be the package's own before the functions are (re)made: the side tables and any functions already there. */
export function wakeOwnedObjects(n: WakeNames): OwnedObject[] {
  const f = wakeFunctions(n);
  return [
    { kind: 'table', name: qualified(n.taskSchema, n.firstSeenTable), beside: n.task },
    { kind: 'table', name: qualified(n.taskSchema, n.interestTable), beside: n.task },
    ...[f.trigger, f.register, f.unregister].map((d): OwnedObject => ({ kind: 'function', name: d.signature, beside: n.task })),
  ];
}

export function wakeFunctionStatements(n: WakeNames): string[] {
  const interests = qualified(n.taskSchema, n.interestTable);
  const f = wakeFunctions(n);
  return [
    // Writers never touch it directly: only the functions, as its owner.
    `REVOKE ALL ON ${interests} FROM PUBLIC`,
    ...[f.trigger, f.register, f.unregister].flatMap((d) => [createFunctionSql(d), `REVOKE ALL ON FUNCTION ${d.signature} FROM PUBLIC`]),
    `CREATE OR REPLACE TRIGGER ${quoteIdent(WAKE_TRIGGER)} AFTER INSERT OR UPDATE OF status ON ${n.task} FOR EACH ROW ` +
      `WHEN (NEW.status IN (${readyList()})) EXECUTE FUNCTION ${f.trigger.signature}`,
  ];
}

export function createFirstSeenTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (task_id varchar(155) PRIMARY KEY, first_seen timestamp without time zone NOT NULL)`;
}

/** What a role that waits for results (a Node app, a dashboard) needs beyond SELECT on the task table. */
export function wakeGrantStatements(n: WakeNames, role: string): string[] {
  const f = wakeFunctions(n);
  return [`GRANT EXECUTE ON FUNCTION ${f.register.signature}, ${f.unregister.signature} TO ${quoteIdent(role)}`];
}

export function dropWakeStatements(n: WakeNames): string[] {
  const f = wakeFunctions(n);
  return [
    `DROP TRIGGER IF EXISTS ${quoteIdent(WAKE_TRIGGER)} ON ${n.task}`,
    `DROP FUNCTION IF EXISTS ${f.trigger.signature}`,
    `DROP FUNCTION IF EXISTS ${f.register.signature}`,
    `DROP FUNCTION IF EXISTS ${f.unregister.signature}`,
    `DROP TABLE IF EXISTS ${qualified(n.taskSchema, n.interestTable)}`,
    `DROP TABLE IF EXISTS ${qualified(n.taskSchema, n.firstSeenTable)}`,
  ];
}

/**
 * Whether the interest table, the three functions (exactly as this version
 * makes them: body, SECURITY DEFINER, search_path, no EXECUTE for PUBLIC) and
 * the trigger on them are in place; and whether this role may record waits.
 */
export function wakeInstalledSql(n: WakeNames): SqlQuery {
  const f = wakeFunctions(n);
  const defs = [f.trigger, f.register, f.unregister];
  const values: unknown[] = [qualified(n.taskSchema, n.interestTable), n.task, WAKE_TRIGGER, [`search_path=${WAKE_SEARCH_PATH}`], qualified(n.taskSchema, n.firstSeenTable)];
  const sigs: string[] = [];
  const fnOk = defs.map((d) => {
    const sig = `$${values.push(d.signature)}`;
    const src = `$${values.push(d.body)}`;
    sigs.push(sig);
    return `EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(${sig}) AND p.prosecdef
      AND p.prosrc OPERATOR(pg_catalog.=) ${src} AND p.proconfig OPERATOR(pg_catalog.=) $4::text[]
      AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))`;
  });
  const [triggerSig, registerSig, unregisterSig] = sigs;
  return {
    text: `SELECT pg_catalog.to_regclass($1) IS NOT NULL AND pg_catalog.to_regclass($5) IS NOT NULL
  AND ${fnOk.join('\n  AND ')}
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($2)
    AND t.tgname OPERATOR(pg_catalog.=) $3 AND t.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(${triggerSig})) AS installed,
  COALESCE(pg_catalog.has_function_privilege(pg_catalog.to_regprocedure(${registerSig}), 'EXECUTE')
    AND pg_catalog.has_function_privilege(pg_catalog.to_regprocedure(${unregisterSig}), 'EXECUTE'), false) AS may_wait,
  current_user AS role`,
    values,
  };
}

/** Records this connection's interest in the ids; committed when it returns (one autocommit statement). */
export function registerInterestSql(n: WakeNames, taskIds: readonly string[]): SqlQuery {
  return { text: `SELECT ${qualified(n.taskSchema, n.registerFunction)}($1::text[])`, values: [taskIds] };
}

export function unregisterInterestSql(n: WakeNames, taskIds: readonly string[]): SqlQuery {
  return { text: `SELECT ${qualified(n.taskSchema, n.unregisterFunction)}($1::text[])`, values: [taskIds] };
}

/** Interests left by connections that are gone (a killed process): they would only cost needless NOTIFYs. */
export function purgeDeadInterestsSql(n: WakeNames): SqlQuery {
  return { text: `SELECT ${qualified(n.taskSchema, n.unregisterFunction)}(NULL::text[])`, values: [] };
}
