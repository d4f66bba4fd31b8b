import { expect } from 'chai';
import { join } from 'node:path';
import type { Client, Notification, Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { InvalidOptionError, ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta, WaitTimeoutError, defineCeleryEntities } from '../../lib';
import { wakeNames, wakeStatements } from '../../lib/dialects/postgres/wake-sql';
import { BackendTables, selectOutcomesSql } from '../../lib/dialects/postgres/backend-sql';
import { runFleet } from '../../examples/support/fleet';
import { BackendFixture, openBackend, rejection } from '../support/backend';
import { asRole, postgresOptions, useTestDatabase, withFreshDatabase } from '../support/database';
import { connect, query } from '../support/pg-client';
import type { BackendWorkerConfig, BackendWorkerReport } from '../concurrency/backend-worker';

const CELERY = wakeNames('public', 'celery_taskmeta');

/** What Celery's SQLAlchemy session sends for a finished task: an explicit nextval, no NOTIFY. */
function celeryInsert(client: Client, taskId: string, status = 'SUCCESS'): Promise<unknown> {
  return client.query(
    "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), $1, $2, $3, now() AT TIME ZONE 'UTC')",
    [taskId, status, Buffer.from('"celery"')],
  );
}

/** A raw LISTEN on the channel, recording payloads in arrival order (which is commit order). */
async function listenRaw(url: string): Promise<{ client: Client; payloads: string[]; next(payload: string): Promise<void> }> {
  const client = await connect(url, 'trb-test-raw-listener');
  const payloads: string[] = [];
  const waiting = new Map<string, () => void>();
  client.on('notification', (n: Notification) => {
    payloads.push(n.payload ?? '');
    waiting.get(n.payload ?? '')?.();
  });
  await client.query(`LISTEN "${CELERY.channel}"`);
  return { client, payloads, next: (p) => new Promise<void>((resolve) => waiting.set(p, resolve)) };
}

/** Counts, per task id, the reads of the task table a backend's DataSource has finished. */
function countReads(ds: DataSource): Map<string, number> {
  // The statement a wait reads with, as the backend makes it.
  const readText = selectOutcomesSql({ task: CELERY.task } as BackendTables, []).text;
  const reads = new Map<string, number>();
  const count = (text: unknown, values: unknown): void => {
    if (text === readText && Array.isArray(values) && Array.isArray(values[0])) for (const id of values[0] as string[]) reads.set(id, (reads.get(id) ?? 0) + 1);
  };
  // Every statement, the backend's own and TypeORM's runners', runs on a connection checked out of
  // the driver's pool: count on those connections, once each, after the read has answered.
  const pool = (ds.driver as unknown as { master: Pool }).master;
  const wrapped = new WeakSet<PoolClient>();
  const wrap = (client: PoolClient): PoolClient => {
    if (wrapped.has(client)) return client;
    wrapped.add(client);
    const clientQuery = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const result = clientQuery(...args);
      if (result instanceof Promise) return result.then((r: unknown) => (count(args[0], args[1]), r));
      return result;
    }) as typeof client.query;
    return client;
  };
  // TypeORM checks out with a callback, the backend with a promise.
  type Done = (error: Error | undefined, client: PoolClient | undefined, release: (e?: Error) => void) => void;
  const connect = pool.connect.bind(pool) as (done?: Done) => Promise<PoolClient> | undefined;
  pool.connect = ((done?: Done) => {
    if (done) return connect((error, client, release) => done(error, client && wrap(client), release));
    return (connect() as Promise<PoolClient>).then(wrap);
  }) as unknown as typeof pool.connect;
  return reads;
}

/**
 * Resolves once a wait on a task that is not ready has recorded its interest
 * and finished its read after that (its second): from then on, only a NOTIFY
 * can wake it. A latch, not a sleep.
 */
