import type { DataSource } from 'typeorm';
import { PermissionDeniedError } from '../errors';
import { quoteIdent } from '../query';
import { PgCode, findPgError } from '../dialects/postgres/codes';
import { MySqlErrno, findMySqlError } from '../dialects/mysql/codes';

/**
 * What each of the backend's operations needs on the table it touches. The
 * README's privilege table says the same for people; this is the one place for code.
 * (SELECT wherever a statement reads rows: an upsert's WHERE, RETURNING, a DELETE's subquery.)
 */
const TABLE_PRIVILEGES: Readonly<Record<string, string>> = {
  'store result': 'SELECT, INSERT, UPDATE',
  'save group': 'SELECT, INSERT, UPDATE',
  'read task': 'SELECT',
  'read tasks': 'SELECT',
  'restore group': 'SELECT',
  'forget task': 'SELECT, DELETE',
  'delete group': 'SELECT, DELETE',
  'clean up tasks': 'SELECT, DELETE',
  'clean up groups': 'SELECT, DELETE',
  'clean up abandoned tasks': 'SELECT, DELETE',
  'forget first-seen times': 'SELECT, DELETE',
  'record first-seen times': 'SELECT, INSERT',
};

/** What other kinds of object need, whatever the operation. */
const KIND_PRIVILEGES: Readonly<Record<string, string>> = { sequence: 'USAGE', schema: 'USAGE', function: 'EXECUTE' };

const PG_DENIED = /permission denied for (table|view|sequence|schema|function) (.+)$/;
const MYSQL_DENIED = /for table [`']?(?:[^`'.]+[`']?\.[`']?)?([^`']+)[`']?\s*$/;

/** Whether the database refused a statement for a missing grant (PostgreSQL 42501, MySQL/MariaDB 1044/1142/1143). */
export function isPermissionDenied(error: unknown): boolean {
  if (findPgError(error)?.code === PgCode.INSUFFICIENT_PRIVILEGE) return true;
  const errno = findMySqlError(error)?.errno;
  return errno === MySqlErrno.DBACCESS_DENIED || errno === MySqlErrno.TABLEACCESS_DENIED || errno === MySqlErrno.COLUMNACCESS_DENIED;
}

/** The typed error for a refused statement, with the GRANT that would allow it. */
export function permissionDenied(operation: string, error: unknown, role: string): PermissionDeniedError {
  const message = error instanceof Error ? error.message : String(error);
  const pg = PG_DENIED.exec(message);
  const my = pg ? null : MYSQL_DENIED.exec(message);
  const kind = pg ? (pg[1] === 'view' ? 'table' : pg[1]) : my ? 'table' : undefined;
  const name = pg?.[2] ?? my?.[1];
  const privileges = (kind && KIND_PRIVILEGES[kind]) ?? TABLE_PRIVILEGES[operation] ?? 'the privileges in the README table';
  const target = kind && name ? `${kind.toUpperCase()} ${name}` : 'the table';
  const grant = `GRANT ${privileges} ON ${target} TO ${quoteIdent(role)}`;
  const code = findPgError(error)?.code ?? findMySqlError(error)?.code;
  return new PermissionDeniedError(operation, code, { role, object: kind && name ? `${kind} ${name}` : undefined, grant }, error);
}

/** The role a DataSource logs in as, for messages: never its password. */
export function loginRole(dataSource: DataSource): string {
  const options = dataSource.options as { username?: string; url?: string };
  if (options.username) return options.username;
  try {
    if (options.url) return decodeURIComponent(new URL(options.url).username) || 'the role this DataSource logs in as';
  } catch {
    // An unparsable URL: TypeORM would have failed to connect with it anyway.
  }
  return 'the role this DataSource logs in as';
}
