import { DataSource, MigrationExecutor } from 'typeorm';
import { NotInitializedError } from '../errors';
import { DialectName, dialectOf } from '../dialects';
import { checkLockOptions, planSchemaLock } from '../dialects/schema-lock';
import { MigrationTransactionMode, ResolvedSchemaLockOptions, SafeMigratorOptions, resolveSafeMigratorOptions } from '../options';
import type { LockKey } from '../dialects/postgres/advisory-lock';

/** What one call to {@link SafeMigrator.run} did. */
export interface MigrationRunResult {
  /** The migrations this process ran, in order; empty when another process had run them all. */
  executed: string[];
  /** The transaction mode they ran in. */
  transaction: MigrationTransactionMode;
  /** Milliseconds spent waiting for the advisory lock. */
  lockWaitMs: number;
  /** Wall time, lock wait included, in milliseconds. */
  durationMs: number;
  /** The PostgreSQL advisory lock key; null on MySQL/MariaDB and SQLite. */
  lockKey: LockKey | null;
  /** The MySQL/MariaDB GET_LOCK name; null on PostgreSQL and SQLite. */
  lockName: string | null;
}

/**
 * Runs TypeORM's pending migrations under the same advisory lock as
 * {@link SafeSynchronizer}, so each migration's `up()` commits exactly once
 * however many processes start together.
 *
 * TypeORM's MigrationExecutor creates its table and reads the list of executed
 * migrations before its own transaction begins, so the lock has to be taken
 * before the executor starts, and held until it is done. A connection of its
 * own holds it, in an open transaction (see holdLockOnOwnConnection): that
 * covers every transaction mode, "all", "each" and "none", keeps TypeORM's own
 * semantics for each, and stays safe behind PgBouncer in transaction mode.
 */
export class SafeMigrator {
  private readonly options: ResolvedSchemaLockOptions & { transaction: MigrationTransactionMode };
  private readonly dialect: DialectName;

  constructor(
    private readonly dataSource: DataSource,
    options?: SafeMigratorOptions,
  ) {
    this.dialect = dialectOf(dataSource, 'migrate');
    this.options = resolveSafeMigratorOptions(options, dataSource.options.migrationsTransactionMode);
    checkLockOptions(this.dialect, this.options);
  }

  /** The names of the migrations not run yet, in the order they would run. Reads only; creates nothing. */
  async pending(): Promise<string[]> {
    this.requireInitialized('SafeMigrator.pending');
    const executor = new MigrationExecutor(this.dataSource);
    // TypeORM 0.3.20 to 0.3.2x create the migrations table in getPendingMigrations, outside any lock (the startup
    // race); 0.3.31 and 1.x answer from hasTable. Without the table every migration is pending.
    const internals = executor as unknown as ExecutorInternals;
    const runner = this.dataSource.createQueryRunner();
    try {
      if (!(await runner.hasTable(internals.migrationsTable))) return internals.getMigrations().map((m) => m.name);
    } finally {
      await runner.release();
    }
    return (await executor.getPendingMigrations()).map((m) => m.name);
  }

  /** Runs every pending migration under the lock. Resolves to those this process ran. */
  async run(): Promise<MigrationRunResult> {
    this.requireInitialized('SafeMigrator.run');
    const { logger, transaction } = this.options;
    const started = performance.now();
    const plan = await planSchemaLock(this.dataSource, this.dialect, this.options);
    const held = await plan.hold(logger);
    try {
      const executor = new MigrationExecutor(this.dataSource);
      executor.transaction = transaction;
      const executed = (await executor.executePendingMigrations()).map((m) => m.name);
      const result: MigrationRunResult = { executed, transaction, lockWaitMs: held.lockWaitMs, durationMs: performance.now() - started, lockKey: plan.lockKey, lockName: plan.lockName };
      logger.info('migrations run', { executed: executed.length, transaction, lockWaitMs: Math.round(held.lockWaitMs) });
      return result;
    } finally {
      await held.release();
    }
  }

  private requireInitialized(purpose: string): void {
    if (!this.dataSource.isInitialized) throw new NotInitializedError(purpose);
  }
}

/** MigrationExecutor's own table path and migration list, the same in typeorm 0.3.x and 1.x (protected there). */
interface ExecutorInternals {
  migrationsTable: string;
  getMigrations(): { name: string }[];
}