async function registered(url: string, reads: Map<string, number>, taskId: string): Promise<void> {
  for (;;) {
    const [{ n }] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${CELERY.interestTable} WHERE task_id = $1`, [taskId]);
    if (n > 0 && (reads.get(taskId) ?? 0) >= 2) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function waitingSessions(url: string, applicationName: string): Promise<void> {
  for (;;) {
    const rows = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'PgSleep'", [applicationName]);
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Wake-ups: NOTIFY only for waited-for tasks, from any writer', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  let reads: Map<string, number>;
  // No periodic re-read: a wait resolves on its reads or on a NOTIFY, nothing else.
  beforeEach(async () => {
    f = await openBackend(db.current().url, { recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
    reads = countReads(f.ds);
  });
  afterEach(async () => f.close());

  it('a ready store that nobody waits for sends no NOTIFY; one that somebody waits for does', async () => {
    const raw = await listenRaw(db.current().url);
    try {
      await f.backend.markAsDone('nobody-waits', 1);
      const writer = await connect(db.current().url);
      await celeryInsert(writer, 'nobody-waits-either');
      const waited = f.backend.waitForResult('somebody-waits', { timeoutMs: 10_000 });
      const notified = raw.next('somebody-waits');
      await registered(db.current().url, reads, 'somebody-waits');
      await f.backend.markAsDone('somebody-waits', 3);
      await notified;
      await writer.end();
      // Notifications arrive in commit order: had the first two notified, they would have arrived first.
      // (The waiting backend's LISTEN connection also sent itself a probe when it connected.)
      expect(raw.payloads.filter((p) => !p.startsWith('trb-probe:'))).to.deep.equal(['somebody-waits']);
      expect(await waited).to.equal(3);
    } finally {
      await raw.client.end();
    }
  });

  it('wakes a waiter on rows Celery itself writes, by INSERT and by UPDATE, with no re-read to fall back on', async () => {
    const writer = await connect(db.current().url);
    try {
      const inserted = f.backend.waitForResult('py-insert', { timeoutMs: 10_000 });
      await celeryInsert(writer, 'py-update', 'STARTED');
      const updated = f.backend.waitForResult('py-update', { timeoutMs: 10_000 });
      await registered(db.current().url, reads, 'py-insert');
      await registered(db.current().url, reads, 'py-update');
      await celeryInsert(writer, 'py-insert');
      await writer.query("UPDATE celery_taskmeta SET status = 'SUCCESS', result = $1, date_done = now() WHERE task_id = 'py-update'", [Buffer.from('"done"')]);
      expect(await inserted).to.equal('celery');
      expect(await updated).to.equal('done');
    } finally {
      await writer.end();
    }
  });

  it('without its trigger, the same wait on a Celery write is not woken: the test above could fail', async () => {
    // The backend checks for its trigger once (and would reinstall it); drop it after that.
    await f.backend.markAsDone('first', 1);
    await query(db.current().url, `DROP TRIGGER typeorm_result_backend_wake ON celery_taskmeta`);
    const writer = await connect(db.current().url);
    try {
      const waited = f.backend.waitForResult('py-no-trigger', { timeoutMs: 1500 });
      await registered(db.current().url, reads, 'py-no-trigger');
      await celeryInsert(writer, 'py-no-trigger');
      expect(await rejection(waited)).to.be.instanceOf(WaitTimeoutError);
    } finally {
      await writer.end();
    }
  });

  it('drops a wait’s interest once it ends, and clears interests left by dead connections', async () => {
    await query(db.current().url, `INSERT INTO ${CELERY.interestTable} (task_id, pid) VALUES ('orphan', 999999)`);
    const waited = f.backend.waitForResult('x', { timeoutMs: 10_000 });
    await registered(db.current().url, reads, 'x');
    // The listener purged the orphan when it connected, and recorded 'x'.
    expect(await query(db.current().url, `SELECT task_id FROM ${CELERY.interestTable}`)).to.deep.equal([{ task_id: 'x' }]);
    await f.backend.markAsDone('x', 1);
    await waited;
    for (let i = 0; i < 100; i++) {
      const [{ n }] = await query<{ n: number }>(db.current().url, `SELECT count(*)::int AS n FROM ${CELERY.interestTable}`);
      if (n === 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the finished wait’s interest was never dropped');
  });

  it('drops interests by their key, not by a scan of the table: 5,000 waits of other sessions cost a removal nothing', async () => {
    await f.backend.markAsDone('first', 1); // the wake-up objects installed
    const client = await connect(db.current().url);
    try {
      const mine = Array.from({ length: 50 }, (_, i) => `mine-${i}`);
      await client.query(`INSERT INTO ${CELERY.interestTable} (task_id, pid) SELECT 'other-' || i, 999999 FROM generate_series(1, 5000) i`);
      await client.query(`SELECT ${CELERY.registerFunction}($1::text[])`, [mine]);
      // The table is not analyzed (it fills and drains faster than autovacuum looks): the planner knows nothing of its size.
      await client.query('BEGIN');
      await client.query(`SELECT ${CELERY.unregisterFunction}($1::text[])`, [mine]);
      const [scans] = (await client.query(`SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = '${CELERY.interestTable}'::regclass`)).rows as { seq_scan: string }[];
      await client.query('COMMIT');
      expect(Number(scans.seq_scan), 'sequential scans of the interest table').to.equal(0);
      const left = await query<{ n: number }>(db.current().url, `SELECT count(*)::int AS n FROM ${CELERY.interestTable}`);
      expect(left).to.deep.equal([{ n: 5000 }]);
    } finally {
      await client.end();
    }
  });

  /**
   * The gap a naive design has: the writer checks for interest, then (slowly)
   * commits; a waiter that records its interest and reads in between sees
   * neither the row nor a NOTIFY. The trigger here is the package's own with a
   * pg_sleep between its check and the commit, to hold that window open.
   */
  for (const variant of ['the package’s trigger', 'the same trigger without its bucket lock'] as const) {
    const unsafe = variant !== 'the package’s trigger';
    it(`a waiter that registers while a writer is between its check and its commit: ${variant} ${unsafe ? 'misses it' : 'wakes it'}`, async () => {
      // The backend checks its trigger once, and would put back the real one: let it check before the swap.
      await f.backend.markAsDone('first', 1);
      let fn = wakeStatements(CELERY).find((s) => s.includes(CELERY.triggerFunction) && s.startsWith('CREATE OR REPLACE FUNCTION'))!.replace('  RETURN NULL;', '  PERFORM pg_sleep(0.3);\n  RETURN NULL;');
      if (unsafe) fn = fn.replace(/NOT pg_catalog.pg_try_advisory_xact_lock_shared\([^\n]*\n\s*OR /, '');
      if (unsafe) expect(fn).not.to.contain('advisory');
      expect(fn).to.contain('pg_sleep');
      await query(db.current().url, fn);
      const writer = await connect(db.current().url, 'trb-test-slow-writer');
      try {
        const stored = celeryInsert(writer, 'in-the-window');
        await waitingSessions(db.current().url, 'trb-test-slow-writer');
        const outcome = await f.backend.waitForResult('in-the-window', { timeoutMs: 2000 }).then(
          (v) => ({ woken: true, v }),
          (e: unknown) => ({ woken: false, e }),
        );
        await stored;
        expect(outcome.woken, JSON.stringify(outcome)).to.equal(!unsafe);
      } finally {
        await writer.end();
      }
    });
  }

  it('a role that may not install the trigger still wakes on Node’s stores (they NOTIFY inline), and says so', async () => {
    const url = db.current().url;
    const role = `trb_dml_${db.current().name}`.slice(0, 60);
    await query(url, `CREATE ROLE ${role} LOGIN PASSWORD 'role-password'`);
    try {
      await query(url, 'DROP TRIGGER typeorm_result_backend_wake ON celery_taskmeta');
      await query(url, `GRANT USAGE ON SCHEMA public TO ${role}`);
      await query(url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      await query(url, `GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
      const ds = await new DataSource(postgresOptions(asRole(url, role, 'role-password'), { entities: [TaskMeta, TaskSetMeta] })).initialize();
      const backend = new ResultBackend(ds, { recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000, logger });
      try {
        const waited = backend.waitForResult('inline', { timeoutMs: 10_000 });
        await backend.markAsDone('inline', 'ok');
        expect(await waited).to.equal('ok');
        expect(warnings.join('\n')).to.contain('may not install the wake-up trigger');
      } finally {
        await backend.close();
        await ds.destroy();
      }
    } finally {
      await query(url, `DROP OWNED BY ${role}`);
      await query(url, `DROP ROLE ${role}`);
    }
  });
});

