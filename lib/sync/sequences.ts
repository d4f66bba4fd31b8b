import type { DataSource, QueryRunner } from 'typeorm';
import { MissingSequenceError, MissingTableError } from '../errors';
import { PgCode, findPgError } from '../pg-codes';
import { runSql } from '../query';
import { acquireTransactionLock, planLock } from './advisory-lock';
import { isConcurrentCreateError } from './classify';
import { entitySequences } from './prerequisites';
import { createSequenceSql, dropSequenceSql, missingSequencesSql } from './sql';

type Sequence = { schema: string; name: string };

async function createMissing(runner: QueryRunner, sequences: readonly Sequence[]): Promise<string[]> {
  const missing = sequences.length ? await runSql<Sequence>(runner, missingSequencesSql(sequences)) : [];
  const statements = missing.map((s) => createSequenceSql(s.schema, s.name));
  for (const statement of statements) await runner.query(statement);
  return statements;
}

/**
 * For a migration's `up()`: creates the id sequences that the DataSource's
 * entities name (Celery's `task_id_sequence` and `taskset_id_sequence`), which
 * `typeorm migration:generate` cannot express. Idempotent.
 * Resolves to the statements it ran.
 */
export async function createIdSequences(queryRunner: QueryRunner): Promise<string[]> {
  return createMissing(queryRunner, entitySequences(queryRunner.connection));
}

/** For a migration's `down()`: drops the id sequences that {@link createIdSequences} creates. */
export async function dropIdSequences(queryRunner: QueryRunner): Promise<void> {
  for (const s of entitySequences(queryRunner.connection)) await queryRunner.query(dropSequenceSql(s.schema, s.name));
}

/**
 * Creates missing id sequences under the schema lock, for tables that plain
 * `synchronize: true`, `typeorm schema:sync` or a generated migration made.
 * Resolves to whether the caller should try its statement again: true when
 * a sequence was created here, or by another process at the same moment.
 */
export async function ensureSequences(dataSource: DataSource, sequences: readonly Sequence[], lockTimeoutMs: number): Promise<boolean> {
  const plan = await planLock(dataSource, undefined, lockTimeoutMs);
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction('READ COMMITTED');
    await acquireTransactionLock(runner, plan);
    const created = await createMissing(runner, sequences);
    await runner.commitTransaction();
    return created.length > 0;
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    // Celery's create_all does not take our lock; if it won, the sequence is there now.
    if (isConcurrentCreateError(error)) return true;
    if (findPgError(error)?.code === PgCode.INSUFFICIENT_PRIVILEGE) throw new MissingSequenceError(sequences.map((s) => createSequenceSql(s.schema, s.name)), error);
    throw error;
  } finally {
    await runner.release();
  }
}

/**
 * Runs one `CREATE … IF NOT EXISTS` of the package's own under the schema
 * lock, so that processes creating it at once do not collide on the catalog.
 * A role that may not create it gets a MissingTableError with the statement to run.
 */
export async function ensureBackendTable(dataSource: DataSource, statement: string, lockTimeoutMs: number): Promise<void> {
  const plan = await planLock(dataSource, undefined, lockTimeoutMs);
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction('READ COMMITTED');
    await acquireTransactionLock(runner, plan);
    await runner.query(statement);
    await runner.commitTransaction();
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    if (isConcurrentCreateError(error)) return;
    if (findPgError(error)?.code === PgCode.INSUFFICIENT_PRIVILEGE) throw new MissingTableError(statement, error);
    throw error;
  } finally {
    await runner.release();
  }
}
