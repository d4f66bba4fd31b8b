import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { ForeignObjectError, ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { FINGERPRINT_TABLE } from '../../lib/dialects/postgres/fingerprint-sql';
import { wakeFunctions, wakeNames } from '../../lib/dialects/postgres/wake-sql';
import { rejection } from '../support/backend';
import { postgresOptions, useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { TestRole, useRoleFactory } from '../support/roles';

const CELERY = wakeNames('public', 'celery_taskmeta');

/**
 * The objects the package makes with IF NOT EXISTS, as an untrusted role
 * with CREATE on `public` (the default before PostgreSQL 15, and kept by
 * upgraded databases) can make them first: each with a trigger that records
 * who ran it, and everything granted to PUBLIC.
 */
const PLANTS: Record<string, { object: string; kind: string; sql: string[] }> = {
  'the interest table': {
    object: `"public"."${CELERY.interestTable}"`,
    kind: 'table',
    sql: [`CREATE TABLE public.${CELERY.interestTable} (task_id varchar(155), pid int, since timestamptz DEFAULT now(), PRIMARY KEY (task_id, pid))`, ...plantedTrigger(CELERY.interestTable)],
  },
  'the first-seen table': {
    object: `"public"."${CELERY.firstSeenTable}"`,
    kind: 'table',
    sql: [`CREATE TABLE public.${CELERY.firstSeenTable} (task_id varchar(155) PRIMARY KEY, first_seen timestamp NOT NULL)`, ...plantedTrigger(CELERY.firstSeenTable)],
  },
  'the fingerprint table': {
    object: `"public"."${FINGERPRINT_TABLE}"`,
    kind: 'table',
    sql: [
      `CREATE TABLE public.${FINGERPRINT_TABLE} (metadata_hash text PRIMARY KEY, catalog_hash text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), first_recorded_at timestamptz NOT NULL DEFAULT now())`,
      ...plantedTrigger(FINGERPRINT_TABLE),
      // A policy runs its function as whoever reads: the fast path before the lock must not read it.
      `ALTER TABLE public.${FINGERPRINT_TABLE} ENABLE ROW LEVEL SECURITY`,
      `CREATE POLICY planted ON public.${FINGERPRINT_TABLE} USING (public.planted_read('${FINGERPRINT_TABLE}'))`,
    ],
  },
  'the task id sequence': {
    object: '"public"."task_id_sequence"',
    kind: 'sequence',
    sql: ['CREATE SEQUENCE public.task_id_sequence', 'GRANT ALL ON SEQUENCE public.task_id_sequence TO PUBLIC'],
  },
  'the wait function': {
    object: wakeFunctions(CELERY).register.signature,
    kind: 'function',
    sql: [`CREATE FUNCTION ${wakeFunctions(CELERY).register.signature.replace('(text[])', '(ids text[])')} RETURNS void LANGUAGE sql AS 'SELECT NULL'`],
  },
};

function plantedTrigger(table: string): string[] {
  return [`CREATE TRIGGER planted AFTER INSERT OR UPDATE OR DELETE ON public.${table} FOR EACH ROW EXECUTE FUNCTION public.planted()`, `GRANT ALL ON public.${table} TO PUBLIC`];
}

describe('objects another role made first are refused, never adopted (CVE-2022-2625 class)', function () {
  const db = useTestDatabase();
  const role = useRoleFactory(db);
  let mallory: TestRole;
  let installer: TestRole;

  beforeEach(async function () {
    const url = db.current().url;
    // What the planted code did, as whom: writable by everyone, so the plant never fails.
    await query(url, 'CREATE TABLE public.planted_log (who text, what text)');
    await query(url, 'GRANT INSERT ON public.planted_log TO PUBLIC');
    mallory = await role('mallory', ['GRANT CREATE ON SCHEMA public TO $ROLE']);
    installer = await role('installer', ['GRANT CREATE ON SCHEMA public TO $ROLE']);
    await query(mallory.url, "CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.planted_log VALUES (current_user, TG_TABLE_NAME); RETURN NULL; END$$");
    await query(mallory.url, "CREATE FUNCTION public.planted_read(what text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.planted_log VALUES (current_user, what); RETURN true; END$$");
  });

  async function plant(...sql: string[]): Promise<void> {
    for (const statement of sql) await query(mallory.url, statement);
  }

  async function plantedRuns(): Promise<{ who: string; what: string }[]> {
    return query<{ who: string; what: string }>(db.current().url, 'SELECT who, what FROM public.planted_log');
  }

  async function tableExists(name: string): Promise<boolean> {
    const [{ present }] = await query<{ present: boolean }>(db.current().url, 'SELECT to_regclass($1) IS NOT NULL AS present', [name]);
    return present;
  }

  async function syncAs(r: TestRole): Promise<void> {
    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(r.url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
    await ds.destroy();
  }

  it('refuses the issue\'s whole plant on the first object it meets, having run none of the planted code, and commits nothing', async function () {
    for (const p of Object.values(PLANTS)) await plant(...p.sql);
    const error = await rejection(syncAs(installer));
    expect(error).to.be.instanceOf(ForeignObjectError);
    expect((error as ForeignObjectError).owner).to.equal(mallory.name);
    expect(Object.values(PLANTS).map((p) => p.object)).to.include((error as ForeignObjectError).object);
    expect(await plantedRuns()).to.deep.equal([]);
    expect(await tableExists('public.celery_taskmeta'), 'the sync rolled back').to.equal(false);
  });

  for (const [what, p] of Object.entries(PLANTS)) {
    it(`refuses ${what} alone, naming it and its owner, with a message in three parts`, async function () {
      await plant(...p.sql);
      const error = (await rejection(syncAs(installer))) as ForeignObjectError;
      expect(error).to.be.instanceOf(ForeignObjectError);
      expect(error).to.include({ code: 'FOREIGN_OBJECT', kind: p.kind, object: p.object, owner: mallory.name, problem: 'owner' });
      expect(error.message).to.include(`${p.object} already exists, owned by the role "${mallory.name}"`);
      expect(error.message).to.include('refuses to adopt it');
      expect(error.message).to.include(`OWNER TO "${installer.name}"`);
      expect(await plantedRuns()).to.deep.equal([]);
      expect(await tableExists('public.celery_taskmeta'), 'the sync rolled back').to.equal(false);
    });
  }

  it('adopts what the installer itself or a superuser made first (the check is not a blanket refusal)', async function () {
    await query(installer.url, `CREATE TABLE public.${CELERY.firstSeenTable} (task_id varchar(155) PRIMARY KEY, first_seen timestamp without time zone NOT NULL)`);
    await query(db.current().url, 'CREATE SEQUENCE public.task_id_sequence');
    await query(db.current().url, 'GRANT USAGE ON SEQUENCE public.task_id_sequence TO PUBLIC');
    await syncAs(installer);
    expect(await tableExists('public.celery_taskmeta')).to.equal(true);
  });

  it("adopts the sequences of the role that owns the task tables (Celery's own role made them all first)", async function () {
    const celeryOwner = await role('celery_owner', ['GRANT CREATE ON SCHEMA public TO $ROLE']);
    const plain = await new DataSource(postgresOptions(celeryOwner.url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })).initialize();
    await plain.query('CREATE SEQUENCE task_id_sequence; CREATE SEQUENCE taskset_id_sequence');
    await plain.query(`GRANT ALL ON celery_taskmeta, celery_tasksetmeta, task_id_sequence, taskset_id_sequence TO "${installer.name}"`);
    await plain.destroy();
    await syncAs(installer);
    const [{ triggers }] = await query<{ triggers: number }>(db.current().url, "SELECT count(*)::int AS triggers FROM pg_trigger WHERE tgrelid = 'celery_taskmeta'::regclass AND NOT tgisinternal");
    expect(triggers, 'the wake-up trigger is on the task table').to.equal(1);
  });

  it('refuses a table of its own that has grown a trigger, and one that is a view', async function () {
    await query(installer.url, `CREATE TABLE public.${CELERY.firstSeenTable} (task_id varchar(155) PRIMARY KEY, first_seen timestamp without time zone NOT NULL)`);
    await query(db.current().url, `CREATE TRIGGER planted AFTER INSERT ON public.${CELERY.firstSeenTable} FOR EACH ROW EXECUTE FUNCTION public.planted()`);
    const triggered = (await rejection(syncAs(installer))) as ForeignObjectError;
    expect(triggered).to.be.instanceOf(ForeignObjectError);
    expect(triggered).to.include({ problem: 'triggers', owner: installer.name });
    expect(triggered.message).to.include('with triggers the package did not make');

    await query(db.current().url, `DROP TABLE public.${CELERY.firstSeenTable}`);
    await query(installer.url, `CREATE VIEW public.${CELERY.firstSeenTable} AS SELECT 'x'::varchar(155) AS task_id, now()::timestamp AS first_seen`);
    const view = (await rejection(syncAs(installer))) as ForeignObjectError;
    expect(view).to.be.instanceOf(ForeignObjectError);
    expect(view).to.include({ problem: 'kind' });
    expect(view.message).to.include('it is a view, not the table the package makes');
  });

  it('refuses a planted first-seen table at cleanup, for an app role on tables made without the synchronizer', async function () {
    // The tables as plain TypeORM and Celery make them (no trigger, no side tables), then the plant.
    const plain = await new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })).initialize();
    await plain.destroy();
    await query(db.current().url, 'CREATE SEQUENCE IF NOT EXISTS task_id_sequence; CREATE SEQUENCE IF NOT EXISTS taskset_id_sequence');
    await plant(...PLANTS['the first-seen table'].sql);
    const app = await role('app', [
      'GRANT SELECT, INSERT, UPDATE, DELETE ON celery_taskmeta, celery_tasksetmeta TO $ROLE',
      'GRANT USAGE ON SEQUENCE task_id_sequence, taskset_id_sequence TO $ROLE',
    ]);
    await query(db.current().url, "INSERT INTO celery_taskmeta (id, task_id, status) VALUES (nextval('task_id_sequence'), 'unfinished', 'STARTED')");
    const ds = await new DataSource(postgresOptions(app.url, { entities: [TaskMeta, TaskSetMeta] })).initialize();
    const backend = new ResultBackend(ds, { recheckIntervalMs: 0 });
    try {
      const error = (await rejection(backend.cleanup())) as ForeignObjectError;
      expect(error).to.be.instanceOf(ForeignObjectError);
      expect(error).to.include({ object: PLANTS['the first-seen table'].object, owner: mallory.name, problem: 'owner' });
      expect(await plantedRuns()).to.deep.equal([]);
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });
});
