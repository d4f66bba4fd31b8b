import { expect } from 'chai';
import { DataSourceOptions, EntitySubscriberInterface, EventSubscriber, Logger } from 'typeorm';
import { DatabaseError } from '../../lib';
import { openBackend, rejection } from '../support/backend';
import { connect, query, waitUntilBlocked } from '../support/pg-client';
import { useTestDatabase } from '../support/database';

/** A TypeORM logger that records what it is given, as a user's logger would see it. */
class RecordingLogger implements Logger {
  readonly queries: { query: string; parameters?: unknown[] }[] = [];
  readonly errors: { query: string; error: string }[] = [];
  readonly slow: { query: string; time: number }[] = [];
  logQuery(query: string, parameters?: unknown[]): void {
    this.queries.push({ query, parameters });
  }
  logQueryError(error: string | Error, query: string): void {
    this.errors.push({ query, error: String(error) });
  }
  logQuerySlow(time: number, query: string): void {
    this.slow.push({ query, time });
  }
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** Counts the query runners TypeORM makes: the per-statement cost the backend's own statements skip. */
function countRunners(ds: import('typeorm').DataSource): { count: number } {
  const counter = { count: 0 };
  const original = ds.createQueryRunner.bind(ds);
  ds.createQueryRunner = ((...args: Parameters<typeof ds.createQueryRunner>) => {
    counter.count++;
    return original(...args);
  }) as typeof ds.createQueryRunner;
  return counter;
}

describe("The backend's statements on PostgreSQL: straight to the driver's pool, still logged by TypeORM's logger", () => {
  const db = useTestDatabase();

  it("the DataSource's logger sees every store and read, with its parameters, and no query runner is made per store", async () => {
    const logger = new RecordingLogger();
    const f = await openBackend(db.current().url, {}, { logger });
    try {
      await f.backend.markAsDone('logged-1', 1);
      const runners = countRunners(f.ds);
      const before = logger.queries.length;
      for (let i = 0; i < 20; i++) await f.backend.markAsDone(`logged-${i + 2}`, i);
      expect(await f.backend.getTaskMeta('logged-5')).to.include({ status: 'SUCCESS', result: 3 });
      expect(runners.count).to.equal(0);
      const ours = logger.queries.slice(before);
      expect(ours).to.have.length(21);
      expect(ours[0].query).to.match(/INSERT INTO "public"\."celery_taskmeta"/);
      expect(ours[0].parameters).to.include('logged-2');
      expect(ours[20].query).to.match(/SELECT/);
    } finally {
      await f.close();
    }
  });

  it('a failing statement reaches logQueryError and comes back as a DatabaseError around TypeORM’s QueryFailedError; a slow one reaches logQuerySlow', async () => {
    const logger = new RecordingLogger();
    const f = await openBackend(db.current().url, {}, { logger, maxQueryExecutionTime: 1, applicationName: 'trb-test-slow-store' } as Partial<DataSourceOptions>);
    try {
      await f.backend.markAsDone('before', 1);
      // Slow by force: the store waits on a row lock another session holds, and gets it 50 ms after
      // it is seen waiting (counted from the call, the 50 ms could include the statement's own start).
      const holder = await connect(db.current().url);
      try {
        await holder.query("BEGIN; SELECT 1 FROM celery_taskmeta WHERE task_id = 'before' FOR UPDATE");
        const store = f.backend.markAsDone('before', 2);
        await waitUntilBlocked(db.current().url, 'trb-test-slow-store');
        await new Promise((r) => setTimeout(r, 50));
        await holder.query('COMMIT');
        await store;
      } finally {
        await holder.end();
      }
      expect(logger.slow.some((s) => /celery_taskmeta/.test(s.query) && s.time >= 50)).to.equal(true);
      await query(db.current().url, 'ALTER TABLE celery_taskmeta ADD CONSTRAINT no_more CHECK (id < 0) NOT VALID');
      const error = await rejection(f.backend.markAsDone('refused', 1));
      expect(error).to.be.instanceOf(DatabaseError);
      // TypeORM's error, as its own runner throws it, with the driver's error inside.
      expect((error as Error).cause).to.have.property('name', 'QueryFailedError');
      expect(error).to.have.property('pgCode', '23514');
      expect(logger.errors.some((e) => /celery_taskmeta/.test(e.query) && /no_more/.test(e.error))).to.equal(true);
    } finally {
      await f.close();
    }
  });

  it('a statement that fails keeps its connection: the next one runs on the same backend process (a pool of one)', async () => {
    const f = await openBackend(db.current().url, {}, { poolSize: 1 });
    try {
      const pid = async () => ((await f.ds.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[])[0].pid;
      const before = await pid();
      await query(db.current().url, 'ALTER TABLE celery_taskmeta ADD CONSTRAINT no_more CHECK (id < 0) NOT VALID');
      expect(await rejection(f.backend.markAsDone('refused', 1))).to.be.instanceOf(DatabaseError);
      expect(await pid()).to.equal(before);
    } finally {
      await f.close();
    }
  });

  it('where a subscriber listens to queries, the statements go through TypeORM so that it sees them', async () => {
    const seen: string[] = [];
    @EventSubscriber()
    class QueryWatcher implements EntitySubscriberInterface {
      beforeQuery(event: { query: string }): void {
        seen.push(event.query);
      }
    }
    const f = await openBackend(db.current().url, {}, { subscribers: [QueryWatcher] });
    try {
      seen.length = 0;
      await f.backend.markAsDone('watched', 1);
      expect(seen.some((q) => /INSERT INTO "public"\."celery_taskmeta"/.test(q))).to.equal(true);
    } finally {
      await f.close();
    }
  });
});
