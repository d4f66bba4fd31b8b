import { expect } from 'chai';
import { Column, DataSource, DataSourceOptions, Entity, Logger as TypeOrmLogger, PrimaryGeneratedColumn } from 'typeorm';
import { InvalidOptionError, SafeSynchronizer, SyncResult } from '../../lib';
import { fullEntities, SEPARATE_SCHEMA } from '../fixtures/full-entities';
import { asRole, postgresOptions, useTestDatabase } from '../support/database';
import { connect, query } from '../support/pg-client';

/** Counts the statements TypeORM sends through the DataSource's pool. */
class CountingLogger implements TypeOrmLogger {
  queries: string[] = [];
  logQuery(q: string): void {
    this.queries.push(q);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

async function start(options: DataSourceOptions, verify?: 'fingerprint' | 'full'): Promise<SyncResult> {
  let result: SyncResult | undefined;
  const ds = await SafeSynchronizer.initialize(new DataSource(options), { verify, onSynchronized: (r) => (result = r) });
  await ds.destroy();
  if (!result) throw new Error('onSynchronized was not called');
  return result;
}

@Entity({ name: 'note' })
class NoteV1 {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 40 })
  title!: string;
}

/** The next version of the same app: one column more. */
@Entity({ name: 'note' })
class NoteV2 {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 40 })
  title!: string;

  @Column({ type: 'text', nullable: true })
  body!: string | null;
}

