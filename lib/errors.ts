// render.ts imports the value classes, which import this module: a cycle that is safe because
// neither side touches the other's exports until a constructor runs.
import { renderArgs, renderText } from './celery/render';
import { withoutStatementValues } from './driver-error';
import { reportedHolderName } from './reported-text';

/**
 * Every error this package throws on purpose extends {@link ResultBackendError},
 * so callers can tell ours from the driver's with one `instanceof`.
 *
 * Messages have three parts: what was found, why it is refused, what to do.
 */
export class ResultBackendError extends Error {
  /** A stable, machine-readable name for the failure. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    // A driver's error is kept without the statement's values (see driver-error.ts): ours get logged whole.
    super(message, options && 'cause' in options ? { cause: withoutStatementValues(options.cause) } : options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option, argument or entity definition that cannot work. Nothing was written. */
export class InvalidOptionError extends ResultBackendError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_OPTION', message, options);
  }
}

/** The DataSource's driver is not one this part of the package supports. */
export class UnsupportedDriverError extends ResultBackendError {
  readonly driver: string;
  /** The TypeORM driver types that would work here. */
  readonly supported: readonly string[];

  constructor(driver: string, part = 'This package', supported: readonly string[] = ['postgres']) {
    super(
      'UNSUPPORTED_DRIVER',
      `DataSource type "${driver}" is not supported by ${part}: its schema lock, error classification and SQL exist only for ` +
        `${supported.join(', ')}. Use a DataSource of one of those types.`,
    );
    this.driver = driver;
    this.supported = supported;
  }
}

/** A DataSource that is not initialized yet was given to something that needs its connection or its entity metadata. */
export class NotInitializedError extends ResultBackendError {
  constructor(purpose: string) {
    super(
      'NOT_INITIALIZED',
      `${purpose} needs an initialized DataSource, and this one is not initialized (or was destroyed), so it has no connection ` +
        'and no entity metadata yet. Await SafeSynchronizer.initialize(dataSource) (or dataSource.initialize()) first.',
    );
  }
}

/** Who held the schema lock when we gave up waiting for it. */
export interface LockHolder {
  /** The PostgreSQL backend pid, or the MySQL/MariaDB connection id. */
  pid: number;
  /** PostgreSQL's application_name; on MySQL/MariaDB, user@host. */
  applicationName: string;
  /** When the holder's transaction (or, for a session lock, its session) began. */
  since: Date | null;
  state: string | null;
}

/** The schema-sync advisory lock was not granted within `lockTimeoutMs`. Nothing was changed by this process. */
export class LockTimeoutError extends ResultBackendError {
  /** The PostgreSQL advisory lock key, or null for a MySQL/MariaDB GET_LOCK. */
  readonly lockKey: readonly [number, number] | null;
  /** The MySQL/MariaDB GET_LOCK name, or null for a PostgreSQL advisory lock. */
  readonly lockName: string | null;
  readonly timeoutMs: number;
  readonly holders: readonly LockHolder[];

  constructor(lock: readonly [number, number] | { name: string }, timeoutMs: number, holders: readonly LockHolder[], cause: unknown) {
    const advisory = Array.isArray(lock);
    const session = advisory ? 'pid' : 'connection';
    const who = holders.length
      ? holders
          // The holder's name is its own text: quoted as data, so it cannot pose as part of the advice below.
          .map((h) => `${session} ${h.pid}, ${reportedHolderName(advisory, h.applicationName)}, since ${h.since ? h.since.toISOString() : 'unknown'}, ${h.state ?? 'unknown state'}`)
          .join('; ')
      : 'a session that ended before it could be identified';
    const what = advisory ? `advisory lock [${lock[0]}, ${lock[1]}]` : `lock GET_LOCK('${(lock as { name: string }).name}')`;
    super(
      'LOCK_TIMEOUT',
      `Waited ${timeoutMs} ms for the schema-sync ${what}, held by ${who}. ` +
        'Another process is still synchronizing the schema, or is stuck holding the lock. ' +
        `Raise lockTimeoutMs if its sync is legitimately slow, or end that session (${advisory ? 'pg_terminate_backend' : 'KILL'}) if it is stuck.`,
      { cause },
    );
    this.lockKey = advisory ? (lock as readonly [number, number]) : null;
    this.lockName = advisory ? null : (lock as { name: string }).name;
    this.timeoutMs = timeoutMs;
    this.holders = holders;
  }
}

