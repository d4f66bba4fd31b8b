/**
 * Two versions of one entity, and what a sync from the first to the second
 * does to the rows stored under the first: the harness of the data-guard
 * specs and of the rolling-deploy workers.
 */
import { DataSource, DataSourceOptions, EntitySchema, EntitySchemaColumnOptions } from 'typeorm';
import { SafeSynchronizer, SafeSynchronizerOptions, SyncResult } from '../../lib';

export type Columns = Record<string, EntitySchemaColumnOptions>;

/** The `orders` entity with an id and the given columns. */
export function orders(columns: Columns, extra: Partial<ConstructorParameters<typeof EntitySchema>[0]> = {}): EntitySchema {
  return new EntitySchema({ name: 'orders', tableName: 'orders', columns: { id: { type: 'int', primary: true, generated: 'increment' }, ...columns }, ...extra });
}

export function ordersOptions(url: string, entity: EntitySchema | EntitySchema[], extra: Partial<DataSourceOptions> = {}): DataSourceOptions {
  return { type: 'postgres', url, applicationName: 'trb-guard', poolSize: 2, entities: Array.isArray(entity) ? entity : [entity], synchronize: true, ...extra } as DataSourceOptions;
}

export interface SyncOutcome {
  result?: SyncResult;
  error?: unknown;
  /** Statements the sync sent, as TypeORM's logger saw them (DDL only). */
  ddl: string[];
}

/** Runs one start: SafeSynchronizer.initialize (with options), or TypeORM's own synchronize: true when `plain`. */
export async function start(options: DataSourceOptions, sync: SafeSynchronizerOptions | 'plain' = {}): Promise<SyncOutcome> {
  const ddl: string[] = [];
  const logger = {
    logQuery: (q: string) => {
      if (/^\s*(ALTER|CREATE|DROP|COMMENT)\b/i.test(q)) ddl.push(q);
    },
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  const ds = new DataSource({ ...options, logging: ['query'], logger } as DataSourceOptions);
  try {
    let result: SyncResult | undefined;
    if (sync === 'plain') await ds.initialize();
    else await SafeSynchronizer.initialize(ds, { ...sync, onSynchronized: (r) => (result = r) });
    return { result, ddl };
  } catch (error) {
    return { error, ddl };
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
}