describe('SafeSynchronizer warm start (verify: "fingerprint")', () => {
  const db = useTestDatabase();
  const options = () => postgresOptions(db.current().url, { entities: fullEntities, synchronize: true });

  it('a start on a schema it synced before is verified by the fingerprint, in one query and without the lock', async () => {
    expect((await start(options())).verifiedBy).to.equal('diff');
    const counter = new CountingLogger();
    const ds = await new DataSource({ ...options(), synchronize: false, logging: true, logger: counter }).initialize();
    // Someone holds the schema lock for the whole warm start: a start that needed it would block.
    const holder = await connect(db.current().url, 'trb-test-holder');
    try {
      const [{ key }] = await query<{ key: string }>(db.current().url, "SELECT hashtext(current_database() || ':' || $1) AS key", [['jobs', 'public'].join(',')]);
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', [0x54524253, key]);
      counter.queries = [];
      const warm = await new SafeSynchronizer(ds, { lockTimeoutMs: 100 }).synchronize();
      expect(warm).to.deep.include({ changed: false, verifiedBy: 'fingerprint', lockWaitMs: 0, attempts: 1, statements: [] });
      expect(warm.lockKey).to.deep.equal([0x54524253, Number(key)]);
      expect(counter.queries, 'statements sent by the warm start').to.have.length(1);
      expect(counter.queries[0]).to.contain('pg_catalog.pg_attribute');
    } finally {
      await holder.end();
      await ds.destroy();
    }
  });

  it('verify: "full" runs TypeORM’s diff under the lock every time', async () => {
    await start(options());
    const full = await start(options(), 'full');
    expect(full).to.deep.include({ changed: false, verifiedBy: 'diff' });
  });

  const drift: [string, string, RegExp][] = [
    ['a column dropped by hand', 'ALTER TABLE job_owner DROP COLUMN email', /ADD "email"/],
    ['an index dropped by hand', `DROP INDEX "${'IDX_'}"`, /CREATE INDEX/],
    ['a default changed by hand', "ALTER TABLE job ALTER COLUMN priority SET DEFAULT 'high'", /ALTER COLUMN "priority" SET DEFAULT 'low'/],
    ['a NOT NULL dropped by hand', 'ALTER TABLE job_owner ALTER COLUMN email DROP NOT NULL', /ALTER COLUMN "email" SET NOT NULL/],
    ['an enum value added by hand', `ALTER TYPE "${SEPARATE_SCHEMA}".audit_priority ADD VALUE 'urgent'`, /audit_priority/],
    ['a foreign key dropped by hand', 'FK', /FOREIGN KEY/],
    ['an id sequence dropped by hand', 'DROP SEQUENCE task_id_sequence', /CREATE SEQUENCE IF NOT EXISTS "public"."task_id_sequence"/],
    ['a table in the separate schema dropped by hand', `DROP TABLE "${SEPARATE_SCHEMA}".audit_entry`, /CREATE TABLE "jobs"."audit_entry"/],
  ];
  for (const [label, statement, repair] of drift) {
    it(`${label}: the catalog hash changes, the full locked sync runs and repairs it`, async () => {
      await start(options());
      let sqlText = statement;
      if (statement.startsWith('DROP INDEX')) {
        const [{ name }] = await query<{ name: string }>(db.current().url, "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'job_owner' AND indexname LIKE 'IDX_%'");
        sqlText = `DROP INDEX "${name}"`;
      } else if (statement === 'FK') {
        const [{ name }] = await query<{ name: string }>(db.current().url, "SELECT conname AS name FROM pg_constraint WHERE conrelid = 'job'::regclass AND contype = 'f'");
        sqlText = `ALTER TABLE job DROP CONSTRAINT "${name}"`;
      }
      await query(db.current().url, sqlText);
      const repaired = await start(options());
      expect(repaired.verifiedBy).to.equal('diff');
      expect(repaired.changed).to.equal(true);
      expect(repaired.statements.join('\n')).to.match(repair);
      // And once repaired, the next start is warm again.
      expect((await start(options())).verifiedBy).to.equal('fingerprint');
    });
  }

  it('another app version (different entity metadata) never matches the older record, and each version’s record is its own', async () => {
    const v1 = () => postgresOptions(db.current().url, { entities: [NoteV1], synchronize: true });
    const v2 = () => postgresOptions(db.current().url, { entities: [NoteV2], synchronize: true });
    await start(v1());
    expect((await start(v1())).verifiedBy).to.equal('fingerprint');
    const upgraded = await start(v2());
    expect(upgraded).to.deep.include({ verifiedBy: 'diff', changed: true });
    expect(upgraded.statements.join('\n')).to.contain('ADD "body"');
    expect((await start(v2())).verifiedBy).to.equal('fingerprint');
    // v1's record still names the catalog as v1 left it; the catalog has moved on, so v1 diffs again.
    expect((await start(v1())).verifiedBy).to.equal('diff');
  });

  it('a database synced by plain TypeORM has no record, so the first SafeSynchronizer start diffs and records one', async () => {
    // Plain TypeORM never creates schemas.
    await query(db.current().url, `CREATE SCHEMA "${SEPARATE_SCHEMA}"`);
    const plain = await new DataSource(options()).initialize();
    await plain.destroy();
    const first = await start(options());
    expect(first.verifiedBy).to.equal('diff');
    const rows = await query(db.current().url, 'SELECT count(*)::int AS n FROM typeorm_result_backend_fingerprints');
    expect(rows).to.deep.equal([{ n: 1 }]);
    expect((await start(options())).verifiedBy).to.equal('fingerprint');
  });

  it('a role that may not create the fingerprint table still syncs, and says why every start diffs', async () => {
    const url = db.current().url;
    const role = `trb_nocreate_${db.current().name}`.slice(0, 60);
    await query(url, `CREATE ROLE ${role} LOGIN PASSWORD 'role-password'`);
    try {
      await query(url, `GRANT USAGE ON SCHEMA public TO ${role}`);
      await query(url, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
      // The tables exist already (made by the owner, without the package); this role only verifies.
      const plain = await new DataSource(postgresOptions(url, { entities: [NoteV1], synchronize: true })).initialize();
      await plain.destroy();
      // An application role with the usual DML grants (information_schema shows it only tables it has a grant on).
      await query(url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      const roleUrl = asRole(url, role, 'role-password');
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
      let result: SyncResult | undefined;
      const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(roleUrl, { entities: [NoteV1], synchronize: true })), {
        logger,
        onSynchronized: (r) => (result = r),
      });
      await ds.destroy();
      expect(result).to.deep.include({ changed: false, verifiedBy: 'diff' });
      expect(warnings.join('\n')).to.contain('fingerprint could not be recorded');
    } finally {
      await query(url, `DROP OWNED BY ${role}`);
      await query(url, `DROP ROLE ${role}`);
    }
  });

  it('refuses an unknown verify mode with a typed error that names the known ones', () => {
    const ds = new DataSource(postgresOptions('postgres://u@127.0.0.1:1/x', { entities: [NoteV1] }));
    expect(() => new SafeSynchronizer(ds, { verify: 'quick' as 'full' }))
      .to.throw(InvalidOptionError)
      .with.property('message')
      .that.contains('"fingerprint"')
      .and.contains('"full"');
  });
});
