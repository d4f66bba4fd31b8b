/**
 * Warm start: the schema is already in line, as on every restart of every
 * replica. SafeSynchronizer's fingerprint check against TypeORM's own
 * synchronize(), which re-reads the catalog and diffs in JavaScript.
 */
import { DataSource } from 'typeorm';
import { SafeSynchronizer } from '../lib';
import { benchEntities } from './entities';
import { BenchContext, median, ms, ratio, sideBySide, time, withDb } from './support';

export async function warmStart(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [1, 20] : [1, 100, 300];
  for (const n of sizes) {
    await withDb(ctx.server, `warm_${n}`, async (url) => {
      const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: benchEntities(n), synchronize: true, poolSize: 4 }));
      try {
        const rounds = ctx.smoke ? 3 : n >= 300 ? 5 : 9;
        const runs = await sideBySide(
          rounds,
          () => time(() => new SafeSynchronizer(ds).synchronize()),
          () => time(() => ds.synchronize()),
        );
        const ours = median(runs.ours);
        const typeorm = median(runs.baseline);
        const atTarget = n === Math.max(...sizes);
        ctx.rows.push({
          benchmark: 'warm start',
          case: `${n} entities (+2 Celery)`,
          ours: `${ms(ours)} (fingerprint)`,
          baseline: `${ms(typeorm)} (TypeORM synchronize())`,
          ratio: ratio(typeorm / ours),
          target: atTarget && !ctx.smoke ? '≥ 100× at 300' : '',
          met: atTarget && !ctx.smoke ? typeorm / ours >= 100 : null,
        });
      } finally {
        await ds.destroy();
      }
    });
  }
}
