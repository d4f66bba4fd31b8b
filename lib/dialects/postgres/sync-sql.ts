/**
 * Every SQL statement the synchronizer sends, as pure functions, so the text
 * is unit-tested and reviewed in one place.
 */

import { SqlQuery, qualified, quoteIdent } from '../../query';

export type { SqlQuery };

/** First half of the default key: the package's namespace, fixed so it never meets an application's bigint locks. */
export const SYNC_LOCK_NAMESPACE = 0x54524253; // "TRBS"


/**
 * Reads the settings we override and derives the default second key half from
 * the database and the synced schemas, so two databases on one server, or two
 * schema sets in one database, never wait for each other.
 */
export function prepareLockSql(schemas: readonly string[]): SqlQuery {
  return {
    text:
      "SELECT hashtext(current_database() || ':' || $1::text) AS derived_key, " +
      "current_setting('lock_timeout') AS lock_timeout, " +
      "current_setting('statement_timeout') AS statement_timeout",
    values: [schemas.join(',')],
  };
}

/**
 * lock_timeout bounds the wait; statement_timeout is lifted for it so that an
 * application-wide statement_timeout cannot cut the wait short of lockTimeoutMs.
 * Both are transaction-local: they end with the transaction whatever happens.
 */
export function setLockWaitSettingsSql(lockTimeoutMs: number): SqlQuery {
  return {
    text: "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', '0', true)",
    values: [`${lockTimeoutMs}ms`],
  };
}

export function restoreSettingsSql(lockTimeout: string, statementTimeout: string): SqlQuery {
  return {
    text: "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)",
    values: [lockTimeout, statementTimeout],
  };
}

/** A transaction that only holds a lock idles while others work; a server-wide idle timeout must not end it. */
export function holdLockSettingsSql(): string {
  return "SET LOCAL idle_in_transaction_session_timeout = 0";
}

export function advisoryXactLockSql(key: readonly [number, number]): SqlQuery {
  return { text: 'SELECT pg_advisory_xact_lock($1::int4, $2::int4)', values: [key[0], key[1]] };
}

/** One non-blocking attempt: true when the lock is now held by this transaction. */
export function tryAdvisoryXactLockSql(key: readonly [number, number]): SqlQuery {
  return { text: 'SELECT pg_try_advisory_xact_lock($1::int4, $2::int4) AS locked', values: [key[0], key[1]] };
}

/** Resets the isolation level before the transaction's first snapshot, whatever the DataSource asked for. */
export const READ_COMMITTED_SQL = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED';

/**
 * Who holds a two-int advisory lock. pg_locks shows the halves as unsigned oids
 * with objsubid 2, hence the unsigned parameters.
 */
export function lockHoldersSql(key: readonly [number, number]): SqlQuery {
  return {
    text:
      'SELECT a.pid, a.application_name, COALESCE(a.xact_start, a.backend_start) AS since, a.state ' +
      'FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid ' +
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 " +
      'AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ' +
      'AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid AND a.pid <> pg_backend_pid()',
    values: [key[0] >>> 0, key[1] >>> 0],
  };
}

export function missingSchemasSql(schemas: readonly string[]): SqlQuery {
  return {
    text: 'SELECT s.name FROM unnest($1::text[]) AS s(name) WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = s.name)',
    values: [schemas],
  };
}

export function createSchemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`;
}

export function missingSequencesSql(sequences: readonly { schema: string; name: string }[]): SqlQuery {
  return {
    text:
      'SELECT s.schema, s.name FROM unnest($1::text[], $2::text[]) AS s(schema, name) ' +
      "WHERE to_regclass(quote_ident(s.schema) || '.' || quote_ident(s.name)) IS NULL",
    values: [sequences.map((s) => s.schema), sequences.map((s) => s.name)],
  };
}

/** Same shape as Celery's sequences: not OWNED BY a column, so either side may create the table. */
export function createSequenceSql(schema: string, name: string): string {
  return `CREATE SEQUENCE IF NOT EXISTS ${qualified(schema, name)}`;
}

export function dropSequenceSql(schema: string, name: string): string {
  return `DROP SEQUENCE IF EXISTS ${qualified(schema, name)}`;
}

export function missingExtensionsSql(extensions: readonly string[]): SqlQuery {
  return {
    text: 'SELECT e.name FROM unnest($1::text[]) AS e(name) WHERE NOT EXISTS (SELECT 1 FROM pg_extension x WHERE x.extname = e.name)',
    values: [extensions],
  };
}

export function createExtensionSql(extension: string): string {
  return `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(extension)}`;
}

export function savepointSql(name: string): string {
  return `SAVEPOINT ${quoteIdent(name)}`;
}

export function releaseSavepointSql(name: string): string {
  return `RELEASE SAVEPOINT ${quoteIdent(name)}`;
}

export function rollbackToSavepointSql(name: string): string {
  return `ROLLBACK TO SAVEPOINT ${quoteIdent(name)}`;
}
