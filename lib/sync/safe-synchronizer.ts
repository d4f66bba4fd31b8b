import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import { InvalidOptionError, SchemaSyncError, assertPostgres } from '../errors';
import { ResolvedSafeSynchronizerOptions, SafeSynchronizerOptions, resolveSafeSynchronizerOptions } from '../options';
import { LockKey, LockPlan, acquireSessionLock, acquireTransactionLock, planLock, releaseSessionLock } from './advisory-lock';
import { isConcurrentCreateError, isRetryableSyncError } from './classify';
import { createPrerequisites, syncedSchemas } from './prerequisites';
import { READ_COMMITTED_SQL } from './sql';

/** What one call to {@link SafeSynchronizer.synchronize} did. */
export interface SyncResult {
  /** True when this process executed DDL; false when it found the schema already in line. */
  changed: boolean;
  /** The DDL statements this process executed, in order. */
  statements: string[];
  /** Milliseconds spent waiting for the advisory lock, over all attempts. */
  lockWaitMs: number;
  /** Attempts made: 1 unless a process outside the lock created objects first. */
  attempts: number;
  /** Wall time of the whole sync, in milliseconds. */
  durationMs: number;
  lockKey: LockKey;
}

/** The part of TypeORM's RdbmsSchemaBuilder we drive; all of it is public in typeorm 1.x. */
interface SchemaBuilderHooks {
  build(): Promise<void>;
  log(): Promise<{ upQueries: { query: string }[] }>;
  createMetadataTableIfNecessary(queryRunner: QueryRunner): Promise<void>;
}

interface Attempt {
  statements: string[];
  lockWaitMs: number;
}

/**
 * A drop-in replacement for TypeORM's `synchronize: true` that many processes
 * can run at once against one database.
 *
 * The whole sync is one READ COMMITTED transaction that first takes a
 * transaction-scoped advisory lock, before TypeORM reads the catalog: waiters
 * then see the winner's committed tables and find nothing to do. Objects
 * created by processes that do not take the lock show up as duplicate-object
 * errors; those are retried, and count as success only once a fresh diff is empty.
 */
export class SafeSynchronizer {
  private readonly options: ResolvedSafeSynchronizerOptions;

  constructor(
    private readonly dataSource: DataSource,
    options?: SafeSynchronizerOptions,
  ) {
    assertPostgres(dataSource);
    this.options = resolveSafeSynchronizerOptions(options);
  }

