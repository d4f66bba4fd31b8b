import { expect } from 'chai';
import type { Client } from 'pg';
import { DataSource } from 'typeorm';
import { PermissionDeniedError, ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta, WaitTimeoutError, defineCeleryEntities } from '../../lib';
import { WAKE_BUCKETS, WAKE_LOCK_NAMESPACE, wakeNames, wakeStatements } from '../../lib/dialects/postgres/wake-sql';
import { rejection } from '../support/backend';
import { postgresOptions, useTestDatabase } from '../support/database';
import { connect, query } from '../support/pg-client';
import { GRANTS, TestRole, roleDataSource, useRoleFactory } from '../support/roles';

const CELERY = wakeNames('public', 'celery_taskmeta');

/** What Celery's SQLAlchemy session sends for a task: an explicit nextval, no NOTIFY. */
function celeryInsert(client: Client, taskId: string, status = 'SUCCESS'): Promise<unknown> {
  return client.query(
    "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), $1, $2, $3, now() AT TIME ZONE 'UTC')",
    [taskId, status, Buffer.from('"celery"')],
  );
}

function celeryUpdate(client: Client, taskId: string, status = 'SUCCESS'): Promise<unknown> {
  return client.query("UPDATE celery_taskmeta SET status = $2, result = $3, date_done = now() AT TIME ZONE 'UTC' WHERE task_id = $1", [taskId, status, Buffer.from('"updated"')]);
}

/** A Celery-like writer session: a hang becomes a statement_timeout error instead of a hung test. */
async function writerSession(role: TestRole): Promise<Client> {
  const client = await connect(role.url, 'trb-test-celery-writer');
  await client.query("SET statement_timeout = '5s'");
  return client;
}

/** The installer: the tables and the wake-up objects, made by the superuser through SafeSynchronizer. */
async function install(url: string): Promise<void> {
  const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
  await ds.destroy();
}

interface Opened {
  ds: DataSource;
  backend: ResultBackend;
  warnings: string[];
  close(): Promise<void>;
}

/** A backend logged in as the role. No periodic re-read unless asked: a wait resolves on a NOTIFY or its own reads. */
async function backendAs(role: TestRole, recheckIntervalMs = 0): Promise<Opened> {
  const ds = await roleDataSource(role);
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
  const backend = new ResultBackend(ds, { recheckIntervalMs, listenProbeTimeoutMs: 10_000, logger });
  return {
    ds,
    backend,
    warnings,
    close: async () => {
      await backend.close();
      await ds.destroy();
    },
  };
}

/**
 * Resolves once a session has recorded its interest in the task: from then on
 * only a NOTIFY wakes it. (Qualified: the test's own SQL must not reach a planted operator either.)
 */
async function interestRecorded(url: string, taskId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no interest in ${taskId} was recorded within 10 s: the wait could not register`);
    const [{ n }] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${CELERY.interestTable} WHERE task_id::text OPERATOR(pg_catalog.=) $1`, [taskId]);
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Settles with the promise, or with 'still pending' after `ms`: a bound on a promised deadline, not a speed test. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