/** The schema could not be brought in line with the entities. The cause chain holds the last database error. */
export class SchemaSyncError extends ResultBackendError {
  readonly attempts: number;

  constructor(message: string, attempts: number, cause: unknown) {
    super('SCHEMA_SYNC_FAILED', message, { cause });
    this.attempts = attempts;
  }
}

/** One column change the synchronizer will not make as TypeORM would, with what is at stake. */
export interface GuardedChange {
  /** `table.column`, or `schema.table.column` outside the default schema: the name `allowDataLoss` takes. */
  column: string;
  /** What TypeORM's statement would do to the stored values, in words. */
  effect: string;
  /** How many stored values (or, for a change that would fail, rows in the way) are at stake. */
  count: number;
  /** The statements TypeORM would run. */
  statements: readonly string[];
  /** What to do instead. */
  remedy: string;
}

function listChanges(changes: readonly GuardedChange[]): string {
  return changes.map((c) => `- ${c.column}: ${c.effect}. Statement: ${c.statements.join('; ')}. ${c.remedy}`).join('\n');
}

/**
 * The sync would destroy or alter stored values, and nobody named the columns
 * in `allowDataLoss`. Thrown under the lock before any DDL ran: the sync's
 * transaction was rolled back and nothing changed.
 */
export class DataLossError extends ResultBackendError {
  readonly changes: readonly GuardedChange[];

  constructor(changes: readonly GuardedChange[]) {
    super(
      'DATA_LOSS',
      `The schema sync would destroy or alter stored values in ${changes.length} column(s):\n${listChanges(changes)}\n` +
        'Nothing was changed: the sync stopped before its first DDL statement. Keep the column as it is in the entity (name: and type: as the database has them), ' +
        'make the change in a migration that moves the values (RENAME COLUMN, ALTER COLUMN … TYPE … USING), ' +
        'or accept the loss for those columns only with allowDataLoss: ["table.column"] (CLI: sync --accept-data-loss table.column).',
    );
    this.changes = changes;
  }
}

/**
 * The sync would fail on the rows the table holds (NULLs where the entity now
 * says NOT NULL, an enum value still in use, duplicates under a new unique
 * key). Thrown under the lock before any DDL ran, instead of the database's
 * error on every start.
 */
export class IncompatibleDataError extends ResultBackendError {
  readonly changes: readonly GuardedChange[];

  constructor(changes: readonly GuardedChange[]) {
    super(
      'INCOMPATIBLE_DATA',
      `The schema sync cannot apply ${changes.length} change(s) to the rows the tables hold now:\n${listChanges(changes)}\n` +
        'Nothing was changed: the sync stopped before its first DDL statement. Fix the rows first (or give the column a default), then start again.',
    );
    this.changes = changes;
  }
}

/** The tables exist but their id sequences do not, and this database role may not create them. */
export class MissingSequenceError extends ResultBackendError {
  readonly statements: readonly string[];

  constructor(statements: readonly string[], cause: unknown) {
    super(
      'MISSING_SEQUENCE',
      'The result tables draw their ids from sequences that do not exist (the tables were made by plain synchronize, ' +
        'typeorm schema:sync or a generated migration), and this role is not allowed to create them. ' +
        `Create them once as the schema's owner (${statements.join('; ')}), or run SafeSynchronizer, or call createIdSequences(queryRunner) in a migration.`,
      { cause },
    );
    this.statements = statements;
  }
}

/** A table of the package's own (the first-seen times cleanup keeps) does not exist, and this database role may not create it. */
export class MissingTableError extends ResultBackendError {
  readonly statement: string;

  constructor(
    statement: string,
    cause: unknown,
    purpose = 'cleanup() keeps the age of unfinished tasks in a table of its own beside the task table, which does not exist yet',
  ) {
    super('MISSING_TABLE', `${purpose}, and this role is not allowed to create it. Create it once as the schema's owner: ${statement}.`, { cause });
    this.statement = statement;
  }
}

/** An argument of a ResultBackend call that cannot be stored as given. Nothing was written. */
export class InvalidArgumentError extends ResultBackendError {
  constructor(message: string, code = 'INVALID_ARGUMENT') {
    super(code, message);
  }
}

