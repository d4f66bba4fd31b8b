/**
 * Which database a DataSource speaks, and what each part of the package
 * supports there. Everything that differs between databases (SQL text, the
 * schema lock, error classification, how waits learn of results) lives in
 * one folder per dialect beside this file; the sync loop, the retry and
 * convergence rule, and the result store's API are shared.
 */
import { UnsupportedDriverError } from '../errors';

export type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** TypeORM driver types, by the dialect this package treats them as. */
export const DRIVER_DIALECTS: Readonly<Record<string, DialectName>> = Object.freeze({
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  sqlite: 'sqlite',
  'better-sqlite3': 'sqlite',
});

/** What each part needs: the synchronizer and migrator run everywhere above; the result store needs a server database. */
export const SUPPORTED: Readonly<Record<'sync' | 'migrate' | 'backend', readonly DialectName[]>> = Object.freeze({
  sync: ['postgres', 'mysql', 'sqlite'],
  migrate: ['postgres', 'mysql', 'sqlite'],
  backend: ['postgres', 'mysql'],
});

const PART_NAMES = { sync: 'SafeSynchronizer', migrate: 'SafeMigrator', backend: 'ResultBackend' } as const;

/** The dialect of a DataSource, or UnsupportedDriverError naming the driver types that part supports. */
export function dialectOf(dataSource: { options?: { type?: unknown } } | null | undefined, part: keyof typeof SUPPORTED): DialectName {
  const type = String(dataSource?.options?.type);
  const dialect = Object.prototype.hasOwnProperty.call(DRIVER_DIALECTS, type) ? DRIVER_DIALECTS[type] : undefined;
  if (dialect && SUPPORTED[part].includes(dialect)) return dialect;
  const types = Object.keys(DRIVER_DIALECTS).filter((t) => SUPPORTED[part].includes(DRIVER_DIALECTS[t]));
  throw new UnsupportedDriverError(type, PART_NAMES[part], types);
}