  /**
   * Initializes the DataSource as `dataSource.initialize()` would, but runs the
   * schema sync (when `synchronize: true`) through the lock instead of TypeORM's
   * own unguarded one. Resolves to the initialized DataSource.
   */
  static async initialize(dataSource: DataSource, options?: SafeSynchronizerOptions & { onSynchronized?: (result: SyncResult) => void }): Promise<DataSource> {
    const synchronizer = new SafeSynchronizer(dataSource, options);
    if (dataSource.isInitialized) {
      throw new InvalidOptionError(
        'SafeSynchronizer.initialize was given a DataSource that is already initialized, so its schema sync (if any) has already run unguarded. ' +
          'Pass a DataSource that is not initialized yet, or call new SafeSynchronizer(dataSource).synchronize() on this one.',
      );
    }
    const wanted = {
      synchronize: dataSource.options.synchronize,
      installExtensions: (dataSource.options as { installExtensions?: boolean }).installExtensions,
    };
    // TypeORM would sync (and install extensions) inside initialize(), outside any lock: switch
    // both off for the call and do them ourselves under the lock.
    if (wanted.synchronize) dataSource.setOptions({ synchronize: false, installExtensions: false } as Partial<DataSourceOptions>);
    try {
      await dataSource.initialize();
    } finally {
      if (wanted.synchronize) dataSource.setOptions(wanted as Partial<DataSourceOptions>);
    }
    if (!wanted.synchronize) return dataSource;
    try {
      const result = await synchronizer.synchronize();
      options?.onSynchronized?.(result);
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return dataSource;
  }

  /** Brings the schema in line with the entities. The DataSource must be initialized. */
  async synchronize(): Promise<SyncResult> {
    const { logger, maxAttempts } = this.options;
    if (!this.dataSource.isInitialized) {
      throw new InvalidOptionError(
        'SafeSynchronizer.synchronize was called on a DataSource that is not initialized. ' +
          'Call SafeSynchronizer.initialize(dataSource) instead, or initialize it first with synchronize: false.',
      );
    }
    const started = performance.now();
    const plan = await this.plan();
    const statements: string[] = [];
    let lockWaitMs = 0;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        const done = await this.attempt(plan);
        statements.push(...done.statements);
        lockWaitMs += done.lockWaitMs;
        // After a collision with a process outside the lock, our own success is not
        // proof: that process may still be mid-way. Only an empty diff is.
        if (lastError !== undefined) {
          const pending = await this.pendingStatements();
          if (pending.length > 0) {
            lastError = new Error(`schema not converged: ${pending.length} statement(s) still pending, first: ${pending[0]}`);
            logger.debug('schema not converged after a collision; retrying', { attempt, pending: pending.length });
            await this.backoff(attempt);
            continue;
          }
        }
        const result: SyncResult = { changed: statements.length > 0, statements, lockWaitMs, attempts: attempt, durationMs: performance.now() - started, lockKey: plan.key };
        logger.info('schema synchronized', { changed: result.changed, statements: statements.length, lockWaitMs: Math.round(lockWaitMs), attempts: attempt });
        return result;
      } catch (error) {
        if (!isRetryableSyncError(error)) throw error;
        lastError = error;
        logger.debug('another process changed the schema concurrently; retrying', {
          attempt,
          concurrentCreate: isConcurrentCreateError(error),
          error: error instanceof Error ? error.message : String(error),
        });
        if (attempt < maxAttempts) await this.backoff(attempt);
      }
    }
    throw new SchemaSyncError(
      `The schema did not converge after ${maxAttempts} attempts: processes that do not take the advisory lock kept changing it ` +
        '(the cause holds the last error). Run every process through SafeSynchronizer, or raise maxAttempts.',
      maxAttempts,
      lastError,
    );
  }

  /** The DDL a sync would run now; empty when the schema matches the entities. */
  async pendingStatements(): Promise<string[]> {
    const builder = this.dataSource.driver.createSchemaBuilder() as unknown as SchemaBuilderHooks;
    const memory = await builder.log();
    return memory.upQueries.map((q) => q.query);
  }

  private async plan(): Promise<LockPlan> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await planLock(runner, syncedSchemas(this.dataSource), this.options.lockKey, this.options.lockTimeoutMs);
    } finally {
      await runner.release();
    }
  }

  private async attempt(plan: LockPlan): Promise<Attempt> {
    const transactional = this.dataSource.options.migrationsTransactionMode !== 'none';
    if (transactional) return this.build(plan, true);
    // No transaction to scope the lock to: hold a session lock on a connection of its own.
    const lockRunner = this.dataSource.createQueryRunner();
    try {
      const lockWaitMs = await acquireSessionLock(lockRunner, plan);
      try {
        const attempt = await this.build(plan, false);
        return { ...attempt, lockWaitMs };
      } finally {
        await releaseSessionLock(lockRunner, plan.key);
      }
    } finally {
      await lockRunner.release();
    }
  }

  /**
   * Runs TypeORM's own build(). Its first call after BEGIN is the public
   * createMetadataTableIfNecessary, so we hook that one instance method to take
   * the lock before anything reads the catalog.
   */
  private async build(plan: LockPlan, transactional: boolean): Promise<Attempt> {
    const builder = this.dataSource.driver.createSchemaBuilder() as unknown as SchemaBuilderHooks;
    const original = builder.createMetadataTableIfNecessary.bind(builder);
    let runner: QueryRunner | undefined;
    let lockWaitMs = 0;
    const prerequisites: string[] = [];
    builder.createMetadataTableIfNecessary = async (queryRunner: QueryRunner) => {
      runner = queryRunner;
      if (transactional) {
        // Under REPEATABLE READ or SERIALIZABLE the snapshot would predate the wait and
        // hide the winner's tables; no statement has taken a snapshot yet, so this is allowed.
        await queryRunner.query(READ_COMMITTED_SQL);
        lockWaitMs = await acquireTransactionLock(queryRunner, plan);
      }
      prerequisites.push(...(await createPrerequisites(queryRunner, this.dataSource, this.options.logger)));
      await original(queryRunner);
    };
    await builder.build();
    const executed = runner ? runner.getMemorySql().upQueries.map((q) => q.query) : [];
    return { statements: [...prerequisites, ...executed], lockWaitMs };
  }

  private async backoff(attempt: number): Promise<void> {
    // Random jitter, so that two colliding processes do not collide again in step.
    const ceiling = this.options.retryDelayMs * 2 ** (attempt - 1);
    await sleep(Math.random() * ceiling);
  }
}