/** A task id that is not a non-empty string of at most 155 characters (Celery's column width). */
export class InvalidTaskIdError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, 'INVALID_TASK_ID');
  }
}

/** A state that is neither one of Celery's nor registered in `customStates`. */
export class UnknownStateError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, 'UNKNOWN_STATE');
  }
}

/** A value the codec cannot encode so that it reads back unchanged. */
export class UnencodableResultError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, 'UNENCODABLE_RESULT');
  }
}

/** An encoded payload larger than `maxPayloadBytes`. */
export class PayloadTooLargeError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, 'PAYLOAD_TOO_LARGE');
  }
}

/** Stored bytes that the codec cannot decode. */
export class ResultDecodeError extends ResultBackendError {
  /** The row and column whose bytes could not be decoded, when the bytes came from a stored row. */
  readonly row: DecodeLocation | null;

  constructor(message: string, options?: { cause?: unknown; row?: DecodeLocation }) {
    super('RESULT_DECODE_FAILED', message, options);
    this.row = options?.row ?? null;
  }
}

/** Which stored value a {@link ResultDecodeError} is about. */
export interface DecodeLocation {
  kind: 'task' | 'group';
  /** The task id or group id of the row. */
  id: string;
  column: 'result' | 'args' | 'kwargs';
}

/** `waitForResult` or `joinGroup` ran out of time. The task may still finish later. */
export class WaitTimeoutError extends ResultBackendError {
  readonly taskIds: readonly string[];
  readonly timeoutMs: number;

  constructor(taskIds: readonly string[], timeoutMs: number) {
    const which = taskIds.length === 1 ? `task ${taskIds[0]}` : `${taskIds.length} tasks (first: ${taskIds[0]})`;
    super(
      'WAIT_TIMEOUT',
      `Waited ${timeoutMs} ms for ${which} to reach a ready state (SUCCESS, FAILURE or REVOKED), and it has not. ` +
        'It may still be queued or running. Wait again with a longer timeoutMs, or check that a worker is consuming the task.',
    );
    this.taskIds = taskIds;
    this.timeoutMs = timeoutMs;
  }
}

/** The task ended in FAILURE; the stored error is on this object, in Celery's shape. */
export class TaskFailedError extends ResultBackendError {
  readonly taskId: string;
  readonly excType: string;
  readonly excMessage: readonly unknown[];
  readonly excModule: string | null;
  readonly traceback: string | null;

  constructor(taskId: string, stored: { excType: string; excMessage: readonly unknown[]; excModule: string | null }, traceback: string | null) {
    // The args are stored data, so possibly hostile: rendered under a budget (a shared-reference DAG, a cycle or a
    // 60 MB int must not stall the caller or flood a log), while excMessage keeps them as they were.
    super('TASK_FAILED', `Task ${taskId} failed with ${renderText(stored.excType)}: ${renderArgs(stored.excMessage)}. ` +
      'The task raised this error itself; see traceback for where. Pass { propagate: false } to receive the error as a value instead.');
    this.taskId = taskId;
    this.excType = stored.excType;
    this.excMessage = stored.excMessage;
    this.excModule = stored.excModule;
    this.traceback = traceback;
  }
}

/** The task was revoked before it finished. */
export class TaskRevokedError extends ResultBackendError {
  readonly taskId: string;

  constructor(taskId: string) {
    super('TASK_REVOKED', `Task ${taskId} was revoked, so it has no result. Pass { propagate: false } to receive its stored state instead.`);
    this.taskId = taskId;
  }
}

/** `joinGroup` or `restoreGroup` named a group that was never saved, or was deleted. */
export class GroupNotFoundError extends ResultBackendError {
  readonly groupId: string;

  constructor(groupId: string) {
    super('GROUP_NOT_FOUND', `No group ${groupId} is stored. Save it with saveGroup(groupId, taskIds) before joining it, or check that it was not deleted or expired.`);
    this.groupId = groupId;
  }
}

/** The ResultBackend was closed while a call was waiting. */
export class BackendClosedError extends ResultBackendError {
  constructor() {
    super('BACKEND_CLOSED', 'The ResultBackend was closed while this call was waiting. Create a new ResultBackend, or close it only after pending waits settle.');
  }
}