describe('The wake-up trigger under least privilege: each role with exactly what the README lists', () => {
  const db = useTestDatabase();
  const role = useRoleFactory(db);
  beforeEach(async () => install(db.current().url));

  it('a Celery worker with only Celery’s grants stores STARTED and SUCCESS, by INSERT and by UPDATE, through the trigger, and wakes the app’s waits', async () => {
    const celery = await role('celery', GRANTS.celeryWorker);
    const app = await backendAs(await role('app', GRANTS.nodeApp(CELERY)));
    const writer = await writerSession(celery);
    try {
      const inserted = app.backend.waitForResult('by-insert', { timeoutMs: 10_000 });
      const updated = app.backend.waitForResult('by-update', { timeoutMs: 10_000 });
      await celeryInsert(writer, 'by-update', 'STARTED');
      await interestRecorded(db.current().url, 'by-insert');
      await interestRecorded(db.current().url, 'by-update');
      await celeryInsert(writer, 'by-insert');
      await celeryUpdate(writer, 'by-update');
      expect(await inserted).to.equal('celery');
      expect(await updated).to.equal('updated');
    } finally {
      await writer.end();
      await app.close();
    }
  });

  it('a Node app role without CREATE stores, waits on pushed wake-ups, joins groups, forgets and cleans up', async () => {
    const app = await backendAs(await role('app', GRANTS.nodeApp(CELERY)));
    const other = await backendAs(await role('app2', GRANTS.nodeApp(CELERY)));
    try {
      await app.backend.markAsStarted('t1');
      const waited = app.backend.waitForResult('t1', { timeoutMs: 10_000 });
      await interestRecorded(db.current().url, 't1');
      await other.backend.markAsDone('t1', 'one');
      expect(await waited).to.equal('one');
      await app.backend.saveGroup('g1', ['t1', 't2']);
      const joined = app.backend.joinGroup('g1', { timeoutMs: 10_000 });
      await interestRecorded(db.current().url, 't2');
      await other.backend.markAsDone('t2', 'two');
      expect(await joined).to.deep.equal(['one', 'two']);
      expect(await app.backend.forget('t1')).to.equal(true);
      expect(await app.backend.deleteGroup('g1')).to.equal(true);
      await app.backend.markAsStarted('abandoned');
      // The first pass records when it first saw the unfinished row; the second removes it.
      await app.backend.cleanup({ olderThanMs: 0, unfinishedOlderThanMs: 0 });
      const second = await app.backend.cleanup({ olderThanMs: 0, unfinishedOlderThanMs: 0 });
      expect(second.tasks + second.unfinishedTasks).to.be.greaterThan(0);
      expect(await query(db.current().url, 'SELECT task_id FROM celery_taskmeta')).to.deep.equal([]);
      expect(app.warnings).to.deep.equal([]);
    } finally {
      await app.close();
      await other.close();
    }
  });

  it('a read-only dashboard reads and waits (on the re-read, with one warning naming the GRANT), and a store gives PermissionDeniedError with the GRANT to run', async () => {
    const dash = await role('dash', GRANTS.dashboard);
    const dashboard = await backendAs(dash, 100);
    const writer = await writerSession(await role('celery', GRANTS.celeryWorker));
    try {
      const waited = dashboard.backend.waitForResult('seen', { timeoutMs: 10_000 });
      const second = dashboard.backend.waitForResult('seen-too', { timeoutMs: 10_000 });
      // The warning comes once the waits are past their first read: from then on only the re-read can wake them.
      const deadline = Date.now() + 10_000;
      while (dashboard.warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await celeryInsert(writer, 'seen');
      await celeryInsert(writer, 'seen-too');
      expect(await waited).to.equal('celery');
      expect(await second).to.equal('celery');
      const error = await rejection(dashboard.backend.markAsDone('mine', 1));
      // Whichever came first (a wait that was not ready at once, or this store) found the wake-up mode, once.
      expect(dashboard.warnings).to.have.length(1);
      expect(dashboard.warnings[0]).to.contain(`GRANT EXECUTE ON FUNCTION "public"."${CELERY.registerFunction}"(text[])`).and.contain(dash.name);
      expect(error).to.be.instanceOf(PermissionDeniedError);
      const denied = error as PermissionDeniedError;
      expect(denied.code).to.equal('PERMISSION_DENIED');
      expect(denied.pgCode).to.equal('42501');
      expect(denied.grant).to.equal(`GRANT SELECT, INSERT, UPDATE ON TABLE celery_taskmeta TO "${dash.name}"`);
      expect(denied.message).to.contain(dash.name).and.contain('store result').and.contain(denied.grant);
      expect(await rejection(dashboard.backend.forget('seen'))).to.be.instanceOf(PermissionDeniedError).with.property('grant').that.contains('SELECT, DELETE');
    } finally {
      await writer.end();
      await dashboard.close();
    }
  });
});

describe('Nothing the package installs or sends resolves through a schema another role can write (CVE-2018-1058)', () => {
  const db = useTestDatabase();
  const role = useRoleFactory(db);

  /**
   * Mallory may CREATE in public (the default before PostgreSQL 15, and kept
   * by upgraded databases). Each planted object is a better match than
   * pg_catalog's for an unqualified call with a varchar argument, and records
   * who ran it.
   */
  async function plant(url: string, mallory: TestRole): Promise<void> {
    await query(url, 'CREATE TABLE public.hijack_log (who text NOT NULL, what text NOT NULL)');
    await query(url, 'GRANT INSERT ON public.hijack_log TO PUBLIC');
    const statements = [
      `CREATE FUNCTION public.hashtext(varchar) RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.hijack_log VALUES (current_user, 'hashtext'); RETURN pg_catalog.hashtext($1::text); END $$`,
      `CREATE FUNCTION public.trb_eq(varchar, varchar) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.hijack_log VALUES (current_user, '='); RETURN $1::text OPERATOR(pg_catalog.=) $2::text; END $$`,
      'CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.trb_eq)',
      `CREATE FUNCTION public.trb_eq_text(varchar, text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.hijack_log VALUES (current_user, '=text'); RETURN $1::text OPERATOR(pg_catalog.=) $2; END $$`,
      'CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = public.trb_eq_text)',
      `CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.hijack_log VALUES (current_user, 'unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$`,
      `CREATE FUNCTION public.pg_notify(text, varchar) RETURNS void LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.hijack_log VALUES (current_user, 'pg_notify'); PERFORM pg_catalog.pg_notify($1, $2::text); END $$`,
    ];
    const client = await connect(mallory.url, 'trb-test-mallory');
    try {
      for (const s of statements) await client.query(s);
    } finally {
      await client.end();
    }
  }

  const ran = async (url: string) => query<{ who: string; what: string }>(url, 'SELECT who, what FROM public.hijack_log ORDER BY 1, 2');

  it('planted public.hashtext(varchar), =(varchar, varchar), =(varchar, text), unnest(text[]) and pg_notify(text, varchar) never run: not for Celery’s inserts, Node’s stores and waits, nor a superuser’s update', async () => {
    const url = db.current().url;
    await install(url);
    const mallory = await role('mallory', ['GRANT CREATE ON SCHEMA public TO $ROLE']);
    await plant(url, mallory);
    const celery = await role('celery', GRANTS.celeryWorker);

    // The plant works: an unqualified call with a varchar argument, from any role, reaches it.
    await query(celery.url, "SELECT hashtext('probe'::varchar)");
    expect(await ran(url)).to.deep.equal([{ who: celery.name, what: 'hashtext' }]);
    await query(url, 'TRUNCATE public.hijack_log');

    const app = await backendAs(await role('app', GRANTS.nodeApp(CELERY)));
    const writer = await writerSession(celery);
    try {
      const fromCelery = app.backend.waitForResult('py', { timeoutMs: 10_000 });
      const fromNode = app.backend.waitForResult('node', { timeoutMs: 10_000 });
      await interestRecorded(url, 'py');
      await interestRecorded(url, 'node');
      await celeryInsert(writer, 'py');
      await app.backend.markAsDone('node', 'n');
      expect(await fromCelery).to.equal('celery');
      expect(await fromNode).to.equal('n');
      await app.backend.saveGroup('g', ['py', 'node']);
      expect(await app.backend.joinGroup('g', { timeoutMs: 10_000 })).to.deep.equal(['celery', 'n']);
      // A superuser's update by id fires the trigger as well (by id: the test's own SQL must not reach the plant either).
      const [{ id }] = await query<{ id: number }>(url, "SELECT id FROM celery_taskmeta WHERE task_id::text OPERATOR(pg_catalog.=) 'py'");
      await query(url, "UPDATE celery_taskmeta SET status = 'SUCCESS', result = '\\x22737570657222'::bytea WHERE id = $1", [id]);
      await app.backend.forget('node');
      await app.backend.cleanup({ olderThanMs: 0 });
    } finally {
      await writer.end();
      await app.close();
    }
    expect(await ran(url)).to.deep.equal([]);
  });
});

describe('Advisory locks an outsider holds cannot hold a store or a wait hostage', () => {
  const db = useTestDatabase();
  const role = useRoleFactory(db);
  beforeEach(async () => install(db.current().url));

  /** A role with no privileges at all (any role may CONNECT and take advisory locks) holds every wake-up bucket. */
  async function holdAllBuckets(url: string): Promise<Client> {
    const client = await connect(url, 'trb-test-hostile-holder');
    await client.query(`SELECT pg_advisory_lock(${WAKE_LOCK_NAMESPACE}, b) FROM generate_series(0, ${WAKE_BUCKETS - 1}) b`);
    return client;
  }

  it('with all 256 bucket locks held: Celery’s and Node’s stores complete, waits are still woken, and a wait’s timeout holds', async () => {
    const holder = await holdAllBuckets((await role('outsider')).url);
    const app = await backendAs(await role('app', GRANTS.nodeApp(CELERY)));
    const writer = await writerSession(await role('celery', GRANTS.celeryWorker));
    try {
      const woken = app.backend.waitForResult('py', { timeoutMs: 10_000 });
      const never = rejection(app.backend.waitForResult('never', { timeoutMs: 1500 }));
      // The registration gives up after its own lock timeout; a writer that cannot take its bucket notifies anyway.
      await new Promise((r) => setTimeout(r, 1500));
      await celeryInsert(writer, 'py');
      expect(await within(woken, 8000)).to.equal('celery');
      await app.backend.markAsDone('node', 1);
      const failure = await within(never, 4500);
      expect(failure).to.be.instanceOf(WaitTimeoutError);
      expect(app.warnings.filter((w) => w.includes('recording waits'))).to.have.length(1);
    } finally {
      await holder.end();
      await writer.end();
      await app.close();
    }
  });

  it('the same harness fails with a trigger that waits for its bucket: Celery’s insert hits its statement_timeout', async () => {
    const url = db.current().url;
    const blocking = wakeStatements(CELERY)
      .find((s) => s.startsWith('CREATE OR REPLACE FUNCTION') && s.includes(CELERY.triggerFunction))!
      .replace('IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(', 'PERFORM pg_catalog.pg_advisory_xact_lock_shared(')
      .replace(/\n\s*OR EXISTS/, ';\n    IF EXISTS');
    expect(blocking).to.contain('PERFORM pg_catalog.pg_advisory_xact_lock_shared(');
    await query(url, blocking);
    const holder = await holdAllBuckets((await role('outsider')).url);
    const writer = await writerSession(await role('celery', GRANTS.celeryWorker));
    try {
      const error = await rejection(celeryInsert(writer, 'py'));
      expect(error).to.have.property('code', '57014');
    } finally {
      await holder.end();
      await writer.end();
    }
  });
});

describe('One open transaction does not stall unrelated stores or waits', () => {
  const db = useTestDatabase();
  const role = useRoleFactory(db);
  beforeEach(async () => install(db.current().url));

  it('a writer that leaves BEGIN; INSERT … SUCCESS open, and a 1,000-task join behind it: an unrelated Celery insert and storeResult complete, and waits keep their timeouts', async () => {
    const url = db.current().url;
    const celery = await role('celery', GRANTS.celeryWorker);
    const app = await backendAs(await role('app', GRANTS.nodeApp(CELERY)));
    const open = await writerSession(celery);
    const writer = await writerSession(celery);
    try {
      await open.query('BEGIN');
      await celeryInsert(open, 'held-open');
      const ids = Array.from({ length: 1000 }, (_, i) => `member-${i}`);
      await app.backend.saveGroup('big', ids);
      const joined = rejection(app.backend.joinGroup('big', { timeoutMs: 3000 }));
      const alone = rejection(app.backend.waitForResult('alone', { timeoutMs: 3000 }));
      await new Promise((r) => setTimeout(r, 200));
      await celeryInsert(writer, 'unrelated');
      await app.backend.markAsDone('unrelated-node', 1);
      expect(await within(joined, 6000)).to.be.instanceOf(WaitTimeoutError);
      expect(await within(alone, 6000)).to.be.instanceOf(WaitTimeoutError);
      const [{ n }] = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM celery_taskmeta WHERE task_id IN ('unrelated', 'unrelated-node')");
      expect(n).to.equal(2);
    } finally {
      await open.query('ROLLBACK').catch(() => undefined);
      await open.end();
      await writer.end();
      await app.close();
    }
  });
});

describe('Identifiers are quoted for every context, dollar quotes included', () => {
  const db = useTestDatabase();

  it('a task table named t$trb$;DROP TABLE canary;SELECT $trb$ (with check_function_bodies off) is synced, stored and woken, and drops nothing', async () => {
    const url = db.current().url;
    await query(url, 'CREATE TABLE canary (x int)');
    await query(url, `ALTER DATABASE "${db.current().name}" SET check_function_bodies = off`);
    const entities = defineCeleryEntities({ taskTable: 't$trb$;DROP TABLE canary;SELECT $trb$', taskSequence: 's$$;DROP TABLE canary;--' });
    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [entities.TaskMeta, entities.TaskSetMeta], synchronize: true })));
    const backend = new ResultBackend(ds, { entities, recheckIntervalMs: 0, listenProbeTimeoutMs: 10_000 });
    try {
      const waited = backend.waitForResult('t1', { timeoutMs: 10_000 });
      await new Promise((r) => setTimeout(r, 200));
      const writer = await connect(url);
      try {
        await writer.query(`INSERT INTO "t$trb$;DROP TABLE canary;SELECT $trb$" (id, task_id, status, result) VALUES (nextval('"s$$;DROP TABLE canary;--"'), 't1', 'SUCCESS', '\\x226f6b22'::bytea)`);
      } finally {
        await writer.end();
      }
      expect(await waited).to.equal('ok');
      expect(await query(url, 'SELECT count(*)::int AS n FROM canary')).to.deep.equal([{ n: 0 }]);
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });
});