describe('Wake-ups on tables with hostile names', () => {
  const db = useTestDatabase();

  it('semicolons, backslashes, spaces, keywords and unicode in the schema, table and sequence names: synced, stored, woken', async () => {
    const entities = defineCeleryEntities({
      schema: 'select; DROP TABLE x; --',
      taskTable: 'task\\s meta ünïcode',
      groupTable: 'group',
      taskSequence: 'seq; --',
      groupSequence: 'order',
    });
    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(db.current().url, { entities: [entities.TaskMeta, entities.TaskSetMeta], synchronize: true })));
    const waiter = new ResultBackend(ds, { entities, recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
    const writer = new ResultBackend(ds, { entities });
    try {
      const waited = waiter.waitForResult('t1', { timeoutMs: 10_000 });
      await writer.markAsStarted('t1');
      await new Promise((r) => setTimeout(r, 100));
      await writer.markAsDone('t1', 'ok');
      expect(await waited).to.equal('ok');
      const [{ n }] = await query<{ n: number }>(db.current().url, "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'typeorm_result_backend_wake'");
      expect(n).to.equal(1);
      expect((await new SafeSynchronizer(ds).synchronize()).verifiedBy).to.equal('fingerprint');
    } finally {
      await waiter.close();
      await writer.close();
      await ds.destroy();
    }
  });
});

