import { expect } from 'chai';
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { SafeSynchronizer } from '../../lib';
import { benchEntities } from '../../bench/entities';
import { runFleet } from '../../examples/support/fleet';
import type { ColdConfig, ColdReport } from '../../bench/cold-worker';
import { withFreshDatabase } from '../support/database';
import { query } from '../support/pg-client';

const WORKER = join(__dirname, '..', '..', 'bench', 'cold-worker.js');
/** Big enough that the sync's DDL takes a while: the window in which the holder is killed. */
const ENTITIES = 150;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts one sync process and releases it at once; resolves once it holds the schema lock and has begun its DDL. */
async function startHolder(url: string): Promise<ChildProcess> {
  const child = fork(WORKER, [], { env: { ...process.env, TRB_WORKER_CONFIG: JSON.stringify({ url, mode: 'safe', entities: ENTITIES } satisfies ColdConfig) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  child.send('go');
  // Tables it created and has not committed show in pg_locks as relations it holds exclusively.
  await until('the holder has the lock and has created tables', async () => {
    const [{ created }] = await query<{ created: number }>(
      url,
      `SELECT count(*)::int AS created FROM pg_locks l WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
         AND l.pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
    );
    return created >= 5;
  });
  return child;
}

describe('kill -9 of the lock holder in the middle of its DDL', function () {
  this.timeout(5 * 60_000);

  it('the 8 waiters finish with no failure, the schema converges, and nothing half-created is left', async () => {
    const trials = 1;
    let waitersOk = 0;
    for (let trial = 0; trial < trials; trial++) {
      await withFreshDatabase('killed_holder', async (db) => {
        let holder: ChildProcess | undefined;
        let killed: Promise<unknown> | undefined;
        // The waiters are loaded first; the holder starts and gets into its DDL; then the waiters are
        // released, and once one of them waits on the lock, the holder dies.
        const run = await runFleet<ColdConfig, ColdReport>(
          Array.from({ length: 8 }, () => ({ url: db.url, mode: 'safe', entities: ENTITIES })),
          WORKER,
          () => {
            void until('a waiter blocks on the lock', async () => {
              const [{ n }] = await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
              return n > 0;
            }).then(() => holder!.kill('SIGKILL'));
          },
          undefined,
          async () => {
            holder = await startHolder(db.url);
            const child = holder;
            killed = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
          },
        );
        expect(await killed, 'the holder died of SIGKILL').to.equal('SIGKILL');
        const failed = run.reports.filter((r) => !r.ok);
        expect(failed, JSON.stringify(failed)).to.have.length(0);
        waitersOk += run.reports.length;
        // Converged: a fresh process finds nothing to do, and the catalog holds every table once.
        const ds = await new DataSource({ type: 'postgres', url: db.url, entities: benchEntities(ENTITIES) }).initialize();
        try {
          expect(await new SafeSynchronizer(ds).pendingStatements()).to.deep.equal([]);
        } finally {
          await ds.destroy();
        }
        const [{ tables }] = await query<{ tables: number }>(db.url, "SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench_entity_%'");
        expect(tables).to.equal(ENTITIES);
        const [{ locks }] = await query<{ locks: number }>(db.url, "SELECT count(*)::int AS locks FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
        expect(locks, 'advisory locks left behind').to.equal(0);
      });
    }
    console.log(`    kill -9 mid-DDL: ${trials} trials, holder killed each time, ${waitersOk} of ${trials * 8} waiters succeeded`);
  });
});
