/**
 * One replica of a rolling deploy: it starts with its app version's entities
 * (SafeSynchronizer.initialize, or plain synchronize: true as the control),
 * then writes rows as that version does, and reports what its start did.
 */
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { SafeSynchronizer, SyncResult } from '../../lib';
import { findPgError } from '../../lib/dialects/postgres/codes';
import { AppVersion, appEntity, expectedRow } from '../support/rolling-versions';

export interface RollingConfig {
  url: string;
  version: AppVersion;
  mode: 'safe' | 'plain';
  writer: string;
  rows: number;
}

export interface RollingReport {
  ok: boolean;
  writer: string;
  version: AppVersion;
  written: number;
  writeErrors: string[];
  verifiedBy?: SyncResult['verifiedBy'];
  changed?: boolean;
  kept?: string[];
  error?: string;
  code?: string;
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as RollingConfig;

async function main(): Promise<RollingReport> {
  const ds = new DataSource({ type: 'postgres', url: config.url, applicationName: `trb-rolling-${config.writer}`, poolSize: 2, entities: [appEntity(config.version)], synchronize: true } as DataSourceOptions);
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const report: RollingReport = { ok: false, writer: config.writer, version: config.version, written: 0, writeErrors: [] };
  let result: SyncResult | undefined;
  try {
    if (config.mode === 'safe') await SafeSynchronizer.initialize(ds, { onSynchronized: (r) => (result = r) });
    else await ds.initialize();
  } catch (error) {
    report.error = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
    report.code = findPgError(error)?.code;
    return report;
  }
  report.ok = true;
  report.verifiedBy = result?.verifiedBy;
  report.changed = result?.changed;
  report.kept = result?.kept.map((k) => k.column);
  // Each version writes the columns it knows, as its own code would (the repository's insert).
  const repository = ds.getRepository('orders');
  for (let n = 1; n <= config.rows; n++) {
    try {
      await repository.insert({ writer: config.writer, ...expectedRow(config.version, config.writer, n) });
      report.written++;
    } catch (error) {
      report.writeErrors.push(`${findPgError(error)?.code ?? ''} ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  await ds.destroy();
  return report;
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { ok: false, writer: config.writer, version: config.version, written: 0, writeErrors: [], error: String(error) } }, () => process.exit(1)),
);
