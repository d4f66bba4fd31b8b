import type { DataSource } from 'typeorm';
import { CleanupCounts, GroupRow, ResultStore, StatementRunner, OutcomeRow, StoreParams, TaskRow, cleanupInBatches } from '../../backend/store';
import { firstSeenTableName } from '../../backend/tables';
import type { Logger } from '../../logger';
import type { SqlQuery } from '../../query';
import * as sql from './backend-sql';
import { MySqlErrno, findMySqlError } from './codes';
import { ResolvedMySqlTables, resolveMySqlTables } from './tables';

type Dated<T> = Omit<T, 'date_done'> & { date_done: string | null };

function dated<T extends { date_done: Date | null }>(row: Dated<T>): T {
  return { ...row, date_done: sql.parseMySqlUtc(row.date_done) } as T;
}

/**
 * The result store on MySQL and MariaDB: one upsert per store (applied or not
 * read from its OK packet), reads in chunks of a thousand ids, dates read as
 * UTC text, and waits that poll (there is no LISTEN/NOTIFY).
 */
export class MySqlStore implements ResultStore {
  readonly push = null;
  private resolved: ResolvedMySqlTables | undefined;
  private firstSeenReady = false;
  private missing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly task: Function,
    private readonly group: Function,
    private readonly run: StatementRunner,
    private readonly logger: Logger,
  ) {}

  private get tables(): ResolvedMySqlTables {
    this.resolved ??= resolveMySqlTables(this.dataSource, this.task, this.group, firstSeenTableName);
    return this.resolved;
  }

  extraColumns(): ReadonlyMap<string, string> {
    return this.tables.extraColumns;
  }

  /** BLOB holds 65,535 bytes: a larger value fails typed here, before MySQL refuses it (strict mode) or cuts it. */
  payloadLimit(): number {
    return this.tables.resultLimit;
  }

  async store(params: StoreParams): Promise<boolean> {
    const ok = (await this.run.query('store result', sql.storeSql(this.tables, params))) as unknown as sql.MySqlOkPacket;
    return sql.storeApplied(ok);
  }

  tablesMissing(): boolean {
    return this.missing;
  }

  async readTask(taskId: string): Promise<TaskRow | undefined> {
    const [row] = await this.read<Dated<TaskRow>>('read task', sql.selectTaskSql(this.tables, taskId));
    return row && dated<TaskRow>(row);
  }

  async readOutcomes(taskIds: readonly string[]): Promise<OutcomeRow[]> {
    const rows: OutcomeRow[] = [];
    for (const q of sql.selectOutcomesSql(this.tables, taskIds)) rows.push(...(await this.read<OutcomeRow>('read tasks', q)));
    return rows;
  }

  /** A read; on a fresh database (no table yet) there is nothing stored, as on PostgreSQL. */
  private async read<T>(operation: string, q: SqlQuery): Promise<T[]> {
    try {
      const rows = await this.run.query<T>(operation, q);
      this.missing = false;
      return rows;
    } catch (error) {
      if (findMySqlError(error)?.errno !== MySqlErrno.NO_SUCH_TABLE) throw error;
      this.missing = true;
      return [];
    }
  }

  async saveGroup(groupId: string, bytes: Buffer): Promise<void> {
    await this.run.query('save group', sql.saveGroupSql(this.tables, groupId, bytes));
  }

  async readGroup(groupId: string): Promise<GroupRow | undefined> {
    const [row] = await this.read<Dated<GroupRow>>('restore group', sql.selectGroupSql(this.tables, groupId));
    return row && dated<GroupRow>(row);
  }

  async deleteGroup(groupId: string): Promise<boolean> {
    return (await this.run.affected('delete group', sql.deleteGroupSql(this.tables, groupId))) > 0;
  }

  async deleteTask(taskId: string): Promise<boolean> {
    return (await this.run.affected('forget task', sql.deleteTaskSql(this.tables, taskId))) > 0;
  }

  /** The same steps as on PostgreSQL. CREATE TABLE IF NOT EXISTS is safe to race on MySQL, so it takes no lock. */
  cleanup(olderThanMs: number, unfinishedOlderThanMs: number, batch: number): Promise<CleanupCounts> {
    const t = this.tables;
    return cleanupInBatches(this.run, batch, {
      expiredTasks: () => sql.deleteExpiredBatchSql(t.task, olderThanMs, batch, true),
      expiredGroups: () => sql.deleteExpiredBatchSql(t.group, olderThanMs, batch, false),
      ensureFirstSeen: async () => {
        if (this.firstSeenReady) return;
        await this.run.query('create the first-seen table', { text: sql.createFirstSeenSql(t), values: [] });
        this.firstSeenReady = true;
        this.logger.debug('first-seen table ready', { table: t.firstSeen });
      },
      abandonedTasks: () => sql.deleteAbandonedBatchSql(t, unfinishedOlderThanMs, batch),
      forgetFirstSeen: sql.forgetFirstSeenSql(t),
      recordFirstSeen: () => sql.recordFirstSeenBatchSql(t, batch),
    });
  }
}