/** A database error that is not transient, or a transient one that outlived its retries. */
export class DatabaseError extends ResultBackendError {
  readonly pgCode: string | undefined;

  constructor(operation: string, pgCode: string | undefined, attempts: number, cause: unknown, refined?: { code: string; advice: string }) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(
      refined?.code ?? 'DATABASE_ERROR',
      `${operation} failed with ${pgCode ? `SQLSTATE ${pgCode}` : 'a connection error'} after ${attempts} attempt(s): ${message}. ` +
        (refined?.advice ??
          (attempts > 1 ? 'The error is transient but persisted; check the database and the network.' : 'It is not a transient error, so it was not retried; the cause holds the details.')),
      { cause },
    );
    this.pgCode = pgCode;
  }
}

/**
 * The role the DataSource logs in as lacks a privilege the operation needs.
 * Nothing was written. `grant` is the statement that would allow it, for the
 * object's owner to run; the README's privilege table lists what each role needs.
 */
export class PermissionDeniedError extends DatabaseError {
  readonly operation: string;
  /** The object the database named, with its kind ("table celery_taskmeta"), when it named one. */
  readonly object: string | undefined;
  readonly grant: string;

  constructor(operation: string, pgCode: string | undefined, found: { role: string; object: string | undefined; grant: string }, cause: unknown) {
    super(operation, pgCode, 1, cause, {
      code: 'PERMISSION_DENIED',
      advice:
        `The role ${found.role} may not do what "${operation}" needs${found.object ? ` on ${found.object}` : ''}, so the database refused it and nothing was written. ` +
        `As the owner of that object (the role that installed the tables), run: ${found.grant}`,
    });
    this.operation = operation;
    this.object = found.object;
    this.grant = found.grant;
  }
}

const RELKIND_NAMES: Record<string, string> = { r: 'table', S: 'sequence', v: 'view', m: 'materialized view', p: 'partitioned table', f: 'foreign table', i: 'index', c: 'composite type' };

/**
 * An object the package would make with IF NOT EXISTS (a side table, a
 * sequence, a wake-up function) already exists and is not the package's: made
 * by a role it does not trust, or not the shape it makes (a view, triggers,
 * rules, row security of its own). It is refused, not adopted: whatever its
 * owner attached to it would run as every role that uses it. Nothing was written.
 */
export class ForeignObjectError extends ResultBackendError {
  /** `table`, `sequence` or `function`. */
  readonly kind: string;
  /** The object, quoted and schema-qualified (a function with its argument types). */
  readonly object: string;
  readonly owner: string;
  readonly problem: 'owner' | 'kind' | 'triggers' | 'rules' | 'row security';

  constructor(found: { kind: string; name: string; owner: string; problem: ForeignObjectError['problem']; found: string | null; role: string }) {
    const what = `The ${found.kind} ${found.name} already exists, owned by the role "${found.owner}"`;
    const why: Record<ForeignObjectError['problem'], string> = {
      owner: `, which is neither this role ("${found.role}"), a role it is a member of, a superuser, nor the owner of the task table`,
      kind: `, but it is a ${RELKIND_NAMES[found.found ?? ''] ?? `relation of kind ${JSON.stringify(found.found)}`}, not the ${found.kind} the package makes`,
      triggers: ', with triggers the package did not make',
      rules: ', with rewrite rules the package did not make',
      'row security': ', with row-level security the package did not enable',
    };
    const alter = found.kind === 'function' ? 'FUNCTION' : found.kind === 'sequence' ? 'SEQUENCE' : 'TABLE';
    const fix =
      found.problem === 'owner'
        ? `Check what it is, then drop it (DROP ${alter} ${found.name}) or give it to a trusted role (ALTER ${alter} ${found.name} OWNER TO "${found.role}"), and start again.`
        : `Check what it is, then drop it (DROP ${alter} ${found.name}) so that the package makes its own, and start again.`;
    super(
      'FOREIGN_OBJECT',
      `${what}${why[found.problem]}. The package refuses to adopt it, because whatever its owner attaches to it (triggers, rules, policies) ` +
        `would run as every role that uses the package. Nothing was written. ${fix}`,
    );
    this.kind = found.kind;
    this.object = found.name;
    this.owner = found.owner;
    this.problem = found.problem;
  }
}
