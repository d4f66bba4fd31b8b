import type { DataSource, QueryRunner } from 'typeorm';
import { MissingSequenceError, MissingTableError } from '../../errors';
import { PgCode, findPgError } from './codes';
import { runSql } from '../../query';
import { acquireTransactionLock, planLock } from './advisory-lock';
import { isConcurrentCreateError } from './classify';
import { EntitySequence, entitySequences, sequenceObjects } from './prerequisites';
import { refuseForeignObjects } from './ownership';
import { createSequenceSql, dropSequenceSql, missingSequencesSql } from './sync-sql';

type Sequence = EntitySequence;

/** Creates the missing sequences, then refuses any of them that is not ours (or the table owner's). */
async function createMissing(runner: QueryRunner, sequences: readonly Sequence[]): Promise<string[]> {
  const missing = sequences.length ? await runSql<Sequence>(runner, missingSequencesSql(sequences)) : [];
  const statements = missing.map((s) => createSequenceSql(s.schema, s.name));
  for (const statement of statements) await runner.query(statement);
  await refuseForeignObjects(runner, sequenceObjects(sequences));
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
 * Runs `create` in a READ COMMITTED transaction that first takes the schema
 * lock, so processes creating the same objects at once queue instead of
 * colliding on the catalog. Resolves to true when something was created, here
 * or by a process outside the lock (Celery's create_all) at the same moment.
 * A role that may not create objects gets `denied(error)`.
 */
export async function createUnderSchemaLock(
  dataSource: DataSource,
  lockTimeoutMs: number,
  create: (runner: QueryRunner) => Promise<boolean>,
  denied: (error: unknown) => Error,
): Promise<boolean> {
  const plan = await planLock(dataSource, undefined, lockTimeoutMs);
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction('READ COMMITTED');
    await acquireTransactionLock(runner, plan);
    const created = await create(runner);
    await runner.commitTransaction();
    return created;
  } catch (error) {
    // A lost connection cannot roll back, and needs not: the server has. Its error is the one to report.
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    if (isConcurrentCreateError(error)) return true;
    if (findPgError(error)?.code === PgCode.INSUFFICIENT_PRIVILEGE) throw denied(error);
    throw error;
  } finally {
    await runner.release();
  }
}

/**
 * Creates missing id sequences, for tables that plain `synchronize: true`,
 * `typeorm schema:sync` or a generated migration made. Resolves to whether the
 * caller should try its statement again.
 */
export async function ensureSequences(dataSource: DataSource, sequences: readonly Sequence[], lockTimeoutMs: number): Promise<boolean> {
  return createUnderSchemaLock(
    dataSource,
    lockTimeoutMs,
    async (runner) => (await createMissing(runner, sequences)).length > 0,
    (error) => new MissingSequenceError(sequences.map((s) => createSequenceSql(s.schema, s.name)), error),
  );
}

/** Runs one `CREATE … IF NOT EXISTS` of the package's own; a role that may not gets a MissingTableError with the statement. */
export async function ensureBackendTable(dataSource: DataSource, statement: string, lockTimeoutMs: number): Promise<void> {
  await createUnderSchemaLock(
    dataSource,
    lockTimeoutMs,
    async (runner) => (await runner.query(statement), true),
    (error) => new MissingTableError(statement, error),
  );
}