describe('Names TypeORM cannot carry', () => {
  for (const [option, name] of [['schema', 'a"b'], ['taskTable', "x'; DROP TABLE y; --"], ['groupTable', 'g"'], ['taskSequence', "s'"]] as const) {
    it(`a quote in ${option} is refused with a typed error before any SQL`, () => {
      expect(() => defineCeleryEntities({ [option]: name }))
        .to.throw(InvalidOptionError)
        .with.property('message')
        .that.contains('quote');
    });
  }
});

describe('Wake-ups under real concurrency', function () {
  this.timeout(5 * 60_000);

  it('4 processes store 400 results while this one waits on each, with no re-read: every wait is woken', async () => {
    await withFreshDatabase('wake_fleet', async (db) => {
      const fixture = await openBackend(db.url, { recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
      try {
        const ids = Array.from({ length: 400 }, (_, i) => `w-${i}`);
        const configs = Array.from({ length: 4 }, (_, w): BackendWorkerConfig => ({
          url: db.url,
          syncAfterGo: false,
          writes: ids.filter((_, i) => i % 4 === w).map((id) => [id, 'SUCCESS', id] as [string, string, unknown]),
        }));
        let waits: Promise<unknown>[] = [];
        const run = await runFleet<BackendWorkerConfig, BackendWorkerReport>(configs, join(__dirname, '../concurrency/backend-worker.js'), () => {
          // Released together with the writers: some waits start before their store, some during, some after.
          waits = ids.map((id) => fixture.backend.waitForResult(id, { timeoutMs: 30_000 }));
        });
        expect(run.reports.flatMap((r) => r.errors)).to.deep.equal([]);
        const settled = await Promise.allSettled(waits);
        const missed = settled.filter((s) => s.status === 'rejected');
        console.log(`    wake fleet: 4 writer processes × 100 stores, 400 waits, ${missed.length} missed`);
        expect(missed).to.have.length(0);
        expect(settled.map((s) => (s as PromiseFulfilledResult<unknown>).value)).to.deep.equal(ids);
      } finally {
        await fixture.close();
      }
    });
  });
});
