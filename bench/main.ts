/**
 * `npm run bench`: every figure beside a baseline measured in the same run,
 * on the same database server, so that the machine's speed cancels out of
 * the ratios. `--smoke` runs each benchmark small, to prove it still runs (CI).
 * On the embedded PostgreSQL by default, or on DATABASE_URL.
 */
import 'reflect-metadata';
import { cpus } from 'node:os';
import { Client } from 'pg';
import { Command, Option } from 'commander';
import { startPostgres } from '../examples/support/postgres';
import { coldStart } from './cold-start';
import { cleanup, joinGroup } from './join-and-cleanup';
import { storeThroughput } from './store-throughput';
import { BenchContext, BenchRow } from './support';
import { wakeLatency } from './wake-latency';
import { warmStart } from './warm-start';
import { startCost } from './start-cost';
import { mysqlStore } from './mysql-store';
import { celeryNode } from './celery-node';

const BENCHMARKS: Record<string, (ctx: BenchContext) => Promise<void>> = {
  warm: warmStart,
  start: startCost,
  cold: coldStart,
  store: storeThroughput,
  wake: wakeLatency,
  join: joinGroup,
  cleanup,
  mysql: mysqlStore,
  'celery-node': celeryNode,
};

function table(rows: readonly BenchRow[]): string {
  const header = ['benchmark', 'case', 'ours', 'baseline (same run)', 'ratio', 'target', 'met'];
  const lines = rows.map((r) => [r.benchmark, r.case, r.ours, r.baseline, r.ratio, r.target, r.met === null ? '' : r.met ? 'yes' : 'NO']);
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const options = new Command()
    .name('bench')
    .option('--smoke', 'run every benchmark small, to check that it runs (what CI does)', false)
    .addOption(new Option('--only <names...>', 'run only these benchmarks').choices(Object.keys(BENCHMARKS)))
    .parse()
    .opts<{ smoke: boolean; only?: string[] }>();
  const server = await startPostgres({ maxConnections: 200 });
  const ctx: BenchContext = { server: server.url, smoke: options.smoke, rows: [] };
  const started = performance.now();
  try {
    const client = new Client({ connectionString: server.url });
    await client.connect();
    const { rows } = await client.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version']);
    await client.end();
    console.log(`PostgreSQL ${rows[0].v} (${server.embedded ? 'embedded' : 'DATABASE_URL'}), ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${ctx.smoke ? ', SMOKE sizes' : ''}`);
    for (const name of options.only ?? Object.keys(BENCHMARKS)) {
      const t = performance.now();
      const before = ctx.rows.length;
      try {
        await BENCHMARKS[name](ctx);
        // Its rows at once, so that a run that dies later still leaves these figures behind.
        console.log(`  ${name}: done in ${((performance.now() - t) / 1000).toFixed(1)} s\n${table(ctx.rows.slice(before))}`);
      } catch (error) {
        // One broken benchmark must not throw away the others' figures: it gets a row of its own, and the run fails.
        console.error(error);
        ctx.rows.push({ benchmark: name, case: 'failed', ours: `failed: ${String(error).split('\n')[0]}`, baseline: '', ratio: '', target: '', met: false });
        process.exitCode = 1;
      }
    }
  } finally {
    await server.stop();
  }
  console.log(`\n${table(ctx.rows)}\n\n${((performance.now() - started) / 1000).toFixed(0)} s in all.`);
  // In smoke mode the sizes are too small for the targets to mean anything; only a broken run fails.
  const broken = ctx.rows.filter((r) => r.met === false && (!ctx.smoke || /failed|NO/.test(r.ours)));
  if (!ctx.smoke && broken.length) console.log(`Targets missed: ${broken.map((r) => `${r.benchmark} (${r.case})`).join('; ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
