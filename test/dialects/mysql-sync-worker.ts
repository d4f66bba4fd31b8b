/**
 * One process of a MySQL/MariaDB fleet: loads, reports ready, waits for the
 * parent's "go", then initializes with plain `synchronize: true` or with
 * SafeSynchronizer (GET_LOCK), and reports what happened.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { SafeSynchronizer, SyncResult } from '../../lib';
import { findMySqlError } from '../../lib/dialects/mysql/codes';
import { mysqlEntities } from '../fixtures/mysql-entities';

export interface MySqlWorkerConfig {
  url: string;
  mode: 'plain' | 'safe';
  type?: 'mysql' | 'mariadb';
}

export interface MySqlWorkerReport {
  ok: boolean;
  mode: 'plain' | 'safe';
  ms: number;
  code?: string;
  message?: string;
  result?: Omit<SyncResult, 'statements'> & { statementCount: number };
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as MySqlWorkerConfig;

async function main(): Promise<MySqlWorkerReport> {
  const ds = new DataSource({ type: config.type ?? 'mariadb', url: config.url, poolSize: 2, entities: mysqlEntities, synchronize: true });
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
    const e = findMySqlError(error);
    if (ds.isInitialized) await ds.destroy().catch(() => undefined);
    return { ok: false, mode: config.mode, ms: performance.now() - started, code: e?.code ?? String(e?.errno ?? '?'), message: error instanceof Error ? error.message : String(error) };
  }
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { ok: false, mode: config.mode, ms: 0, message: String(error) } }, () => process.exit(1)),
);
