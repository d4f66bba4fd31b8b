/**
 * One replica of the cold-start benchmark: builds its DataSource, says
 * "ready", waits for "go", then initializes: through SafeSynchronizer, plainly
 * with `synchronize: true`, or plainly inside a Celery-style retry with backoff.
 */
import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { SafeSynchronizer } from '../lib';
import { findPgError } from '../lib/dialects/postgres/codes';
import { benchEntities } from './entities';

/** `bare`: initialize with no sync at all, the floor that N processes on this machine cannot go below. */
export type ColdMode = 'safe' | 'plain' | 'retry' | 'bare';

export interface ColdConfig {
  url: string;
  mode: ColdMode;
  entities: number;
}

export interface ColdReport {
  ok: boolean;
  attempts: number;
  code?: string;
  /** Milliseconds in initialize itself (SafeSynchronizer.initialize or DataSource.initialize), in this process. */
  initMs?: number;
}

const config = JSON.parse(process.env.TRB_WORKER_CONFIG ?? '{}') as ColdConfig;
/** What Celery's SessionManager does around create_all: retry on a database error, up to a limit. */
const RETRY_ATTEMPTS = 10;

function dataSource(): DataSource {
  const synchronize = config.mode !== 'bare';
  return new DataSource({ type: 'postgres', url: config.url, poolSize: 2, entities: benchEntities(config.entities), synchronize, applicationName: `trb-bench-${config.mode}` });
}

async function main(): Promise<ColdReport> {
  let ds = dataSource();
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
  const attempts = config.mode === 'retry' ? RETRY_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      const started = performance.now();
      if (config.mode === 'safe') await SafeSynchronizer.initialize(ds);
      else await ds.initialize();
      const initMs = performance.now() - started;
      await ds.destroy();
      return { ok: true, attempts: attempt, initMs };
    } catch (error) {
      if (ds.isInitialized) await ds.destroy().catch(() => undefined);
      if (attempt >= attempts) return { ok: false, attempts: attempt, code: findPgError(error)?.code ?? String(error).slice(0, 80) };
      await sleep(Math.random() * 50 * 2 ** (attempt - 1));
      ds = dataSource();
    }
  }
}

main().then(
  (report) => process.send?.({ report }, () => process.exit(0)),
  (error) => process.send?.({ report: { ok: false, attempts: 0, code: String(error) } }, () => process.exit(1)),
);
