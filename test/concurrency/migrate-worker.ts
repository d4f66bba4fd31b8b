/**
 * One process of a migration fleet: builds a DataSource with migrationsRun,
 * reports ready, waits for "go", then initializes through SafeSynchronizer
 * (migrations under the lock) or plainly (TypeORM's own unguarded run), and
 * reports what it ran or how it failed.
 */
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MigrationRunResult, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { findPgError } from '../../lib/dialects/postgres/codes';
import { nonIdempotentMigrations } from '../fixtures/migrations';

export interface MigrateWorkerConfig {
  url: string;
  mode: 'plain' | 'safe';
  transaction: 'all' | 'each' | 'none';
}

export interface MigrateWorkerReport {
  ok: boolean;
  executed: string[];
  code?: string;
  message?: string;
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as MigrateWorkerConfig;

async function main(): Promise<MigrateWorkerReport> {
  const ds = new DataSource({
    type: 'postgres',
    url: config.url,
    applicationName: `trb-migrate-${config.mode}-${process.pid}`,
    poolSize: 2,
    entities: [TaskMeta, TaskSetMeta],
    migrations: nonIdempotentMigrations,
    migrationsRun: true,
    migrationsTransactionMode: config.transaction,
    synchronize: true,
  } as DataSourceOptions);
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  try {
    let migrated: MigrationRunResult | undefined;
    if (config.mode === 'safe') await SafeSynchronizer.initialize(ds, { onMigrated: (r) => (migrated = r) });
    else await ds.initialize();
    await ds.destroy();
    return { ok: true, executed: migrated?.executed ?? [] };
  } catch (error) {
    if (ds.isInitialized) await ds.destroy().catch(() => undefined);
    const pg = findPgError(error);
    return { ok: false, executed: [], code: pg?.code, message: error instanceof Error ? error.message : String(error) };
  }
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { ok: false, executed: [], message: String(error) } }, () => process.exit(1)),
);
