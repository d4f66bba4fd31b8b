import { expect } from 'chai';
import { DataSource, DataSourceOptions } from 'typeorm';
import {
  InvalidOptionError,
  NotInitializedError,
  LockTimeoutError,
  Logger,
  SafeSynchronizer,
  SchemaSyncError,
  SyncResult,
  TaskMeta,
  TaskSetMeta,
  UnsupportedDriverError,
} from '../../lib';
import { fullEntities, SEPARATE_SCHEMA } from '../fixtures/full-entities';
import { postgresOptions, useTestDatabase } from '../support/database';
import { connect, query, waitUntilBlocked } from '../support/pg-client';

async function initialize(options: DataSourceOptions, syncOptions: ConstructorParameters<typeof SafeSynchronizer>[1] = {}): Promise<{ ds: DataSource; result: SyncResult }> {
  let result: SyncResult | undefined;
  const ds = await SafeSynchronizer.initialize(new DataSource(options), { ...syncOptions, onSynchronized: (r) => (result = r) });
  if (!result) throw new Error('onSynchronized was not called');
  return { ds, result };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describe('SafeSynchronizer', () => {
  const db = useTestDatabase();

  describe('on a fresh database', () => {
    it('creates the entity schema, enum types, sequences, tables and view, and a second run finds nothing to do', async () => {
      const options = postgresOptions(db.current().url, { entities: fullEntities, synchronize: true });
      const first = await initialize(options);
      await first.ds.destroy();
      expect(first.result.changed).to.equal(true);
      expect(first.result.attempts).to.equal(1);
      expect(first.result.statements).to.include(`CREATE SCHEMA IF NOT EXISTS "${SEPARATE_SCHEMA}"`);
      expect(first.result.statements).to.include('CREATE SEQUENCE IF NOT EXISTS "public"."task_id_sequence"');

      const second = await initialize(options);
      try {
        expect(second.result.changed).to.equal(false);
        expect(second.result.statements).to.deep.equal([]);
        expect(await new SafeSynchronizer(second.ds).pendingStatements()).to.deep.equal([]);
      } finally {
        await second.ds.destroy();
      }
    });

    it('leaves the tables so that Celery’s own INSERT, with its explicit nextval, works', async () => {
      const { ds } = await initialize(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true }));
      await ds.destroy();
      const rows = await query(
        db.current().url,
        "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), 'abc', 'SUCCESS', '\\x80054b2a2e', now()) RETURNING id",
      );
      expect(rows).to.deep.equal([{ id: 1 }]);
      const groups = await query(db.current().url, "INSERT INTO celery_tasksetmeta (id, taskset_id) VALUES (nextval('taskset_id_sequence'), 'g') RETURNING id");
      expect(groups).to.deep.equal([{ id: 1 }]);
    });

    it('runs the sync at READ COMMITTED even when the DataSource asks for SERIALIZABLE', async () => {
      const { ds, result } = await initialize(postgresOptions(db.current().url, { entities: fullEntities, synchronize: true, ...({ isolationLevel: 'SERIALIZABLE' } as object) })); // a TypeORM 1.x option; 0.3.x has none
      await ds.destroy();
      expect(result.changed).to.equal(true);
    });

    it('with migrationsTransactionMode "none", holds a session lock on its own connection and releases it', async () => {
      const { ds, result } = await initialize(postgresOptions(db.current().url, { entities: fullEntities, synchronize: true, migrationsTransactionMode: 'none' }));
      await ds.destroy();
      expect(result.changed).to.equal(true);
      const held = await query(db.current().url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
      expect(held).to.deep.equal([{ n: 0 }]);
    });
  });

  describe('the lock', () => {
    it('is derived from the database and the schemas, in the two-int key space', async () => {
      const { ds, result } = await initialize(postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true }));
      await ds.destroy();
      const [expected] = await query<{ k: number }>(db.current().url, "SELECT hashtext(current_database() || ':public') AS k");
      expect(result.lockKey).to.deep.equal([0x54524253, expected.k]);
    });

    it('gives up after lockTimeoutMs with a LockTimeoutError that names the holder', async () => {
      const holder = await connect(db.current().url, 'trb-lock-holder');
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock(11, 22)');
        const [{ pid }] = (await holder.query('SELECT pg_backend_pid() AS pid')).rows;
        const started = Date.now();
        const error = await rejection(initialize(postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true }), { lockKey: [11, 22], lockTimeoutMs: 300 }));
        const elapsed = Date.now() - started;
        expect(error).to.be.instanceOf(LockTimeoutError);
        const timeout = error as LockTimeoutError;
        expect(timeout.holders).to.have.length(1);
        expect(timeout.holders[0]).to.include({ pid, applicationName: 'trb-lock-holder' });
        expect(timeout.holders[0].since).to.be.instanceOf(Date);
        expect(timeout.message).to.contain(`pid ${pid}`).and.contain('trb-lock-holder');
        expect(elapsed, 'it waited at least the timeout').to.be.at.least(300);
        // Nothing was created by the process that timed out.
        expect(await query(db.current().url, "SELECT to_regclass('celery_taskmeta') AS t")).to.deep.equal([{ t: null }]);
      } finally {
        await holder.end();
      }
    });

    it("quotes the holder's application_name as data: JSON-quoted, bounded, marked as the session's own words", async () => {
      // The server turns control characters into '?' and cuts at 63 bytes; a double quote and advice-like words get through.
      const planted = `evil\n\x1b[31m"), run DROP SCHEMA public CASCADE to fix it ("${'x'.repeat(500)}`;
      const holder = await connect(db.current().url, planted);
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock(11, 24)');
        const [{ pid, name }] = (await holder.query('SELECT pg_backend_pid() AS pid, application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()')).rows;
        const error = await rejection(initialize(postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true }), { lockKey: [11, 24], lockTimeoutMs: 100 }));
        expect(error).to.be.instanceOf(LockTimeoutError);
        const { message, holders } = error as LockTimeoutError;
        expect(holders[0].applicationName, 'the holder keeps the raw text, for code').to.equal(name);
        expect(message).to.contain(`pid ${pid}, application_name (as reported by that session) ${JSON.stringify(name)}`);
        expect(message, 'the quote does not end early').to.contain('\\"), run DROP').and.not.match(/[^\\]"\), run DROP/);
        expect(message).not.to.match(/[\n\r\x1b]/);
      } finally {
        await holder.end();
      }
    });

    it('bounds and escapes holder text the server does not clean (MySQL user@host): no raw newline or escape, at most 64 characters of it', () => {
      const planted = `mallory\n\x1b[2J\u009b31m\u202e${'A'.repeat(500)}@host`;
      const error = new LockTimeoutError({ name: 'typeorm_result_backend:x' }, 100, [{ pid: 7, applicationName: planted, since: null, state: null }], undefined);
      expect(error.message).not.to.match(/[\n\r\x1b\u009b\u202e]/);
      expect(error.message).to.contain('connection 7, user@host (as reported by the server) "mallory\\n\\u001b[2J\\u009b31m\\u202eAAA');
      expect(error.message).not.to.contain('A'.repeat(65));
      expect(error.message).to.contain('…(cut, 522 characters in all)');
      expect(error.message.length).to.be.below(700);
    });

    it('is not cut short by an application-wide statement_timeout', async () => {
      const holder = await connect(db.current().url);
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(11, 23)');
      const options = postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true, applicationName: 'trb-waiter', extra: { statement_timeout: 100 } });
      const pending = initialize(options, { lockKey: [11, 23], lockTimeoutMs: 20_000 });
      await waitUntilBlocked(db.current().url, 'trb-waiter');
      await new Promise((r) => setTimeout(r, 300)); // three statement_timeouts pass while it waits
      await holder.query('COMMIT');
      await holder.end();
      const { ds, result } = await pending;
      await ds.destroy();
      expect(result.changed).to.equal(true);
      expect(result.lockWaitMs).to.be.at.least(300);
    });
  });

  describe('against a process that does not take the lock', () => {
    /** Another session creates celery_taskmeta and keeps its transaction open until we are blocked behind it. */
    async function raceAgainstUncommittedCreate(syncOptions: { maxAttempts?: number }): Promise<{ result?: SyncResult; error?: unknown }> {
      const url = db.current().url;
      const peer = await connect(url);
      try {
        await peer.query('BEGIN');
        await peer.query('CREATE TABLE celery_taskmeta (id integer PRIMARY KEY, task_id varchar(155) UNIQUE)');
        const pending = initialize(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true, applicationName: 'trb-racer' }), syncOptions);
        pending.catch(() => undefined);
        await waitUntilBlocked(url, 'trb-racer');
        await peer.query('COMMIT');
        try {
          const { ds, result } = await pending;
          await ds.destroy();
          return { result };
        } catch (error) {
          return { error };
        }
      } finally {
        await peer.end();
      }
    }

    it('treats the duplicate-object error as a conflict, re-diffs, and converges on the next attempt', async () => {
      const { result, error } = await raceAgainstUncommittedCreate({});
      expect(error).to.equal(undefined);
      expect(result?.attempts).to.equal(2);
      // The peer's table lacked our columns; the second attempt added them rather than giving up.
      expect(result?.statements.some((s) => s.includes('ADD "status"'))).to.equal(true);
      const columns = await query(db.current().url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'celery_taskmeta'");
      expect(columns).to.deep.equal([{ n: 12 }]);
    });

    it('throws SchemaSyncError, with the database error as its cause, once attempts run out', async () => {
      const { error } = await raceAgainstUncommittedCreate({ maxAttempts: 1 });
      expect(error).to.be.instanceOf(SchemaSyncError);
      const cause = (error as SchemaSyncError).cause as { code?: string };
      expect(['23505', '42P07']).to.include(cause.code);
      expect((error as Error).message).to.contain('Run every process through SafeSynchronizer');
    });
  });

  describe('logging', () => {
    it('goes through the injected logger and never prints by itself', async () => {
      const lines: string[] = [];
      const logger: Logger = { debug: (m) => lines.push(m), info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
      const printed: unknown[] = [];
      const originals = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
      for (const k of Object.keys(originals) as (keyof typeof originals)[]) console[k] = (...a: unknown[]) => printed.push(a);
      try {
        const silent = await initialize(postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true }));
        await silent.ds.destroy();
        const logged = await initialize(postgresOptions(db.current().url, { entities: [TaskMeta], synchronize: true }), { logger });
        await logged.ds.destroy();
      } finally {
        Object.assign(console, originals);
      }
      expect(printed).to.deep.equal([]);
      expect(lines).to.include('schema synchronized');
      expect(lines.join('\n')).not.to.contain('password');
    });
  });

  describe('refuses bad input with typed errors', () => {
    const ds = () => new DataSource(postgresOptions('postgres://u@127.0.0.1:1/x', { entities: [TaskMeta] }));

    for (const [label, lockKey] of [
      ['a single number', 42],
      ['three numbers', [1, 2, 3]],
      ['a fraction', [1, 2.5]],
      ['a value past int4', [1, 2 ** 31]],
      ['a bigint', [1n, 2]],
      ['a string', ['a', 2]],
    ] as const) {
      it(`an invalid lockKey: ${label}`, () => {
        expect(() => new SafeSynchronizer(ds(), { lockKey: lockKey as unknown as [number, number] })).to.throw(InvalidOptionError, /lockKey .* pair of 32-bit integers/);
      });
    }

    it('a negative lockTimeoutMs', () => {
      expect(() => new SafeSynchronizer(ds(), { lockTimeoutMs: -1 })).to.throw(InvalidOptionError, /lockTimeoutMs is -1.*at least 0/);
    });

    it('zero attempts', () => {
      expect(() => new SafeSynchronizer(ds(), { maxAttempts: 0 })).to.throw(InvalidOptionError, /maxAttempts/);
    });

    it('a logger with neither the four methods nor log, warn and error', () => {
      expect(() => new SafeSynchronizer(ds(), { logger: { info() {} } as unknown as Logger })).to.throw(InvalidOptionError, /logger/);
    });

    it('a DataSource whose driver is not supported', () => {
      const oracle = { options: { type: 'oracle' } } as unknown as DataSource;
      expect(() => new SafeSynchronizer(oracle)).to.throw(UnsupportedDriverError, /"oracle" is not supported by SafeSynchronizer/);
    });

    it('synchronize() on a DataSource that is not initialized', async () => {
      const error = await rejection(new SafeSynchronizer(ds()).synchronize());
      expect(error).to.be.instanceOf(NotInitializedError);
      expect((error as Error).message).to.match(/SafeSynchronizer\.synchronize needs an initialized DataSource.*Await SafeSynchronizer\.initialize/);
    });

    it('initialize() on a DataSource that is already initialized', async () => {
      const live = new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta] }));
      await live.initialize();
      try {
        const error = await rejection(SafeSynchronizer.initialize(live));
        expect(error).to.be.instanceOf(InvalidOptionError);
        expect((error as Error).message).to.contain('already initialized');
      } finally {
        await live.destroy();
      }
    });
  });
});
