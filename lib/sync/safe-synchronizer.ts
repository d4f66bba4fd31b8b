import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import { InvalidOptionError, NotInitializedError, SchemaSyncError } from '../errors';
import { DialectName, dialectOf } from '../dialects';
import { SYNC_ERRORS, SyncErrorClassifier } from '../dialects/classify';
import { SchemaLockPlan, checkLockOptions, planSchemaLock } from '../dialects/schema-lock';
import { createMySqlSequences, missingSequenceStatements } from '../dialects/mysql/sequences';
import { MigrationRunResult, SafeMigrator } from '../migrate/safe-migrator';
import { ResolvedSafeSynchronizerOptions, SafeSynchronizerOptions, resolveSafeSynchronizerOptions } from '../options';
import { LockKey, LockPlan, acquireTransactionLock } from '../dialects/postgres/advisory-lock';
import { installWake, missingWakeStatements, wakeTargets } from '../dialects/postgres/wake';
import { FingerprintObjects } from '../dialects/postgres/fingerprint-sql';
import { checkFingerprint, fingerprintObjects, metadataHash, newerVersionRecorded, recordFingerprint } from '../dialects/postgres/fingerprint';
import { DataGuard, KeptChange, PlannedStatement } from './data-guard';
import { BuilderInternals, guardFor, planInMemory, withOneQueryAtATime } from './guarded-build';
import { createPrerequisites, findMissingPrerequisites, prerequisiteStatements } from '../dialects/postgres/prerequisites';
import { READ_COMMITTED_SQL, SYNC_LOCK_NAMESPACE } from '../dialects/postgres/sync-sql';

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
  /** The PostgreSQL advisory lock key; null on MySQL/MariaDB and SQLite. */
  lockKey: LockKey | null;
  /** The MySQL/MariaDB GET_LOCK name; null on PostgreSQL and SQLite. */
  lockName: string | null;
  /**
   * How the schema was found in line: `"fingerprint"` when the recorded
   * fingerprint matched (before the lock, or right after it for a process that
   * waited on another's sync), `"diff"` when TypeORM's diff ran.
   */
  verifiedBy: 'fingerprint' | 'diff';
  /**
   * What this sync kept instead of running TypeORM's statement: columns the
   * entities no longer have (and the keys on them), and columns another,
   * newer app version widened. Each was logged once as a warning. Empty when
   * the fingerprint matched (nothing ran).
   */
  kept: KeptChange[];
}

/** The part of TypeORM's RdbmsSchemaBuilder we drive; all of it is public in typeorm 1.x. */
interface SchemaBuilderHooks extends BuilderInternals {
  build(): Promise<void>;
  log(): Promise<{ upQueries: { query: string }[] }>;
  createMetadataTableIfNecessary(queryRunner: QueryRunner): Promise<void>;
  executeSchemaSyncOperationsInProperOrder(): Promise<void>;
}

/** Thrown inside TypeORM's build to end it (rolling back, releasing the lock) when a waiter finds the fingerprint already matching. */
class AlreadyInSync extends Error {}

/** Options of {@link SafeSynchronizer.initialize}: the synchronizer's, which the migrator shares, and two callbacks. */
export interface SafeInitializeOptions extends SafeSynchronizerOptions {
  /** Receives what the sync did (only with `synchronize: true`). */
  onSynchronized?: (result: SyncResult) => void;
  /** Receives what the migrations did (only with `migrationsRun: true`). */
  onMigrated?: (result: MigrationRunResult) => void;
}

interface Attempt {
  statements: string[];
  kept: KeptChange[];
  lockWaitMs: number;
  /** True when the fingerprint matched once the lock was ours: another process had just synced. */
  inSync: boolean;
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
  private readonly dialect: DialectName;
  private readonly errors: SyncErrorClassifier;
  private hash: string | undefined;
  private objects: FingerprintObjects | undefined;

  constructor(
    private readonly dataSource: DataSource,
    options?: SafeSynchronizerOptions,
  ) {
    this.dialect = dialectOf(dataSource, 'sync');
    this.errors = SYNC_ERRORS[this.dialect];
    this.options = resolveSafeSynchronizerOptions(options);
    checkLockOptions(this.dialect, this.options);
  }

