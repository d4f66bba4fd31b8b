/**
 * One process of a fleet: builds its DataSource, reports ready, waits for the
 * parent's "go" (so that all processes start the sync together), then
 * initializes with plain `synchronize: true` or with SafeSynchronizer, and
 * reports what happened.
 */
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { SafeSynchronizer, SyncResult } from '../../lib';
import { findPgError } from '../../lib/dialects/postgres/codes';
import { findMySqlError } from '../../lib/dialects/mysql/codes';
import { celeryEntities, fullEntities } from '../fixtures/full-entities';
import { mysqlEntities } from '../fixtures/mysql-entities';

export interface WorkerConfig {
  url: string;
  mode: 'plain' | 'safe';
  /** PostgreSQL's Celery tables alone or with an app's; or, on MariaDB, Celery's and an app's. */
  entitySet: 'celery' | 'full' | 'mariadb';
  isolationLevel?: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';
  transactionMode?: 'all' | 'none';
}

export interface WorkerReport {
  ok: boolean;
  mode: 'plain' | 'safe';
  ms: number;
  code?: string;
  constraint?: string;
  message?: string;
  result?: Omit<SyncResult, 'statements'> & { statementCount: number };
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as WorkerConfig;

async function main(): Promise<WorkerReport> {
  const ds = new DataSource(
    config.entitySet === 'mariadb'
      ? { type: 'mariadb', url: config.url, poolSize: 2, entities: mysqlEntities, synchronize: true }
      : ({
          type: 'postgres',
          url: config.url,
          applicationName: `trb-fleet-${config.mode}-${process.pid}`,
          poolSize: 2,
          entities: config.entitySet === 'full' ? fullEntities : celeryEntities,
          synchronize: true,
          isolationLevel: config.isolationLevel,
          migrationsTransactionMode: config.transactionMode,
        } as DataSourceOptions),
  );
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const started = performance.now();
  try {
    let result: SyncResult | undefined;
    if (config.mode === 'safe') await SafeSynchronizer.initialize(ds, { onSynchronized: (r) => (result = r) });
    else await ds.initialize();
    const ms = performance.now() - started;
    await ds.destroy();
    const summary = result && { ...result, statements: undefined, statementCount: result.statements.length };
    return { ok: true, mode: config.mode, ms, result: summary };
  } catch (error) {
    const pg = findPgError(error);
    const mysql = findMySqlError(error);
    if (ds.isInitialized) await ds.destroy().catch(() => undefined);
    return {
      ok: false,
      mode: config.mode,
      ms: performance.now() - started,
      code: pg?.code ?? mysql?.code ?? (error as { code?: string }).code,
      constraint: pg?.constraint,
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

main().then(
  (report) => {
    process.send?.({ report }, () => process.exit(0));
  },
  (error) => {
    process.send?.({ report: { ok: false, mode: config.mode, ms: 0, message: String(error) } }, () => process.exit(1));
  },
);
