/**
 * The parts of TypeORM's schema builder and query runner the guarded sync
 * touches, and the two steps around them: making a guard for one diff, and
 * running that diff once in SQL-memory mode over clones of the loaded tables.
 * All of it is plain JavaScript state in both typeorm 0.3.x and 1.x; none of it
 * is in TypeORM's typings, hence the interfaces here.
 */
import type { DataSource, EntityMetadata, QueryRunner, Table } from 'typeorm';
import { DataGuard, GuardOptions } from './data-guard';

export interface BuilderInternals {
  /** The runner of the current build() or log(). */
  queryRunner?: QueryRunner;
  /** The tables the builder diffs against (1.x keeps them here; 0.3.x reads the runner's loadedTables). */
  tables?: Table[];
  views?: unknown[];
  entityToSyncMetadatas: EntityMetadata[];
  getTablePath(target: Table | EntityMetadata): string;
}

interface RunnerInternals {
  loadedTables: Table[];
  loadedViews: { clone(): unknown }[];
  sqlInMemory: unknown;
  sqlMemoryMode: boolean;
  enableSqlMemory(): void;
}

/** A guard for one diff on `builder`'s runner, with the entity columns and existing tables read now, before the diff changes them. */
export function guardFor(
  dataSource: DataSource,
  builder: BuilderInternals,
  options: Pick<GuardOptions, 'dialect' | 'allowDataLoss' | 'dropRemovedColumns' | 'lockTables' | 'newerVersionExists'>,
): DataGuard {
  const runner = builder.queryRunner as unknown as RunnerInternals;
  const columns = new Map<string, Set<string>>();
  for (const m of builder.entityToSyncMetadatas) {
    columns.set(builder.getTablePath(m), new Set(m.columns.filter((c) => !c.isVirtualProperty).map((c) => c.databaseName)));
  }
  const tablePath = (table: Table) => builder.getTablePath(table);
  const driver = dataSource.driver as { schema?: string; database?: string };
  return new DataGuard({
    ...options,
    entityColumns: (table) => columns.get(tablePath(table)),
    tablePath,
    existingTables: new Set(runner.loadedTables.map(tablePath)),
    defaultSchema: options.dialect === 'postgres' ? (driver.schema ?? 'public') : driver.database,
  });
}

/**
 * Runs `pass` with the runner in SQL-memory mode (TypeORM writes its
 * statements down instead of sending them) over clones of the loaded tables
 * and views, then puts the runner and builder back as they were: the real
 * pass that follows diffs the same tables from the start.
 */
export async function planInMemory(builder: BuilderInternals, queryRunner: QueryRunner, pass: () => Promise<void>): Promise<void> {
  const runner = queryRunner as unknown as RunnerInternals;
  const saved = { tables: builder.tables, views: builder.views, loaded: runner.loadedTables, loadedViews: runner.loadedViews, sql: runner.sqlInMemory };
  const tables = runner.loadedTables.map((t) => t.clone());
  const views = runner.loadedViews.map((v) => v.clone() as { clone(): unknown });
  runner.loadedTables = tables;
  runner.loadedViews = views;
  if (saved.tables) builder.tables = tables;
  if (saved.views) builder.views = views;
  runner.enableSqlMemory();
  try {
    await pass();
  } finally {
    runner.sqlMemoryMode = false;
    runner.sqlInMemory = saved.sql;
    runner.loadedTables = saved.loaded;
    runner.loadedViews = saved.loadedViews;
    builder.tables = saved.tables;
    builder.views = saved.views;
  }
}
