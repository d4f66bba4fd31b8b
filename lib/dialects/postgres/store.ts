import type { Client, ClientConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { CleanupCounts, GroupRow, PushWakeups, ResultStore, StatementRunner, OutcomeRow, StoreParams, TaskRow, cleanupInBatches } from '../../backend/store';
import { GroupEntityClass, ResolvedTables, TaskEntityClass, resolveTables } from '../../backend/tables';
import { DatabaseError, ForeignObjectError, MissingTableError, ResultBackendError } from '../../errors';
import type { Logger } from '../../logger';
import { SAFE_SYNCHRONIZER_DEFAULTS, STORE_BATCH, WAIT_REGISTER_LOCK_TIMEOUT_MS } from '../../options';
import { StoreBatcher } from '../../backend/store-batcher';
import type { SqlQuery } from '../../query';
import * as sql from './backend-sql';
import { PgCode, findPgError } from './codes';
import { connectDedicated } from './connection';
import { ForeignObjectRow, foreignObjectsSql } from './ownership-sql';
import { ensureBackendTable, ensureSequences } from './sequences';
import { ensureWake, wakeState } from './wake';
import { purgeDeadInterestsSql, registerInterestSql, unregisterInterestSql, wakeGrantStatements } from './wake-sql';

type WakeMode = 'trigger' | 'inline';

export interface PostgresStoreOptions {
  /** False: waits poll instead of LISTENing. */
  listen: boolean;
  listenConnection: string | ClientConfig | undefined;
  logger: Logger;
}

/**
 * The result store on PostgreSQL: one upsert per store with ids drawn by
 * nextval (missing sequences created on first use, under the schema lock),
 * and waits woken by NOTIFY, which the task table's trigger sends only for
 * tasks somebody waits for (or every ready store itself, where this role may
 * not install the trigger).
 */
export class PostgresStore implements ResultStore {
  readonly push: PushWakeups | null;
  private resolved: ResolvedTables | undefined;
  private firstSeenReady = false;
  private missing = false;
  private wakeMode: Promise<WakeMode> | undefined;
  private readonly batcher = new StoreBatcher({
    ...STORE_BATCH,
    one: async (params) => (await this.write('store result', async () => sql.storeSql(this.tables, params, await this.inline()))).length > 0,
    many: async (rows) => {
      const applied = await this.write<{ task_id: string }>('store results', async () => sql.storeRowsSql(this.tables, rows, await this.inline()));
      return new Set(applied.map((r) => r.task_id));
    },
  });

  constructor(
    private readonly dataSource: DataSource,
    private readonly task: TaskEntityClass,
    private readonly group: GroupEntityClass,
    private readonly run: StatementRunner,
    private readonly options: PostgresStoreOptions,
  ) {
    this.push = options.listen
      ? {
          connect: () => this.connectListener(),
          channel: () => this.tables.channel,
          notify: async (payload) => (await this.run.query<{ sent: boolean }>('probe the LISTEN connection', sql.notifySql(this.tables.channel, payload)))[0]?.sent === true,
          interests: {
            register: async (client, ids) => {
              if ((await this.wake()) === 'trigger') await client.query(registerInterestSql(this.tables.wake, ids));
            },
            unregister: async (client, ids) => {
              if ((await this.wake()) === 'trigger') await client.query(unregisterInterestSql(this.tables.wake, ids));
            },
            purge: async (client) => {
              if ((await this.wake()) === 'trigger') await client.query(purgeDeadInterestsSql(this.tables.wake));
            },
          },
        }
      : null;
  }

  private get tables(): ResolvedTables {
    this.resolved ??= resolveTables(this.dataSource, this.task, this.group);
    return this.resolved;
  }

  extraColumns(): ReadonlyMap<string, string> {
    return this.tables.extraColumns;
  }

  /** bytea holds up to 1 GB: maxPayloadBytes is the limit that matters. */
  payloadLimit(): number {
    return Number.POSITIVE_INFINITY;
  }

  /** Concurrent stores share statements (see store-batcher.ts). */
  store(params: StoreParams): Promise<boolean> {
    return this.batcher.store(params);
  }

  private async inline(): Promise<boolean> {
    return (await this.wake()) === 'inline';
  }

  tablesMissing(): boolean {
    return this.missing;
  }

  async readTask(taskId: string): Promise<TaskRow | undefined> {
    const [row] = await this.read<TaskRow>('read task', sql.selectTaskSql(this.tables, taskId));
    return row;
  }

  async readOutcomes(taskIds: readonly string[]): Promise<OutcomeRow[]> {
    return this.read<OutcomeRow>('read tasks', sql.selectOutcomesSql(this.tables, taskIds));
  }

  /**
   * A read. On a fresh database (no table yet, or not even its schema) there
   * is nothing stored: no rows, and the wait polls until the tables appear.
   * Once they do, the wake-up mode is found again (the trigger installed).
   */
  private async read<T>(operation: string, q: SqlQuery): Promise<T[]> {
    try {
      const rows = await this.run.query<T>(operation, q);
      this.missing = false;
      return rows;
    } catch (error) {
      const code = findPgError(error)?.code;
      if (code !== PgCode.UNDEFINED_TABLE && code !== PgCode.INVALID_SCHEMA_NAME) throw error;
      this.missing = true;
      return [];
    }
  }

  async saveGroup(groupId: string, bytes: Buffer): Promise<void> {
    await this.write('save group', () => sql.saveGroupSql(this.tables, groupId, bytes));
  }

  async readGroup(groupId: string): Promise<GroupRow | undefined> {
    const [row] = await this.read<GroupRow>('restore group', sql.selectGroupSql(this.tables, groupId));
    return row;
  }

  async deleteGroup(groupId: string): Promise<boolean> {
    return (await this.run.affected('delete group', sql.deleteGroupSql(this.tables, groupId))) > 0;
  }

  async deleteTask(taskId: string): Promise<boolean> {
    return (await this.run.affected('forget task', sql.deleteTaskSql(this.tables, taskId))) > 0;
  }

  cleanup(olderThanMs: number, unfinishedOlderThanMs: number, batch: number): Promise<CleanupCounts> {
    const t = this.tables;
    return cleanupInBatches(this.run, batch, {
      expiredTasks: () => sql.deleteExpiredBatchSql(t.task, olderThanMs, batch, true),
      expiredGroups: () => sql.deleteExpiredBatchSql(t.group, olderThanMs, batch, false),
      ensureFirstSeen: () => this.ensureFirstSeenTable(),
      abandonedTasks: () => sql.deleteAbandonedBatchSql(t, unfinishedOlderThanMs, batch),
      forgetFirstSeen: sql.forgetFirstSeenSql(t),
      recordFirstSeen: () => sql.recordFirstSeenBatchSql(t, batch),
    });
  }

  /**
   * A write that draws an id. On tables made without SafeSynchronizer (plain
   * synchronize, schema:sync, a generated migration) the id sequences may be
   * missing; they are created once, under the schema lock, and the write is sent again.
   */
  private async write<T = Record<string, unknown>>(operation: string, q: () => Promise<SqlQuery> | SqlQuery): Promise<T[]> {
    try {
      return await this.run.query<T>(operation, await q());
    } catch (error) {
      if (findPgError(error)?.code !== PgCode.UNDEFINED_TABLE) throw error;
      if (!(await this.run.retry('create the id sequences', () => ensureSequences(this.dataSource, this.tables.sequences, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs)))) throw error;
      this.options.logger.info('created the missing id sequences', { sequences: this.tables.sequences.map((s) => `${s.schema}.${s.name}`) });
      return this.run.query<T>(operation, await q());
    }
  }

  /**
   * How ready results wake waiters, found once: `"trigger"` when the task
   * table has the wake-up trigger (installed here, under the schema lock, on
   * tables the synchronizer did not make), so stores NOTIFY only for waited-for
   * tasks; `"inline"` when this role may not install it, so every ready store
   * NOTIFYs itself, as before. A missing task table is asked again next time.
   */
  private wake(): Promise<WakeMode> {
    this.wakeMode ??= this.run.retry('find or install the wake-up trigger', () => this.findWakeMode()).then(
      (mode) => {
        if (mode === undefined) this.wakeMode = undefined;
        return mode ?? 'inline';
      },
      (error: unknown) => {
        this.wakeMode = undefined;
        throw error;
      },
    );
    return this.wakeMode;
  }

  private async findWakeMode(): Promise<WakeMode | undefined> {
    const names = this.tables.wake;
    let state = await wakeState(this.dataSource, names);
    try {
      if (!state.installed) {
        await ensureWake(this.dataSource, names, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs);
        this.options.logger.info('installed the wake-up trigger on the task table', { table: names.task });
        state = await wakeState(this.dataSource, names);
      }
      if (state.mayWait) return 'trigger';
      // The trigger is there, but this role may not record its waits: the trigger would never notify for them.
      this.options.logger.warn(
        `this role (${state.role}) may not record its waits for the wake-up trigger: every ready store from here will NOTIFY, ` +
          'and waits on results written by Celery itself wake on the periodic re-read. To wake on those too, run as the installing role: ' +
          wakeGrantStatements(names, state.role).join('; '),
        { table: names.task },
      );
      return 'inline';
    } catch (error) {
      if (findPgError(error)?.code === PgCode.UNDEFINED_TABLE) return undefined;
      if (!(error instanceof MissingTableError)) throw error;
      this.options.logger.warn('this role may not install the wake-up trigger: every ready store will NOTIFY, and waits on results written by Celery itself wake on the periodic re-read', {
        table: names.task,
        statements: error.statement,
      });
      return 'inline';
    }
  }

  private async ensureFirstSeenTable(): Promise<void> {
    if (this.firstSeenReady) return;
    // The installer makes it (SafeSynchronizer, createWakeTriggers); an app role without CREATE finds it here.
    const [{ exists }] = await this.run.query<{ exists: boolean }>('find the first-seen table', sql.tableExistsSql(this.tables.firstSeen));
    if (!exists) await this.run.retry('create the first-seen table', () => ensureBackendTable(this.dataSource, sql.createFirstSeenSql(this.tables), SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs));
    // Cleanup writes to it as this role: a table another role made first (with a trigger of its own) is refused, not used.
    const [foreign] = await this.run.query<ForeignObjectRow>('check the first-seen table', foreignObjectsSql([{ kind: 'table', name: this.tables.firstSeen, beside: this.tables.task }]));
    if (foreign) throw new ForeignObjectError(foreign);
    this.firstSeenReady = true;
  }

  /**
   * A connection of its own, outside TypeORM's pool, since LISTEN must stay on
   * one session for good. Its socket does not keep the process alive: an app
   * that destroys its DataSource and forgets `close()` still exits.
   */
  private async connectListener(): Promise<Client> {
    let client: Client;
    try {
      client = await connectDedicated(this.dataSource, 'Waiting for results (the LISTEN connection)', this.options.logger, this.options.listenConnection);
    } catch (error) {
      if (error instanceof ResultBackendError) throw error;
      throw new DatabaseError('open the LISTEN connection', findPgError(error)?.code, 1, error);
    }
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    try {
      const q = sql.lockTimeoutSql(WAIT_REGISTER_LOCK_TIMEOUT_MS);
      await client.query(q.text, q.values);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new DatabaseError('set up the LISTEN connection', findPgError(error)?.code, 1, error);
    }
    return client;
  }
}
