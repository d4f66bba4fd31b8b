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

/**
 * Makes the runner send one statement at a time: each `query()` waits for
 * the one before. TypeORM 0.3.20 to 0.3.28 load the tables with four queries
 * at once on one runner (`Promise.all` in PostgresQueryRunner.loadTables), so
 * pg 8 warns "Calling client.query() when the client is already executing a
 * query" (pg 9 makes it an error). pg queued them anyway, so the order and
 * the results are the same.
 */
export function oneQueryAtATime<R extends QueryRunner>(runner: R): R {
  const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
  let last: Promise<unknown> = Promise.resolve();
  (runner as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    const next = last.then(() => query(...args));
    last = next.catch(() => undefined);
    return next;
  };
  return runner;
}

/**
 * Gives a schema builder runners that send one query at a time (see
 * oneQueryAtATime): its build() and log() make their own runner from the
 * DataSource they hold (`connection` in 0.3.x, `dataSource` in 1.x).
 */
export function withOneQueryAtATime<B extends object>(builder: B, dataSource: DataSource): B {
  const proxy = new Proxy(dataSource, {
    get(target, property) {
      if (property === 'createQueryRunner') return (...args: Parameters<DataSource['createQueryRunner']>) => oneQueryAtATime(target.createQueryRunner(...args));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const holder = builder as { connection?: DataSource; dataSource?: DataSource };
  if (holder.dataSource === dataSource) holder.dataSource = proxy;
  if (holder.connection === dataSource) holder.connection = proxy;
  return builder;
}
