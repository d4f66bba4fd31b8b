import type { DataSource } from 'typeorm';
import { AbstractMySqlTaskMeta, AbstractMySqlTaskSetMeta } from '../../../entities/mysql-task-meta';
import type { Queryable } from '../../query';
import { qualifiedMySql, relationExistsSql } from './backend-sql';

/**
 * Celery's sequences on MariaDB, for the entities that draw their ids from
 * one (`idSequence` set): the sync creates them under its lock, before
 * TypeORM's build, because Celery's own `create_all` only creates a sequence
 * together with its table, and would then fail on every store with "Unknown
 * SEQUENCE" against a table the sync made.
 */
export function mysqlSequences(dataSource: DataSource): { database: string | undefined; name: string }[] {
  const found = new Map<string, { database: string | undefined; name: string }>();
  for (const metadata of dataSource.entityMetadatas) {
    const target = metadata.target;
    if (typeof target !== 'function') continue;
    if (!(target.prototype instanceof AbstractMySqlTaskMeta || target.prototype instanceof AbstractMySqlTaskSetMeta)) continue;
    const name = (target as unknown as { idSequence: string | null }).idSequence;
    if (name) found.set(`${metadata.database ?? ''}.${name}`, { database: metadata.database, name });
  }
  return [...found.values()];
}

/** As Celery's: START WITH 1, MariaDB's defaults otherwise. */
export function createSequenceSql(database: string | undefined, name: string): string {
  return `CREATE SEQUENCE IF NOT EXISTS ${qualifiedMySql(database, name)}`;
}

/** The CREATE SEQUENCE statements still needed. */
export async function missingSequenceStatements(runner: Queryable, dataSource: DataSource): Promise<string[]> {
  const statements: string[] = [];
  for (const { database, name } of mysqlSequences(dataSource)) {
    const q = relationExistsSql(database, name, 'SEQUENCE');
    const [row] = (await runner.query(q.text, q.values)) as { n: number | string }[];
    if (Number(row.n) === 0) statements.push(createSequenceSql(database, name));
  }
  return statements;
}

/** Creates the missing sequences; resolves to the statements run. */
export async function createMySqlSequences(runner: Queryable, dataSource: DataSource): Promise<string[]> {
  const statements = await missingSequenceStatements(runner, dataSource);
  for (const statement of statements) await runner.query(statement);
  return statements;
}
