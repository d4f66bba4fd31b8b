/**
 * `npm run example:rolling-deploy`: what SafeSynchronizer does to stored
 * values while two versions of an app sync the same table. v2 widens
 * `customer`, adds `note` and no longer has `legacy`; v1 restarts after it, as
 * in a rolling deploy or a rollback; then a v3 that would cut values is refused.
 *
 * Runs on an embedded PostgreSQL, or on the server in DATABASE_URL.
 */
import 'reflect-metadata';
import { DataSource, EntitySchema } from 'typeorm';
import { DataLossError, SafeSynchronizer, SyncResult } from '../../lib';
import { createDatabase, dropDatabase, startPostgres } from '../support/postgres';

const columns = {
  v1: { customer: { type: 'varchar', length: 50 }, legacy: { type: 'text', nullable: true } },
  v2: { customer: { type: 'varchar', length: 100 }, note: { type: 'text', nullable: true } },
  v3: { customer: { type: 'varchar', length: 20 }, note: { type: 'text', nullable: true } },
} as const;
type Version = keyof typeof columns;

function dataSource(url: string, version: Version): DataSource {
  const orders = new EntitySchema({ name: 'orders', columns: { id: { type: 'int', primary: true, generated: 'increment' }, ...columns[version] } });
  return new DataSource({ type: 'postgres', url, applicationName: `rolling-${version}`, entities: [orders], synchronize: true });
}

/** One replica's start: the sync, then its writes, as that version's code writes. */
async function start(url: string, version: Version, write?: (ds: DataSource) => Promise<void>): Promise<void> {
  let result: SyncResult | undefined;
  const warnings: string[] = [];
  const logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (m: string) => warnings.push(m) };
  const ds = await SafeSynchronizer.initialize(dataSource(url, version), { logger, onSynchronized: (r) => (result = r) });
  try {
    const ran = result!.statements.filter((s) => !s.includes('typeorm_result_backend'));
    console.log(`${version} started: ${ran.length ? ran.join('; ') : 'no DDL'} (verified by ${result!.verifiedBy})`);
    for (const k of result!.kept) console.log(`   kept ${k.column} (${k.kind}): ${k.statement} was not run`);
    for (const w of warnings) console.log(`   warning: ${w.slice(0, 160)}…`);
    await write?.(ds);
    const [row] = await ds.query('SELECT count(*)::int AS n, count(customer)::int AS customers, max(length(customer))::int AS longest FROM orders');
    console.log(`   rows ${row.n}, customers ${row.customers}, longest customer ${row.longest} characters`);
  } finally {
    await ds.destroy();
  }
}

async function main(): Promise<void> {
  const server = await startPostgres();
  const url = await createDatabase(server.url, `trb_rolling_${process.pid}`);
  try {
    await start(url, 'v1', (ds) => ds.query("INSERT INTO orders (customer, legacy) SELECT 'v1-customer-' || g, 'legacy-' || g FROM generate_series(1, 20) g"));
    await start(url, 'v2', (ds) => ds.query("INSERT INTO orders (customer, note) SELECT repeat('w', 80), 'note-' || g FROM generate_series(1, 5) g"));
    await start(url, 'v1');
    await start(url, 'v2');
    const ds = dataSource(url, 'v3');
    await ds.setOptions({ synchronize: false }).initialize();
    try {
      const plan = await new SafeSynchronizer(ds).plan();
      console.log('v3 plan():');
      for (const p of plan) console.log(`   [${p.action}] ${p.sql}${p.count !== undefined ? ` (${p.count} values)` : ''}`);
      await new SafeSynchronizer(ds).synchronize();
    } catch (error) {
      if (!(error instanceof DataLossError)) throw error;
      console.log(`v3 refused before any DDL: ${error.changes.map((c) => `${c.column}, ${c.count} values`).join('; ')}`);
    } finally {
      await ds.destroy();
    }
  } finally {
    await dropDatabase(server.url, `trb_rolling_${process.pid}`);
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
