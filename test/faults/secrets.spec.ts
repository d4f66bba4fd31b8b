import { expect } from 'chai';
import { inspect } from 'node:util';
import { DataSource } from 'typeorm';
import { DatabaseError, Logger, ResultBackend, ResultBackendError, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { redact } from '../../lib/cli/main';
import { postgresOptions, serverUrl, useTestDatabase } from '../support/database';
import { connect, query } from '../support/pg-client';

const SECRET = 'S3cr3t-Passw0rd-7f1c';

/** Everything an error shows, however it is looked at: message, stack, the cause chain, inspect and JSON. */
function everythingShown(error: unknown): string {
  const parts: string[] = [inspect(error, { depth: 12, showHidden: true })];
  for (let e: unknown = error, depth = 0; e && depth < 12; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error) parts.push(e.message, e.stack ?? '');
    try {
      parts.push(JSON.stringify(e, Object.getOwnPropertyNames(e)));
    } catch {
      parts.push(String(e));
    }
  }
  return parts.join('\n');
}

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure, but the call succeeded');
}

describe('No secret leaks: a password in the connection URL never shows up in errors or logs', () => {
  const db = useTestDatabase();
  let role: string;
  let url: string;
  const logged: string[] = [];
  const logger: Logger = {
    debug: (m, f) => logged.push(m, inspect(f, { depth: 8 })),
    info: (m, f) => logged.push(m, inspect(f, { depth: 8 })),
    warn: (m, f) => logged.push(m, inspect(f, { depth: 8 })),
    error: (m, f) => logged.push(m, inspect(f, { depth: 8 })),
  };

  beforeEach(async () => {
    role = `trb_secret_${db.current().name}`.slice(0, 60);
    await query(db.current().url, `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${SECRET}'`);
    const u = new URL(db.current().url);
    u.username = role;
    u.password = SECRET;
    url = u.toString();
    logged.length = 0;
  });
  // The role is the server's, not the test database's: dropped from the maintenance database.
  afterEach(async () => query(serverUrl(), `DROP ROLE IF EXISTS ${role}`));

  it('in every error we can provoke, and in everything the logger got', async () => {
    const errors: [string, unknown][] = [];
    const refused = new URL(url);
    refused.port = '1';
    errors.push(['connection refused', await failure(() => SafeSynchronizer.initialize(new DataSource(postgresOptions(refused.toString(), { entities: [TaskMeta], synchronize: true })), { logger }))]);

    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })), { logger });
    const backend = new ResultBackend(ds, { logger, listenConnection: refused.toString() });
    const holder = await connect(db.current().url, 'trb-secret-holder');
    try {
      // A lock timeout, with a holder to name.
      const sync = new SafeSynchronizer(ds, { lockTimeoutMs: 100, verify: 'full', logger });
      const [{ key }] = await query<{ key: number }>(db.current().url, "SELECT hashtext(current_database() || ':' || 'public') AS key");
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', [0x54524253, key]);
      errors.push(['lock timeout', await failure(() => sync.synchronize())]);
      await holder.query('ROLLBACK');
      // A wait whose LISTEN connection (a URL with the password) is refused.
      errors.push(['LISTEN connection refused', await failure(() => backend.waitForResult('never', { timeoutMs: 500 }))]);
      // A wait that times out, on a backend that listens.
      const listening = new ResultBackend(ds, { logger });
      errors.push(['wait timeout', await failure(() => listening.waitForResult('never-either', { timeoutMs: 100 }))]);
      await listening.close();
      // Bytes no codec reads.
      await query(db.current().url, "INSERT INTO celery_taskmeta (id, task_id, status, result) VALUES (nextval('task_id_sequence'), 'bad', 'SUCCESS', '\\x8005ff')");
      errors.push(['decode error', await failure(() => backend.getTaskMeta('bad'))]);
      // A driver error, wrapped. (A missing table is a fresh database, read as PENDING: a missing column is not.)
      await query(db.current().url, 'ALTER TABLE celery_taskmeta DROP COLUMN traceback');
      errors.push(['wrapped driver error', await failure(() => backend.getTaskMeta('any'))]);
    } finally {
      await holder.end();
      await backend.close();
      await ds.destroy();
    }
    expect(errors.map(([label]) => label)).to.have.length(6);
    for (const [label, error] of errors) {
      // Typed, all of them except the first: a DataSource that cannot connect fails in TypeORM's initialize().
      if (label !== 'connection refused') expect(error, label).to.be.instanceOf(ResultBackendError);
      expect(error, label).to.be.instanceOf(Error);
      expect(everythingShown(error), `${label} shows the password`).not.to.contain(SECRET);
    }
    expect(logged.length, 'the logger was given something to say').to.be.greaterThan(0);
    expect(logged.join('\n'), 'the log shows the password').not.to.contain(SECRET);
  });

  it('the check above would catch a leak: a raw pg connection error to a URL with the password, inspected with its client, shows it', async () => {
    const { Client } = await import('pg');
    const refused = new URL(url);
    refused.port = '1';
    const client = new Client({ connectionString: refused.toString() });
    const error = await failure(() => client.connect());
    // The error alone does not carry it; an object that holds the client's config does.
    expect(everythingShown({ error, client })).to.contain(SECRET);
  });

  it('a database error while storing never shows the values the statement was sent (the result bytes, the traceback)', async () => {
    const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })), { logger });
    const backend = new ResultBackend(ds, { logger, listen: false });
    const bytes = Buffer.from(SECRET);
    // Every way the secret's bytes could be shown: as text, as hex (bytea, Buffer), as inspect's Buffer and as JSON's Buffer.
    const shapes = [SECRET, bytes.toString('hex'), inspect(bytes).slice(8, 30), JSON.stringify(bytes.toJSON().data).slice(1, 25), bytes.toString('base64').slice(0, 16)];
    try {
      // 22001: a traceback longer than the column (narrowed here) holds; its message names no value.
      await query(db.current().url, 'ALTER TABLE celery_taskmeta ALTER COLUMN traceback TYPE varchar(16)');
      const tooLong = await failure(() => backend.markAsFailure('too-long', new Error(`token ${SECRET}`), `Traceback: token ${SECRET}`));
      // 23514: a CHECK the row fails; PostgreSQL's detail lists the whole failing row, result bytes included.
      await query(db.current().url, "ALTER TABLE celery_taskmeta ADD CONSTRAINT trb_refuse_success CHECK (status <> 'SUCCESS')");
      const refused = await failure(() => backend.markAsDone('refused', { token: SECRET }));
      for (const [label, error, code] of [['value too long', tooLong, '22001'], ['check violation', refused, '23514']] as const) {
        expect(error, label).to.be.instanceOf(DatabaseError);
        expect((error as DatabaseError).pgCode, label).to.equal(code);
        const shown = [inspect(error, { depth: 10 }), JSON.stringify(error), everythingShown(error)].join('\n');
        for (const shape of shapes) expect(shown, `${label} shows the secret as ${shape}`).not.to.contain(shape);
        // What the cause still says: enough to act on.
        expect((error as Error).cause, label).to.include({ code });
      }
      expect(((refused as Error).cause as { constraint?: string }).constraint).to.equal('trb_refuse_success');
      const log = logged.join('\n');
      for (const shape of shapes) expect(log, `the log shows the secret as ${shape}`).not.to.contain(shape);
    } finally {
      await backend.close();
      await ds.destroy();
    }
  });
});

