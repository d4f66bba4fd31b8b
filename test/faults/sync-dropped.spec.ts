import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { SafeSynchronizer } from '../../lib';
import { benchEntities } from '../../bench/entities';
import { postgresOptions, useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';

/** Big enough that the DDL takes a while: the window in which the sync's connection is cut. */
const ENTITIES = 100;

/**
 * Terminates, once, the backend that holds the sync's advisory lock as soon as
 * it has created a few tables (its DDL is under way, uncommitted). Resolves to
 * the pid it terminated.
 */
async function terminateMidDdl(url: string, stop: { done: boolean }): Promise<number | null> {
  while (!stop.done) {
    const [row] = await query<{ pid: number; created: number }>(
      url,
      `SELECT l.pid, count(*)::int AS created FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
          AND l.pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        GROUP BY l.pid`,
    );
    if (row && row.created >= 5) {
      await query(url, 'SELECT pg_terminate_backend($1)', [row.pid]);
      return row.pid;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}

describe('A sync whose connection is dropped in the middle of its DDL', function () {
  this.timeout(120_000);
  const db = useTestDatabase();

  async function syncWhileDropping(): Promise<{ result: Awaited<ReturnType<SafeSynchronizer['synchronize']>> | Error; terminated: number | null; pending: string[] }> {
    const ds = await new DataSource(postgresOptions(db.current().url, { entities: benchEntities(ENTITIES) })).initialize();
    try {
      const stop = { done: false };
      const watcher = terminateMidDdl(db.current().url, stop);
      const synchronizer = new SafeSynchronizer(ds, { retryDelayMs: 10 });
      const result = await synchronizer.synchronize().catch((error: Error) => error);
      stop.done = true;
      return { result, terminated: await watcher, pending: await synchronizer.pendingStatements() };
    } finally {
      await ds.destroy();
    }
  }

  it('starts again from scratch on a fresh connection, and converges: nothing half-created is left', async () => {
    const { result, terminated, pending } = await syncWhileDropping();
    expect(terminated, 'the watcher terminated the sync mid-DDL').to.be.a('number');
    if (result instanceof Error) throw result;
    expect(result.attempts).to.equal(2);
    expect(result.changed).to.equal(true);
    expect(pending).to.deep.equal([]);
    const [{ tables }] = await query<{ tables: number }>(db.current().url, "SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench_entity_%'");
    expect(tables).to.equal(ENTITIES);
    // The terminated session's transaction was rolled back by the server: its lock went with it.
    const [{ locks }] = await query<{ locks: number }>(db.current().url, "SELECT count(*)::int AS locks FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    expect(locks).to.equal(0);
  });
});
