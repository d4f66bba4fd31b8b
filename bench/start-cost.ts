/**
 * What SafeSynchronizer costs a restart: one fresh process at a time on a
 * schema already in line, `SafeSynchronizer.initialize` with `synchronize:
 * true` against `DataSource.initialize()` with no sync at all. Each process
 * times its own initialize, so process start-up and module loading cancel out.
 */
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { runFleet } from '../examples/support/fleet';
import { SafeSynchronizer } from '../lib';
import type { ColdConfig, ColdMode, ColdReport } from './cold-worker';
import { benchEntities } from './entities';
import { BenchContext, median, ms, withDb } from './support';

const WORKER = join(__dirname, 'cold-worker.js');

async function oneStart(url: string, entities: number, mode: ColdMode): Promise<number> {
  const run = await runFleet<ColdConfig, ColdReport>([{ url, mode, entities }], WORKER);
  const [report] = run.reports;
  if (!report.ok || report.initMs === undefined) throw new Error(`a ${mode} start failed: ${report.code ?? 'no timing'}`);
  return report.initMs;
}

export async function startCost(ctx: BenchContext): Promise<void> {
  const entities = ctx.smoke ? 20 : 300;
  const rounds = ctx.smoke ? 3 : 9;
  await withDb(ctx.server, `start_${entities}`, async (url) => {
    // The schema in line and its fingerprint recorded, as after the first deploy.
    const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: benchEntities(entities), synchronize: true, poolSize: 2 }));
    await ds.destroy();
    const safe: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternating which goes first, so that drift hits both alike.
      const order: ColdMode[] = i % 2 === 0 ? ['safe', 'bare'] : ['bare', 'safe'];
      for (const mode of order) (mode === 'safe' ? safe : bare).push(await oneStart(url, entities, mode));
    }
    const ours = median(safe);
    const floor = median(bare);
    ctx.rows.push({
      benchmark: 'start, in sync',
      case: `${entities} entities (+2 Celery), a fresh process each, median of ${rounds}`,
      ours: `${ms(ours)} (SafeSynchronizer.initialize)`,
      baseline: `${ms(floor)} (initialize, no sync at all)`,
      ratio: `${(ours / floor).toFixed(2)}× of no sync`,
      target: ctx.smoke ? '' : '≤ 1.05× of no sync at 300',
      met: ctx.smoke ? null : ours <= 1.05 * floor,
    });
  });
}
