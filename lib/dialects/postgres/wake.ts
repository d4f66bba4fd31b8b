import type { DataSource, QueryRunner } from 'typeorm';
import { AbstractTaskMeta } from '../../../entities/abstract-task-meta';
import { MissingTableError } from '../../errors';
import { Queryable, runSql } from '../../query';
import { schemaOf } from '../../schemas';
import { createUnderSchemaLock } from './sequences';
import { refuseForeignObjects } from './ownership';
import { WakeNames, dropWakeStatements, wakeFunctionStatements, wakeInstalledSql, wakeNames, wakeOwnedObjects, wakeStatements, wakeTableStatements } from './wake-sql';

/** The wake-up objects of every task table the DataSource syncs (entities that extend AbstractTaskMeta). */
export function wakeTargets(dataSource: DataSource): WakeNames[] {
  return dataSource.entityMetadatas
    .filter((m) => m.synchronize && typeof m.target === 'function' && m.target.prototype instanceof AbstractTaskMeta)
    .map((m) => wakeNames(schemaOf(dataSource, m), m.tableName));
}

export interface WakeState {
  /** The interest table, the functions as this version makes them, and the trigger are in place. */
  installed: boolean;
  /** This role may call the functions that record and drop waits (the owner, or granted EXECUTE). */
  mayWait: boolean;
  /** The role asking: what a GRANT would name. */
  role: string;
}

export async function wakeState(runner: Queryable, names: WakeNames): Promise<WakeState> {
  const [row] = await runSql<{ installed: boolean; may_wait: boolean; role: string }>(runner, wakeInstalledSql(names));
  return { installed: row.installed === true, mayWait: row.may_wait === true, role: row.role };
}

export async function isWakeInstalled(runner: Queryable, names: WakeNames): Promise<boolean> {
  return (await wakeState(runner, names)).installed;
}

/** The statements that would install what is missing, without running them. */
export async function missingWakeStatements(runner: Queryable, targets: readonly WakeNames[]): Promise<string[]> {
  const statements: string[] = [];
  for (const names of targets) if (!(await isWakeInstalled(runner, names))) statements.push(...wakeStatements(names));
  return statements;
}

/**
 * Installs what is missing; the task tables must exist. The side tables that
 * exist (or were just made) and any functions of the same names must be the
 * package's own before anything else runs (a ForeignObjectError otherwise).
 * Resolves to the statements it ran.
 */
export async function installWake(runner: Queryable, targets: readonly WakeNames[]): Promise<string[]> {
  const executed: string[] = [];
  for (const names of targets) {
    if (await isWakeInstalled(runner, names)) continue;
    for (const statement of wakeTableStatements(names)) await runner.query(statement);
    await refuseForeignObjects(runner, wakeOwnedObjects(names));
    for (const statement of wakeFunctionStatements(names)) await runner.query(statement);
    executed.push(...wakeStatements(names));
  }
  return executed;
}

/**
 * For a ResultBackend on tables the synchronizer did not make (plain
 * `synchronize: true`, a migration): installs the wake-up objects once, under
 * the schema lock. A role that may not gets a MissingTableError naming the statements.
 */
export async function ensureWake(dataSource: DataSource, names: WakeNames, lockTimeoutMs: number): Promise<void> {
  await createUnderSchemaLock(
    dataSource,
    lockTimeoutMs,
    async (runner) => (await installWake(runner, [names])).length > 0,
    (error) =>
      new MissingTableError(
        wakeStatements(names).join(';\n'),
        error,
        'Waiters are woken by a trigger on the task table and a table of interests beside it, which do not exist yet',
      ),
  );
}

/**
 * For a migration's `up()`: installs the wake-up trigger and interest table on
 * every task table the DataSource registers, which `typeorm migration:generate`
 * cannot express. Idempotent; the task tables must exist. Resolves to the statements it ran.
 */
export async function createWakeTriggers(queryRunner: QueryRunner): Promise<string[]> {
  return installWake(queryRunner, wakeTargets(queryRunner.connection));
}

/** For a migration's `down()`: removes what {@link createWakeTriggers} installs. */
export async function dropWakeTriggers(queryRunner: QueryRunner): Promise<void> {
  for (const names of wakeTargets(queryRunner.connection)) for (const statement of dropWakeStatements(names)) await queryRunner.query(statement);
}