describe('redact(): every way a connection string carries a password', () => {
  const cases: [string, string][] = [
    ['postgres://deploy:hunter2@db:5432/app', 'postgres://deploy:***@db:5432/app'],
    ['postgres://db/app?password=s3cret', 'postgres://db/app?password=***'],
    ['postgres://app@db/app?sslmode=require&password=s3cret&application_name=x', 'postgres://app@db/app?sslmode=require&password=***&application_name=x'],
    ['postgres://db/app?PASSWORD=s3cret#frag', 'postgres://db/app?PASSWORD=***#frag'],
    ['connect failed: host=db user=app password=s3cret dbname=app', 'connect failed: host=db user=app password=*** dbname=app'],
    ["host=db password='s 3cret' dbname=app", 'host=db password=*** dbname=app'],
    ["password='it\\'s s3cret' host=db", 'password=*** host=db'],
    ['host=db password = s3cret', 'host=db password = ***'],
    // In a JSON-encoded log field, the string ends at the unescaped quote; an escaped one is part of the password.
    ['{"dsn":"host=db password=s3\\"cret","ok":1}', '{"dsn":"host=db password=***","ok":1}'],
    [JSON.stringify({ dsn: "password='it\\'s s3cret' host=db" }), '{"dsn":"password=*** host=db"}'],
  ];
  for (const [input, expected] of cases) {
    it(`redacts ${input}`, () => {
      expect(redact(input)).to.equal(expected);
      expect(redact(input)).not.to.match(/s3|cret/);
    });
  }

  it('leaves text without a password alone', () => {
    for (const text of ['postgres://app@db/app?sslmode=require', 'host=db user=app dbname=app', 'the password_hash column', 'no_password=1 is not a password']) {
      expect(redact(text)).to.equal(text);
    }
  });
});