  /**
   * Initializes the DataSource as `dataSource.initialize()` would, but runs the
   * pending migrations (when `migrationsRun: true`) and then the schema sync
   * (when `synchronize: true`), in TypeORM's order, each under the lock instead
   * of TypeORM's own unguarded steps. Resolves to the initialized DataSource;
   * on failure the DataSource is destroyed again, so a retry starts clean.
   */
  static async initialize(dataSource: DataSource, options?: SafeInitializeOptions): Promise<DataSource> {
    const synchronizer = new SafeSynchronizer(dataSource, options);
    if (dataSource.isInitialized) {
      throw new InvalidOptionError(
        'SafeSynchronizer.initialize was given a DataSource that is already initialized, so its schema sync (if any) has already run unguarded. ' +
          'Pass a DataSource that is not initialized yet, or call new SafeSynchronizer(dataSource).synchronize() on this one.',
      );
    }
    const migrator = new SafeMigrator(dataSource, options);
    const wanted = {
      synchronize: dataSource.options.synchronize,
      migrationsRun: dataSource.options.migrationsRun,
      installExtensions: (dataSource.options as { installExtensions?: boolean }).installExtensions,
    };
    // TypeORM would migrate, sync and install extensions inside initialize(), outside any
    // lock: switch them off for the call and do them ourselves under the lock.
    const guarded = Boolean(wanted.synchronize || wanted.migrationsRun);
    if (guarded) {
      const off = { synchronize: false, migrationsRun: false, ...(wanted.synchronize ? { installExtensions: false } : {}) };
      dataSource.setOptions(off as Partial<DataSourceOptions>);
    }
    try {
      await dataSource.initialize();
    } finally {
      if (guarded) dataSource.setOptions(wanted as Partial<DataSourceOptions>);
    }
    try {
      if (wanted.migrationsRun) {
        const migrated = await migrator.run();
        options?.onMigrated?.(migrated);
      }
      if (wanted.synchronize) {
        const synchronized = await synchronizer.synchronize();
        options?.onSynchronized?.(synchronized);
      }
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return dataSource;
  }

  /** Brings the schema in line with the entities. The DataSource must be initialized. */
  async synchronize(): Promise<SyncResult> {
    const { logger, maxAttempts } = this.options;
    if (!this.dataSource.isInitialized) throw new NotInitializedError('SafeSynchronizer.synchronize');
    const started = performance.now();
    // The fingerprint is PostgreSQL's (it hashes pg_catalog rows); elsewhere every start diffs.
    if (this.options.verify === 'fingerprint' && this.dialect === 'postgres') {
      // The warm start: one query, no lock, no catalog crawl in JavaScript.
      const check = await checkFingerprint(this.dataSource, this.dataSource, () => this.metadataHash(), this.fingerprintObjects(), false);
      if (check?.matches) {
        const lockKey = this.options.lockKey ?? ([SYNC_LOCK_NAMESPACE, check.derivedKey] as const);
        logger.info('schema synchronized', { changed: false, verifiedBy: 'fingerprint' });
        return { changed: false, statements: [], lockWaitMs: 0, attempts: 1, durationMs: performance.now() - started, lockKey, lockName: null, verifiedBy: 'fingerprint', kept: [] };
      }
    }
    const plan = await planSchemaLock(this.dataSource, this.dialect, this.options);
    const statements: string[] = [];
    let kept: KeptChange[] = [];
    let lockWaitMs = 0;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        const done = await this.attempt(plan);
        statements.push(...done.statements);
        kept = done.kept;
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
        const result: SyncResult = {
          changed: statements.length > 0,
          statements,
          lockWaitMs,
          attempts: attempt,
          durationMs: performance.now() - started,
          lockKey: plan.lockKey,
          lockName: plan.lockName,
          verifiedBy: done.inSync ? 'fingerprint' : 'diff',
          kept,
        };
        logger.info('schema synchronized', {
          changed: result.changed,
          statements: statements.length,
          lockWaitMs: Math.round(lockWaitMs),
          attempts: attempt,
          verifiedBy: result.verifiedBy,
        });
        return result;
      } catch (error) {
        if (!this.errors.isRetryableSyncError(error)) throw error;
        lastError = error;
        logger.debug('the sync attempt was rolled back (a concurrent change, or its connection was lost); retrying', {
          attempt,
          concurrentCreate: this.errors.isConcurrentCreateError(error),
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

  /**
   * The DDL a sync would run now, without running it: the schemas, extensions
   * and id sequences it would create first, then TypeORM's own diff as the
   * data guard would run it (lossless forms in place of DROP + ADD; what it
   * keeps left out). Empty when the schema matches the entities. A statement
   * the guard would refuse is listed: the sync would stop on it.
   */
  async pendingStatements(): Promise<string[]> {
    return (await this.plan()).filter((s) => s.action !== 'kept').map((s) => s.sql);
  }

  /**
   * What a sync would do now, statement by statement, without doing it: each
   * with its action (`safe`, `lossless`, `kept`, `refused`, `fails`,
   * `allowed`), the column concerned and, where the guard counted, how many
   * values are at stake. Counts are taken without the lock; a sync counts again under it.
   */
  async plan(): Promise<PlannedStatement[]> {
    if (!this.dataSource.isInitialized) throw new NotInitializedError('SafeSynchronizer.plan');
    const builder = this.schemaBuilder();
    const diff = await this.guardedLog(builder);
    const safe = (sql: string): PlannedStatement => ({ sql, action: 'safe' });
    if (this.dialect !== 'postgres') {
      const sequences = this.dialect === 'mysql' ? await missingSequenceStatements(this.dataSource, this.dataSource) : [];
      return [...sequences.map(safe), ...diff];
    }
    const runner = this.dataSource.createQueryRunner();
    let prerequisites: string[];
    try {
      prerequisites = prerequisiteStatements(await findMissingPrerequisites(runner, this.dataSource));
    } finally {
      await runner.release();
    }
    const wake = await missingWakeStatements(this.dataSource, wakeTargets(this.dataSource));
    return [...prerequisites.map(safe), ...diff, ...wake.map(safe)];
  }

  /** TypeORM's log() (its diff in SQL-memory mode, on a runner of its own), with the guard deciding each statement. */
  private async guardedLog(builder: SchemaBuilderHooks): Promise<PlannedStatement[]> {
    if (this.dialect === 'sqlite') return (await builder.log()).upQueries.map((q) => ({ sql: q.query, action: 'safe' }));
    const executeOperations = builder.executeSchemaSyncOperationsInProperOrder.bind(builder);
    let planned: PlannedStatement[] = [];
    builder.executeSchemaSyncOperationsInProperOrder = async () => {
      const runner = builder.queryRunner!;
      const guard = this.guard(builder, runner, false);
      await guard.around(runner, 'plan', executeOperations);
      planned = guard.plan(runner);
    };
    await builder.log();
    return planned;
  }

  /** TypeORM's schema builder for this DataSource, on runners that send one query at a time. */
  private schemaBuilder(): SchemaBuilderHooks {
    return withOneQueryAtATime(this.dataSource.driver.createSchemaBuilder() as unknown as SchemaBuilderHooks, this.dataSource);
  }

  private guard(builder: SchemaBuilderHooks, runner: QueryRunner, lockTables: boolean): DataGuard {
    return guardFor(this.dataSource, builder, {
      dialect: this.dialect === 'postgres' ? 'postgres' : 'mysql',
      allowDataLoss: this.options.allowDataLoss,
      dropRemovedColumns: this.options.dropRemovedColumns,
      lockTables,
      newerVersionExists: () => (this.dialect === 'postgres' ? newerVersionRecorded(runner, this.dataSource, this.metadataHash()) : Promise.resolve(false)),
    });
  }

  private async attempt(plan: SchemaLockPlan): Promise<Attempt> {
    const transactional = this.dataSource.options.migrationsTransactionMode !== 'none';
    if (plan.advisory && transactional) return this.build(plan.advisory, true);
    // No transaction of the sync's own to scope the lock to (or, on MySQL, DDL that commits
    // by itself and a lock that belongs to a session): a connection of its own holds it.
    const held = await plan.hold(this.options.logger);
    try {
      const attempt = await this.build(undefined, false);
      return { ...attempt, lockWaitMs: held.lockWaitMs };
    } finally {
      await held.release();
    }
  }

  /**
   * Runs TypeORM's own build(). Its first call after BEGIN is the public
   * createMetadataTableIfNecessary, so we hook that one instance method to take
   * the lock before anything reads the catalog.
   */
  private async build(plan: LockPlan | undefined, transactional: boolean): Promise<Attempt> {
    const builder = this.schemaBuilder();
    const createMetadataTable = builder.createMetadataTableIfNecessary.bind(builder);
    const executeOperations = builder.executeSchemaSyncOperationsInProperOrder.bind(builder);
    let runner: QueryRunner | undefined;
    let lockWaitMs = 0;
    const prerequisites: string[] = [];
    const wake: string[] = [];
    const postgres = this.dialect === 'postgres';
    builder.createMetadataTableIfNecessary = async (queryRunner: QueryRunner) => {
      runner = queryRunner;
      if (!postgres) {
        // MariaDB: Celery's sequences, which its own create_all would not add to a table that exists.
        if (this.dialect === 'mysql') prerequisites.push(...(await createMySqlSequences(queryRunner, this.dataSource)));
        return createMetadataTable(queryRunner);
      }
      if (transactional && plan) {
        // Under REPEATABLE READ or SERIALIZABLE the snapshot would predate the wait and
        // hide the winner's tables; no statement has taken a snapshot yet, so this is allowed.
        await queryRunner.query(READ_COMMITTED_SQL);
        lockWaitMs = await acquireTransactionLock(queryRunner, plan);
      }
      prerequisites.push(...(await createPrerequisites(queryRunner, this.dataSource, this.options.logger)));
      // A process that waited while another synced finds that one's fingerprint here (READ
      // COMMITTED: this statement sees what committed during the wait), and skips the diff.
      if (this.options.verify === 'fingerprint' && prerequisites.length === 0) {
        const check = await checkFingerprint(queryRunner, this.dataSource, () => this.metadataHash(), this.fingerprintObjects(), transactional);
        if (check?.matches) throw new AlreadyInSync();
      }
      await createMetadataTable(queryRunner);
    };
    const kept: KeptChange[] = [];
    builder.executeSchemaSyncOperationsInProperOrder = async () => {
      if (this.dialect === 'sqlite') await executeOperations();
      else kept.push(...(await this.guardedOperations(builder, runner!, executeOperations, transactional && postgres)));
      if (!postgres) return;
      // The task tables exist now: give them the wake-up trigger and interest table, if missing.
      wake.push(...(await installWake(runner!, wakeTargets(this.dataSource))));
      // Inside the sync's transaction, after its DDL: the record commits with the DDL or not at all.
      await recordFingerprint(runner!, this.dataSource, this.metadataHash(), this.fingerprintObjects(), this.options.logger);
    };
    const planned = this.dialect === 'sqlite' ? (await (this.schemaBuilder()).log()).upQueries.map((q) => q.query) : [];
    try {
      await builder.build();
    } catch (error) {
      if (error instanceof AlreadyInSync) return { statements: [], kept: [], lockWaitMs, inSync: true };
      throw error;
    }
    let executed = runner ? runner.getMemorySql().upQueries.map((q) => q.query) : [];
    // TypeORM's SQLite runner keeps no record of what build() ran: what the diff
    // listed just before (one writer per file, so nothing else changed it) is what ran.
    if (this.dialect === 'sqlite') executed = planned;
    return { statements: [...prerequisites, ...executed, ...wake], kept, lockWaitMs, inSync: false };
  }

  /**
   * TypeORM's diff, guarded: first in SQL-memory mode over clones of the
   * loaded tables (nothing runs; on PostgreSQL the tables counted are
   * share-locked until commit), throwing DataLossError or
   * IncompatibleDataError before any DDL; then for real with the same decisions.
   */
  private async guardedOperations(builder: SchemaBuilderHooks, runner: QueryRunner, executeOperations: () => Promise<void>, lockTables: boolean): Promise<KeptChange[]> {
    // Every guarded statement changes a table that exists; on a database that has none of the
    // entities' tables yet (a fresh one) the diff only creates, and the plan pass would only cost time.
    if ((runner as unknown as { loadedTables: unknown[] }).loadedTables.length === 0) {
      await executeOperations();
      return [];
    }
    const guard = this.guard(builder, runner, lockTables);
    let planned = 0;
    await planInMemory(builder, runner, async () => {
      await guard.around(runner, 'plan', executeOperations);
      planned = guard.plan(runner).length;
    });
    guard.assertSafe();
    // The same diff over the same tables: when the plan holds no statement, the real pass would send none either.
    if (planned === 0) return [];
    await guard.around(runner, 'apply', executeOperations);
    for (const warning of guard.warnings()) this.options.logger.warn(warning.message, { column: warning.column, statement: warning.statement });
    return guard.kept();
  }

  /** Computed once per synchronizer: a walk over the entity metadata. */
  private metadataHash(): string {
    this.hash ??= metadataHash(this.dataSource, { allowDataLoss: this.options.allowDataLoss === true ? true : [...this.options.allowDataLoss].sort(), dropRemovedColumns: this.options.dropRemovedColumns });
    return this.hash;
  }

  private fingerprintObjects(): FingerprintObjects {
    // The interest tables are the package's own, beside the task tables: the catalog hash covers them
    // (and, through pg_trigger on the task tables, the triggers), so dropping one brings the full sync back.
    this.objects ??= fingerprintObjects(
      this.dataSource,
      wakeTargets(this.dataSource).map((w) => ({ schema: w.taskSchema, name: w.interestTable })),
    );
    return this.objects;
  }

  private async backoff(attempt: number): Promise<void> {
    // Random jitter, so that two colliding processes do not collide again in step.
    const ceiling = this.options.retryDelayMs * 2 ** (attempt - 1);
    await sleep(Math.random() * ceiling);
  }
}
