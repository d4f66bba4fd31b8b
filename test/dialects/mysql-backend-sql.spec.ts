import { expect } from 'chai';
import { mysqlServerUrl, mysqlUnavailable } from '../support/mariadb';
import { randomBytes } from 'node:crypto';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';
import type { StoreParams } from '../../lib/dialects/postgres/backend-sql';
import {
  MYSQL_IN_LIST_CHUNK,
  MySqlBackendTables,
  MySqlOkPacket,
  countByStateSql,
  createFirstSeenSql,
  deleteAbandonedBatchSql,
  deleteExpiredBatchSql,
  deleteGroupSql,
  deleteTaskSql,
  forgetFirstSeenSql,
  lockStoredStatusSql,
  parseMySqlUtc,
  qualifiedMySql,
  quoteMySqlIdent,
  recordFirstSeenBatchSql,
  saveGroupSql,
  selectGroupSql,
  selectTaskSql,
  selectOutcomesSql,
  storeApplied,
  storeSql,
  storeWouldApply,
} from '../../lib/dialects/mysql/backend-sql';
import type { SqlQuery } from '../../lib/query';

/** The server these specs run on: MariaDB 10.11 on this machine unless MYSQL_URL names another. */
const SERVER_URL = mysqlServerUrl();
const HOUR = 3_600_000;

/**
 * How Celery's tables get their ids: AUTO_INCREMENT on MySQL; on MariaDB
 * 10.3+, SQLAlchemy gives Celery its sequences and a plain int id.
 */
interface IdScheme {
  label: string;
  /** The id column's definition. */
  id: string;
  taskSequence(db: string): string | null;
  groupSequence(db: string): string | null;
  mariaDbOnly: boolean;
}

const ID_SCHEMES: readonly IdScheme[] = [
  { label: 'Celery on MySQL: AUTO_INCREMENT ids', id: 'id INT NOT NULL AUTO_INCREMENT PRIMARY KEY', taskSequence: () => null, groupSequence: () => null, mariaDbOnly: false },
  {
    label: "Celery on MariaDB: ids from Celery's sequences",
    id: 'id INT NOT NULL PRIMARY KEY',
    taskSequence: (db) => qualifiedMySql(db, 'task_id_sequence'),
    groupSequence: (db) => qualifiedMySql(db, 'taskset_id_sequence'),
    mariaDbOnly: true,
  },
];

/** Celery's own MySQL schema (SQLAlchemy's DDL for TaskExtended and TaskSet). */
const celeryTaskDdl = (scheme: IdScheme, table: string, options = '') => `CREATE TABLE ${table} (
  ${scheme.id},
  task_id VARCHAR(155) UNIQUE,
  status VARCHAR(50),
  result BLOB,
  date_done DATETIME,
  traceback TEXT,
  name VARCHAR(155),
  args BLOB,
  kwargs BLOB,
  worker VARCHAR(155),
  retries INT,
  queue VARCHAR(155)
) ${options}`;
const celeryGroupDdl = (scheme: IdScheme, table: string) => `CREATE TABLE ${table} (
  ${scheme.id},
  taskset_id VARCHAR(155) UNIQUE,
  result BLOB,
  date_done DATETIME
)`;

type Queryable = Pick<mysql.Connection, 'query'>;

async function run<T = mysql.RowDataPacket[]>(c: Queryable, q: SqlQuery | string): Promise<T> {
  const [result] = typeof q === 'string' ? await c.query(q) : await c.query(q.text, q.values);
  return result as T;
}

async function ok(c: Queryable, q: SqlQuery): Promise<mysql.ResultSetHeader> {
  return run<mysql.ResultSetHeader>(c, q);
}

/**
 * Rows written straight in SQL, as Celery would write them: the id drawn with
 * NEXTVAL where the table takes its ids from a sequence, else left to AUTO_INCREMENT.
 */
async function insertRows(c: Queryable, table: string, sequence: string | null, columns: string[], rows: readonly (readonly unknown[])[]): Promise<void> {
  const tuple = `(${sequence ? `NEXTVAL(${sequence}), ` : ''}${columns.map(() => '?').join(', ')})`;
  await c.query(`INSERT INTO ${table} (${sequence ? 'id, ' : ''}${columns.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}`, rows.flat());
}

/** Sends batch after batch until one deletes (or inserts) fewer than `batch` rows, as ResultBackend.cleanup drains. */
async function drain(c: Queryable, next: () => SqlQuery, batch: number): Promise<number[]> {
  const counts: number[] = [];
  for (;;) {
    const n = (await ok(c, next())).affectedRows;
    counts.push(n);
    if (n < batch) return counts;
  }
}

function params(taskId: string, status: string, over: Partial<StoreParams> = {}): StoreParams {
  return { taskId, status, result: null, traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null, extra: [], ...over };
}

function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const DEADLOCK = 1213;
const LOCK_WAIT_TIMEOUT = 1205;

/** One statement sent again after InnoDB rolled it back as a deadlock victim, as withRetry does. */
async function withDeadlockRetry<T>(send: () => Promise<T>, retries: { count: number }): Promise<T> {
  for (;;) {
    try {
      return await send();
    } catch (error) {
      const errno = (error as { errno?: number }).errno;
      if (errno !== DEADLOCK && errno !== LOCK_WAIT_TIMEOUT) throw error;
      retries.count++;
    }
  }
}

interface MySqlTestDatabase {
  name: string;
  tables: MySqlBackendTables;
  /** A connection to the server (no default database: every table name is database-qualified). */
  connect(options?: mysql.ConnectionOptions): Promise<mysql.Connection>;
}

/** A fresh database `trb_mysql_<random>` with Celery's two tables for each test, dropped afterwards. */
function useMySqlDatabase(scheme: IdScheme): { current(): MySqlTestDatabase; admin(): mysql.Connection } {
  let admin: mysql.Connection | undefined;
  let db: MySqlTestDatabase | undefined;
  const opened: mysql.Connection[] = [];
  before(async function () {
    const missing = await mysqlUnavailable();
    if (missing) {
      if (process.env.TRB_REQUIRE_MYSQL === '1') throw new Error(`TRB_REQUIRE_MYSQL=1, but ${missing}`);
      console.warn(`    SKIPPED (MySQL/MariaDB specs): ${missing}`);
      this.skip();
    }
    admin = await mysql.createConnection({ uri: SERVER_URL, connectTimeout: 5000 });
    const [[{ version }]] = (await admin.query('SELECT VERSION() AS version')) as unknown as [[{ version: string }]];
    if (scheme.mariaDbOnly && !/mariadb/i.test(version)) {
      console.log(`    skipped: ${version} is not MariaDB, the server with sequences`);
      this.skip();
    }
  });
  after(async () => admin?.end());
  beforeEach(async () => {
    const name = `trb_mysql_${randomBytes(5).toString('hex')}`;
    await admin!.query(`CREATE DATABASE ${quoteMySqlIdent(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    const tables: MySqlBackendTables = {
      task: qualifiedMySql(name, 'celery_taskmeta'),
      group: qualifiedMySql(name, 'celery_tasksetmeta'),
      firstSeen: qualifiedMySql(name, 'celery_taskmeta_first_seen'),
      taskSequence: scheme.taskSequence(name),
      groupSequence: scheme.groupSequence(name),
    };
    for (const sequence of [tables.taskSequence, tables.groupSequence]) if (sequence) await admin!.query(`CREATE SEQUENCE ${sequence}`);
    await admin!.query(celeryTaskDdl(scheme, tables.task));
    await admin!.query(celeryGroupDdl(scheme, tables.group));
    db = {
      name,
      tables,
      async connect(options = {}) {
        const c = await mysql.createConnection({ uri: SERVER_URL, ...options });
        opened.push(c);
        return c;
      },
    };
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.end().catch(() => undefined)));
    if (db) await admin!.query(`DROP DATABASE IF EXISTS ${quoteMySqlIdent(db.name)}`);
    db = undefined;
  });
  return {
    current() {
      if (!db) throw new Error('no test database: call current() inside a test');
      return db;
    },
    admin() {
      return admin!;
    },
  };
}

describe('The MySQL/MariaDB result-store SQL, as text', () => {
  const t: MySqlBackendTables = { task: '`app`.`celery_taskmeta`', group: '`app`.`celery_tasksetmeta`', firstSeen: '`app`.`celery_taskmeta_first_seen`', taskSequence: null, groupSequence: null };
  const seq: MySqlBackendTables = { ...t, taskSequence: '`app`.`task_id_sequence`', groupSequence: '`app`.`taskset_id_sequence`' };

  it('quotes identifiers with backticks, doubling embedded ones, and qualifies them by database when one is given', () => {
    expect(quoteMySqlIdent('we`ird')).to.equal('`we``ird`');
    expect(qualifiedMySql('my db', 'celery_taskmeta')).to.equal('`my db`.`celery_taskmeta`');
    expect(qualifiedMySql(undefined, 'celery_taskmeta')).to.equal('`celery_taskmeta`');
  });

  it('sends one ? per value in every statement', () => {
    const queries: SqlQuery[] = [
      storeSql(t, params('t', 'SUCCESS')),
      storeSql(t, params('t', 'STARTED', { extra: [['`tenant`', 'x']] })),
      storeSql(seq, params('t', 'STARTED', { extra: [['`tenant`', 'x']] })),
      saveGroupSql(seq, 'g', Buffer.from('x')),
      selectTaskSql(t, 't'),
      ...selectOutcomesSql(t, ['a', 'b', 'c']),
      deleteTaskSql(t, 't'),
      saveGroupSql(t, 'g', Buffer.from('x')),
      selectGroupSql(t, 'g'),
      deleteGroupSql(t, 'g'),
      deleteExpiredBatchSql(t.task, HOUR, 10, true),
      deleteExpiredBatchSql(t.group, HOUR, 10, false),
      recordFirstSeenBatchSql(t, 10),
      forgetFirstSeenSql(t),
      deleteAbandonedBatchSql(t, HOUR, 10),
      countByStateSql(t.task),
      lockStoredStatusSql(t, 't'),
    ];
    for (const q of queries) expect(q.text.split('?').length - 1, q.text).to.equal(q.values.length);
  });

  it('stores without an id (AUTO_INCREMENT draws it), assigns status last, and inlines no value', () => {
    const { text, values } = storeSql(t, params("x'); DROP TABLE y; --", 'STARTED', { name: 'n' }));
    expect(text).to.match(/^INSERT INTO `app`.`celery_taskmeta` \(task_id, status, result, date_done,/);
    expect(text).to.contain('ON DUPLICATE KEY UPDATE');
    expect(text.trim().split('\n').pop()).to.match(/^\s*status = /);
    expect(text).not.to.contain('DROP TABLE');
    expect(values[0]).to.equal("x'); DROP TABLE y; --");
  });

  it("draws the id with NEXTVAL from Celery's sequence where the table has one, and reports it through LAST_INSERT_ID", () => {
    expect(storeSql(seq, params('t', 'SUCCESS')).text).to.match(/^INSERT INTO `app`.`celery_taskmeta` \(id, task_id, .*\nVALUES \(LAST_INSERT_ID\(NEXTVAL\(`app`.`task_id_sequence`\)\), \?/);
    expect(saveGroupSql(seq, 'g', Buffer.from('x')).text).to.contain('VALUES (NEXTVAL(`app`.`taskset_id_sequence`), ?');
  });

  it('refuses a TaskMeta column that is not a backtick-quoted identifier rather than inline it', () => {
    expect(() => storeSql(t, params('t', 'SUCCESS', { extra: [['"tenant"', 'x']] }))).to.throw(/backtick-quoted/);
    expect(() => storeSql(t, params('t', 'SUCCESS', { extra: [['tenant = 1, status', 'x']] }))).to.throw(/backtick-quoted/);
  });

  it('reads nothing for no ids, and one statement per thousand ids', () => {
    expect(selectOutcomesSql(t, [])).to.deep.equal([]);
    const ids = Array.from({ length: 2500 }, (_, i) => `id-${i}`);
    expect(selectOutcomesSql(t, ids).map((q) => q.values.length)).to.deep.equal([MYSQL_IN_LIST_CHUNK, MYSQL_IN_LIST_CHUNK, 500]);
  });

  it('parses the UTC text the statements select, to the millisecond, and a zero date as null', () => {
    expect(parseMySqlUtc('2024-02-29T23:59:58.123999Z')!.toISOString()).to.equal('2024-02-29T23:59:58.123Z');
    expect(parseMySqlUtc('1000-01-01T00:00:00.000000Z')!.toISOString()).to.equal('1000-01-01T00:00:00.000Z');
    expect(parseMySqlUtc('0000-00-00T00:00:00.000000Z')).to.equal(null);
    expect(parseMySqlUtc(null)).to.equal(null);
    expect(() => parseMySqlUtc('2024-02-29 23:59:58')).to.throw(TypeError);
  });

  it('decides precedence in JS the way the statement does, for the transactional fallback', () => {
    expect(storeWouldApply(undefined, 'STARTED')).to.equal(true);
    expect(storeWouldApply(null, 'STARTED')).to.equal(true);
    expect(storeWouldApply('STARTED', 'SUCCESS')).to.equal(true);
    expect(storeWouldApply('SUCCESS', 'FAILURE')).to.equal(true);
    expect(storeWouldApply('SUCCESS', 'STARTED')).to.equal(false);
    expect(storeApplied({ affectedRows: 1, insertId: 0 })).to.equal(false);
    expect(storeApplied({ affectedRows: 1, insertId: '9007199254740993' })).to.equal(true);
  });
});

for (const scheme of ID_SCHEMES) describe(`The MySQL/MariaDB result-store SQL, on the real server (${scheme.label})`, function () {
  this.timeout(120_000);
  const db = useMySqlDatabase(scheme);
  let c: mysql.Connection;
  let t: MySqlBackendTables;
  beforeEach(async () => {
    t = db.current().tables;
    c = await db.current().connect();
  });

  async function store(conn: Queryable, taskId: string, status: string, over: Partial<StoreParams> = {}): Promise<{ packet: mysql.ResultSetHeader; applied: boolean }> {
    const packet = await ok(conn, storeSql(t, params(taskId, status, over)));
    return { packet, applied: storeApplied(packet as MySqlOkPacket) };
  }

  async function row(taskId: string): Promise<Record<string, unknown> | undefined> {
    return (await run(c, selectTaskSql(t, taskId)))[0];
  }

  describe('storing', () => {
    it('inserts a new task and reads every column back', async () => {
      const { applied } = await store(c, 't1', 'SUCCESS', {
        result: Buffer.from('{"sum": 3}'),
        traceback: null,
        name: 'proj.add',
        args: Buffer.from('[1, 2]'),
        kwargs: Buffer.from('{}'),
        worker: 'w1@host',
        retries: 0,
        queue: 'celery',
      });
      expect(applied).to.equal(true);
      const r = (await row('t1'))!;
      expect(r).to.deep.include({ task_id: 't1', status: 'SUCCESS', traceback: null, name: 'proj.add', worker: 'w1@host', retries: 0, queue: 'celery' });
      expect((r.result as Buffer).toString()).to.equal('{"sum": 3}');
      expect((r.args as Buffer).toString()).to.equal('[1, 2]');
      expect((r.kwargs as Buffer).toString()).to.equal('{}');
      expect(Math.abs(parseMySqlUtc(r.date_done as string)!.getTime() - Date.now())).to.be.below(5000);
      expect(await run(c, selectTaskSql(t, 'unknown'))).to.deep.equal([]);
    });

    it('never lets a non-ready state overwrite a ready one, and reports the dropped write as not applied', async () => {
      expect((await store(c, 'a', 'SUCCESS', { result: Buffer.from('done'), worker: 'w1' })).applied).to.equal(true);
      const before = await row('a');
      const late = await store(c, 'a', 'STARTED', { result: Buffer.from('pid'), worker: 'w2', traceback: 'tb' });
      expect(late.applied).to.equal(false);
      expect(await row('a'), 'no column of the stored row changed').to.deep.equal(before);
    });

    it('applies a ready state over a non-ready one, and a ready state over another ready one', async () => {
      expect((await store(c, 'a', 'STARTED')).applied).to.equal(true);
      expect((await store(c, 'a', 'SUCCESS', { result: Buffer.from('1') })).applied).to.equal(true);
      expect((await row('a'))!.status).to.equal('SUCCESS');
      expect((await store(c, 'a', 'FAILURE', { result: Buffer.from('2'), traceback: 'tb' })).applied).to.equal(true);
      expect(await row('a')).to.deep.include({ status: 'FAILURE', traceback: 'tb' });
      expect((await store(c, 'a', 'REVOKED')).applied).to.equal(true);
      expect(await row('a')).to.deep.include({ status: 'REVOKED', result: null, traceback: null });
    });

    it('reports a rewrite with identical values as applied, ready or not', async () => {
      await store(c, 'ready', 'SUCCESS', { result: Buffer.from('r') });
      expect((await store(c, 'ready', 'SUCCESS', { result: Buffer.from('r') })).applied).to.equal(true);
      await store(c, 'running', 'STARTED');
      expect((await store(c, 'running', 'STARTED')).applied).to.equal(true);
      await store(c, 'pending', 'PENDING');
      expect((await store(c, 'pending', 'RETRY')).applied).to.equal(true);
    });

    it('treats a NULL status (Celery\'s PENDING) and a lowercase or padded "success" as not ready', async () => {
      await insertRows(c, t.task, t.taskSequence, ['task_id', 'status'], [['null', null], ['lower', 'success'], ['padded', 'SUCCESS ']]);
      for (const id of ['null', 'lower', 'padded']) expect((await store(c, id, 'STARTED')).applied, id).to.equal(true);
    });

    it('keeps the stored extended fields when a later write gives NULL, and replaces them when it gives values', async () => {
      await store(c, 't', 'STARTED', { name: 'proj.slow', args: Buffer.from('[1]'), kwargs: Buffer.from('{"k": 1}'), worker: 'w1', retries: 2, queue: 'q1', traceback: 'early' });
      await store(c, 't', 'SUCCESS', { result: Buffer.from('ok') });
      const kept = (await row('t'))!;
      expect(kept).to.deep.include({ status: 'SUCCESS', name: 'proj.slow', worker: 'w1', retries: 2, queue: 'q1', traceback: null });
      expect([(kept.args as Buffer).toString(), (kept.kwargs as Buffer).toString(), (kept.result as Buffer).toString()]).to.deep.equal(['[1]', '{"k": 1}', 'ok']);
      await store(c, 't', 'FAILURE', { name: 'proj.other', worker: 'w2', retries: 0, queue: 'q2' });
      expect(await row('t')).to.deep.include({ status: 'FAILURE', name: 'proj.other', worker: 'w2', retries: 0, queue: 'q2', result: null });
    });

    it('writes the columns of a TaskMeta subclass on an applied write, and leaves them on a dropped one', async () => {
      await run(c, `ALTER TABLE ${t.task} ADD COLUMN ${quoteMySqlIdent('tenant id')} VARCHAR(50)`);
      const tenant = (value: string | null) => ({ extra: [[quoteMySqlIdent('tenant id'), value]] as [string, unknown][] });
      await store(c, 't', 'STARTED', tenant('acme'));
      await store(c, 't', 'SUCCESS', tenant('globex'));
      expect((await store(c, 't', 'STARTED', tenant('initech'))).applied).to.equal(false);
      expect(await run(c, `SELECT \`tenant id\` AS tenant FROM ${t.task}`)).to.deep.equal([{ tenant: 'globex' }]);
    });

    it('sets date_done only for ready states, and a dropped write leaves it', async () => {
      await store(c, 'run', 'STARTED');
      expect((await row('run'))!.date_done).to.equal(null);
      await store(c, 'run', 'SUCCESS');
      const done = (await row('run'))!.date_done;
      expect(done).to.be.a('string');
      await store(c, 'run', 'RETRY');
      expect((await row('run'))!.date_done).to.equal(done);
    });

    it('evaluates ON DUPLICATE KEY UPDATE left to right, each assignment seeing the ones before (why status goes last)', async () => {
      const lr = qualifiedMySql(db.current().name, 'left_to_right');
      await run(c, `CREATE TABLE ${lr} (task_id VARCHAR(155) PRIMARY KEY, status VARCHAR(50), name VARCHAR(155))`);
      await run(c, `INSERT INTO ${lr} (task_id, status, name) VALUES ('x', 'STARTED', NULL)`);
      await run(c, `INSERT INTO ${lr} (task_id, status) VALUES ('x', 'SUCCESS') ON DUPLICATE KEY UPDATE status = VALUES(status), name = status`);
      expect(await run(c, `SELECT status, name FROM ${lr}`)).to.deep.equal([{ status: 'SUCCESS', name: 'SUCCESS' }]);
    });
  });

  describe('what the OK packet of a store tells', () => {
    async function outcomes(conn: Queryable): Promise<Record<string, Pick<mysql.ResultSetHeader, 'affectedRows' | 'insertId' | 'changedRows' | 'info'>>> {
      const fields = ({ affectedRows, insertId, changedRows, info }: mysql.ResultSetHeader) => ({ affectedRows, insertId, changedRows, info });
      const seen: Record<string, ReturnType<typeof fields>> = {};
      seen.insert = fields((await store(conn, 'p', 'STARTED', { result: Buffer.from('1') })).packet);
      seen.applied = fields((await store(conn, 'p', 'SUCCESS', { result: Buffer.from('2') })).packet);
      seen.identical = fields((await store(conn, 'p', 'SUCCESS', { result: Buffer.from('2') })).packet);
      await run(conn, 'SELECT LAST_INSERT_ID(99)');
      seen.dropped = fields((await store(conn, 'p', 'STARTED', { result: Buffer.from('3') })).packet);
      return seen;
    }

    it('tells by insertId: the new or stored id when applied, 0 when dropped; affectedRows cannot (mysql2 sets CLIENT_FOUND_ROWS)', async () => {
      await insertRows(c, t.task, t.taskSequence, ['task_id'], [['filler-1'], ['filler-2']]);
      const seen = await outcomes(c);
      expect(seen).to.deep.equal({
        insert: { affectedRows: 1, insertId: 3, changedRows: 0, info: '' },
        applied: { affectedRows: 2, insertId: 3, changedRows: 0, info: '' },
        identical: { affectedRows: 1, insertId: 3, changedRows: 0, info: '' },
        dropped: { affectedRows: 1, insertId: 0, changedRows: 0, info: '' },
      });
    });

    it('tells by insertId without CLIENT_FOUND_ROWS too, where an identical rewrite and a dropped write both affect 0 rows', async () => {
      const plain = await db.current().connect({ flags: ['-FOUND_ROWS'] });
      const seen = await outcomes(plain);
      expect([seen.insert, seen.applied, seen.identical, seen.dropped].map((s) => [s.affectedRows, s.insertId])).to.deep.equal([[1, 1], [2, 1], [0, 1], [0, 0]]);
    });

    it('cannot tell on a task table with a trigger, where MariaDB forgets LAST_INSERT_ID(id): the locked read in a transaction can', async () => {
      await run(c, `CREATE TRIGGER ${qualifiedMySql(db.current().name, 'audit')} AFTER UPDATE ON ${t.task} FOR EACH ROW SET @trb_touched = 1`);
      await store(c, 'p', 'SUCCESS', { result: Buffer.from('r') });
      const identical = await store(c, 'p', 'SUCCESS', { result: Buffer.from('r') });
      expect(identical.packet.insertId, 'the limitation, as documented on storeSql').to.equal(0);

      async function storeLocked(taskId: string, status: string): Promise<boolean> {
        await c.beginTransaction();
        try {
          const [stored] = await run<{ status: string | null }[]>(c, lockStoredStatusSql(t, taskId));
          const applies = storeWouldApply(stored ? stored.status : undefined, status);
          await ok(c, storeSql(t, params(taskId, status, { result: Buffer.from('r') })));
          await c.commit();
          return applies;
        } catch (error) {
          await c.rollback();
          throw error;
        }
      }
      expect(await storeLocked('p', 'SUCCESS'), 'identical rewrite').to.equal(true);
      expect(await storeLocked('p', 'STARTED'), 'dropped').to.equal(false);
      expect(await storeLocked('q', 'STARTED'), 'insert').to.equal(true);
      expect((await row('p'))!.status).to.equal('SUCCESS');
    });
  });

  describe('dates', () => {
    it('writes date_done as UTC and reads it back as the right instant, with the session time_zone at +05:00 and mysql2 reading DATETIME as +05:00', async () => {
      const shifted = await db.current().connect({ timezone: '+05:00' });
      await run(shifted, "SET time_zone = '+05:00'");
      const [clock] = await run<{ local: string; utc: string }[]>(shifted, "SELECT DATE_FORMAT(NOW(), '%H') AS local, DATE_FORMAT(UTC_TIMESTAMP(), '%H') AS utc");
      expect((Number(clock!.local) - Number(clock!.utc) + 24) % 24, 'the session really is at +05:00').to.equal(5);

      const before = Date.now();
      await store(shifted, 'tz', 'SUCCESS');
      const after = Date.now();
      const [r] = await run<{ date_done: string }[]>(shifted, selectTaskSql(t, 'tz'));
      const dateDone = parseMySqlUtc(r!.date_done)!;
      expect(r!.date_done).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$/, 'DATETIME keeps whole seconds');
      expect(dateDone.getTime()).to.be.within(Math.floor(before / 1000) * 1000 - 1000, after);

      const [raw] = await run<{ date_done: Date }[]>(shifted, `SELECT date_done FROM ${t.task}`);
      expect(dateDone.getTime() - raw!.date_done.getTime(), 'a raw DATETIME read in mysql2\'s timezone is 5 hours off').to.equal(5 * HOUR);
    });

    it('keeps microseconds where date_done is DATETIME(6), as Celery\'s own writes would', async () => {
      await run(c, `ALTER TABLE ${t.task} MODIFY date_done DATETIME(6)`);
      await store(c, 'fine', 'SUCCESS');
      const [r] = await run<{ date_done: string }[]>(c, selectTaskSql(t, 'fine'));
      expect(r!.date_done).to.match(/\.\d{6}Z$/).and.not.match(/\.000000Z$/);
      expect(Math.abs(parseMySqlUtc(r!.date_done)!.getTime() - Date.now())).to.be.below(5000);
    });
  });

  describe('reading many, deleting one', () => {
    it('reads 2,500 ids in three statements, and finds only those stored', async () => {
      const ids = Array.from({ length: 2500 }, (_, i) => `t-${i}`);
      await insertRows(c, t.task, t.taskSequence, ['task_id', 'status'], ids.slice(0, 2000).map((id) => [id, 'SUCCESS']));
      const queries = selectOutcomesSql(t, ids);
      expect(queries).to.have.length(3);
      const rows = (await Promise.all(queries.map((q) => run(c, q)))).flat();
      expect(rows).to.have.length(2000);
      expect(new Set(rows.map((r) => r.task_id))).to.deep.equal(new Set(ids.slice(0, 2000)));
    });

    it('deletes a task, and says whether there was one', async () => {
      await store(c, 't', 'SUCCESS');
      expect((await ok(c, deleteTaskSql(t, 't'))).affectedRows).to.equal(1);
      expect((await ok(c, deleteTaskSql(t, 't'))).affectedRows).to.equal(0);
    });

    it('counts rows per state, NULL as PENDING, as JS numbers even under bigNumberStrings', async () => {
      const big = await db.current().connect({ supportBigNumbers: true, bigNumberStrings: true });
      await insertRows(c, t.task, t.taskSequence, ['task_id', 'status'], [['a', null], ['b', 'STARTED'], ['c', 'STARTED'], ['d', 'SUCCESS'], ['e', 'SUCCESS'], ['f', 'SUCCESS']]);
      expect(await run(big, countByStateSql(t.task))).to.deep.equal([
        { status: 'PENDING', count: 1 },
        { status: 'STARTED', count: 2 },
        { status: 'SUCCESS', count: 3 },
      ]);
    });
  });

  describe('groups', () => {
    it('saves a group, replaces it when saved again, reads it with its UTC date, and deletes it', async () => {
      await ok(c, saveGroupSql(t, 'g1', Buffer.from('first')));
      await ok(c, saveGroupSql(t, 'g1', Buffer.from('second')));
      const rows = await run(c, selectGroupSql(t, 'g1'));
      expect(rows).to.have.length(1);
      expect(rows[0]!.taskset_id).to.equal('g1');
      expect((rows[0]!.result as Buffer).toString()).to.equal('second');
      expect(Math.abs(parseMySqlUtc(rows[0]!.date_done as string)!.getTime() - Date.now())).to.be.below(5000);
      expect(await run(c, selectGroupSql(t, 'nope'))).to.deep.equal([]);
      expect((await ok(c, deleteGroupSql(t, 'g1'))).affectedRows).to.equal(1);
      expect(await run(c, selectGroupSql(t, 'g1'))).to.deep.equal([]);
    });
  });

  describe('expiry', () => {
    beforeEach(async () => {
      const rows: unknown[][] = [];
      for (let i = 0; i < 2500; i++) rows.push([`old-${i}`, ['SUCCESS', 'FAILURE', 'REVOKED'][i % 3]]);
      for (let i = 0; i < 300; i++) rows.push([`new-${i}`, 'SUCCESS']);
      for (let i = 0; i < 200; i++) rows.push([`run-${i}`, 'STARTED']);
      await insertRows(c, t.task, t.taskSequence, ['task_id', 'status'], rows);
      // Celery stamps date_done on every write, unfinished ones included.
      await run(c, `UPDATE ${t.task} SET date_done = CASE LEFT(task_id, 3)
        WHEN 'old' THEN UTC_TIMESTAMP() - INTERVAL 25 HOUR - INTERVAL (id % 100) MINUTE
        WHEN 'new' THEN UTC_TIMESTAMP() - INTERVAL 23 HOUR + INTERVAL (id % 100) MINUTE
        ELSE UTC_TIMESTAMP() - INTERVAL 48 HOUR END`);
    });

    it('deletes the ready results finished before the cutoff in batches: 1000, 1000, 500', async () => {
      expect(await drain(c, () => deleteExpiredBatchSql(t.task, 24 * HOUR, 1000, true), 1000)).to.deep.equal([1000, 1000, 500]);
      expect(await run(c, `SELECT LEFT(task_id, 3) AS kind, COUNT(*) AS n FROM ${t.task} GROUP BY 1 ORDER BY 1`)).to.deep.equal([
        { kind: 'new', n: 300 },
        { kind: 'run', n: 200 },
      ]);
    });

    it('deletes whatever the state when not asked for ready rows only (the group table)', async () => {
      expect(await drain(c, () => deleteExpiredBatchSql(t.task, 24 * HOUR, 1000, false), 1000)).to.deep.equal([1000, 1000, 700]);
      const groups = Array.from({ length: 20 }, (_, i) => [`grp-${i}`]);
      await insertRows(c, t.group, t.groupSequence, ['taskset_id'], groups);
      await run(c, `UPDATE ${t.group} SET date_done = UTC_TIMESTAMP() - INTERVAL IF(id <= 10, 48, 1) HOUR`);
      expect(await drain(c, () => deleteExpiredBatchSql(t.group, 24 * HOUR, 4, false), 4)).to.deep.equal([4, 4, 2]);
      expect((await run(c, `SELECT COUNT(*) AS n FROM ${t.group}`))[0]!.n).to.equal(10);
    });

    it('deletes the oldest first, and walks a date_done index where there is one', async () => {
      await run(c, `CREATE INDEX ix_date_done ON ${t.task} (date_done)`);
      const batch = deleteExpiredBatchSql(t.task, 24 * HOUR, 10, true);
      const [plan] = await run(c, { ...batch, text: `EXPLAIN ${batch.text}` });
      expect(plan!.key).to.equal('ix_date_done');
      const oldest = (await run(c, `SELECT task_id FROM ${t.task} WHERE status <> 'STARTED' ORDER BY date_done, id LIMIT 10`)).map((r) => r.task_id);
      expect((await ok(c, batch)).affectedRows).to.equal(10);
      expect(await run(c, { text: `SELECT task_id FROM ${t.task} WHERE task_id IN (?)`, values: [oldest] })).to.deep.equal([]);
    });

    it('deletes nothing, without a warning, for a horizon older than any DATETIME', async () => {
      for (const horizon of [2000 * 365 * 24 * HOUR, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE]) {
        const packet = await ok(c, deleteExpiredBatchSql(t.task, horizon, 1000, false));
        expect([packet.affectedRows, packet.warningStatus], String(horizon)).to.deep.equal([0, 0]);
      }
    });
  });

  describe('unfinished rows: first seen, then abandoned', () => {
    beforeEach(async () => {
      const rows: unknown[][] = [];
      for (let i = 0; i < 2500; i++) rows.push([`run-${i}`, [null, 'STARTED', 'RETRY', 'PENDING'][i % 4]]);
      for (let i = 0; i < 100; i++) rows.push([`done-${i}`, 'SUCCESS']);
      await insertRows(c, t.task, t.taskSequence, ['task_id', 'status'], rows);
      await run(c, createFirstSeenSql(t));
    });

    async function firstSeenCount(): Promise<number> {
      return Number((await run(c, `SELECT COUNT(*) AS n FROM ${t.firstSeen}`))[0]!.n);
    }

    it('creates its table once, with the task table\'s own task_id type, and leaves an existing one alone', async () => {
      const again = await ok(c, { text: createFirstSeenSql(t), values: [] });
      expect(again.warningStatus, 'a note that the table exists').to.equal(1);
      const columns = await run(c, { text: 'SELECT TABLE_NAME AS tbl, COLUMN_TYPE AS type, COLLATION_NAME AS coll, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND COLUMN_NAME = ? ORDER BY 1', values: [db.current().name, 'task_id'] });
      expect(columns).to.deep.equal([
        { tbl: 'celery_taskmeta', type: 'varchar(155)', coll: 'utf8mb4_general_ci', nullable: 'YES' },
        { tbl: 'celery_taskmeta_first_seen', type: 'varchar(155)', coll: 'utf8mb4_general_ci', nullable: 'NO' },
      ]);
      expect(await firstSeenCount()).to.equal(0);
    });

    it('records the unfinished rows in batches, 1000, 1000, 500, and then none', async () => {
      expect(await drain(c, () => recordFirstSeenBatchSql(t, 1000), 1000)).to.deep.equal([1000, 1000, 500]);
      expect(await drain(c, () => recordFirstSeenBatchSql(t, 1000), 1000)).to.deep.equal([0]);
      expect(await firstSeenCount()).to.equal(2500);
      const [{ utc }] = (await run(c, `SELECT MAX(ABS(TIMESTAMPDIFF(SECOND, first_seen, UTC_TIMESTAMP()))) AS utc FROM ${t.firstSeen}`)) as [{ utc: number }];
      expect(utc, 'first_seen is naive UTC').to.be.below(5);
    });

    it('deletes the rows unfinished past the horizon in batches, spares one that finished, and forgets the finished and the removed', async () => {
      await drain(c, () => recordFirstSeenBatchSql(t, 1000), 1000);
      // Half of them were first seen two hours ago; one of those finished since, one was forgotten.
      await run(c, `UPDATE ${t.firstSeen} SET first_seen = first_seen - INTERVAL 2 HOUR WHERE RIGHT(task_id, 1) IN ('0','2','4','6','8')`);
      expect((await store(c, 'run-10', 'SUCCESS')).applied).to.equal(true);
      await ok(c, deleteTaskSql(t, 'run-12'));
      expect(await drain(c, () => deleteAbandonedBatchSql(t, HOUR, 500), 500)).to.deep.equal([500, 500, 248]);
      expect(Number((await run(c, `SELECT COUNT(*) AS n FROM ${t.task} WHERE task_id LIKE 'run-%'`))[0]!.n)).to.equal(1251);
      expect((await row('run-10'))!.status).to.equal('SUCCESS');
      expect((await ok(c, forgetFirstSeenSql(t))).affectedRows).to.equal(1250);
      expect(await firstSeenCount()).to.equal(1250);
      expect(await run(c, `SELECT COUNT(*) AS n FROM ${t.firstSeen} WHERE task_id IN ('run-10', 'run-12', 'run-20')`)).to.deep.equal([{ n: 0 }]);
    });

    it('keeps a row that finishes while the abandoned batch is being chosen: the cleaner waits for the store, then sees it done', async () => {
      await drain(c, () => recordFirstSeenBatchSql(t, 1000), 1000);
      await run(c, `UPDATE ${t.firstSeen} SET first_seen = first_seen - INTERVAL 2 HOUR`);
      const worker = await db.current().connect();
      await worker.beginTransaction();
      await ok(worker, storeSql(t, params('run-0', 'SUCCESS')));
      const started = Date.now();
      const cleaning = ok(c, deleteAbandonedBatchSql(t, HOUR, 5000)).then((packet) => ({ packet, tookMs: Date.now() - started }));
      cleaning.catch(() => undefined); // awaited below, after the commit
      await new Promise((resolve) => setTimeout(resolve, 300));
      await worker.commit();
      const { packet, tookMs } = await cleaning;
      expect(tookMs, 'the cleaner waited for the uncommitted store').to.be.at.least(250);
      expect(packet.affectedRows).to.equal(2499);
      expect((await row('run-0'))!.status).to.equal('SUCCESS');
    });

    for (const [label, options] of [
      ['latin1', 'CHARACTER SET latin1'],
      ['utf8mb4_unicode_ci', 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'],
      ['utf8mb3_bin', 'CHARACTER SET utf8mb3 COLLATE utf8mb3_bin'],
    ] as const) {
      it(`joins a ${label} task table (the database default being utf8mb4_general_ci) on its task_id index`, async () => {
        const name = db.current().name;
        const other = { ...t, task: qualifiedMySql(name, `tasks_${label}`), firstSeen: qualifiedMySql(name, `tasks_${label}_first_seen`) };
        await run(c, celeryTaskDdl(scheme, other.task, options));
        await insertRows(c, other.task, other.taskSequence, ['task_id', 'status'], Array.from({ length: 50 }, (_, i) => [`r-${i}`, 'STARTED']));
        await run(c, createFirstSeenSql(other));
        expect(await drain(c, () => recordFirstSeenBatchSql(other, 20), 20)).to.deep.equal([20, 20, 10]);
        await run(c, `UPDATE ${other.firstSeen} SET first_seen = first_seen - INTERVAL 2 HOUR`);
        const abandoned = deleteAbandonedBatchSql(other, HOUR, 20);
        const plan = await run(c, { ...abandoned, text: `EXPLAIN ${abandoned.text}` });
        // In each SELECT of the plan, only the first table (the one that drives the join) may be scanned; the others are looked up by key.
        const lookedUp = plan.filter((p, i) => i > 0 && plan[i - 1]!.id === p.id).map((p) => `${p.table}:${p.type}`);
        expect(lookedUp.every((step) => /:(eq_ref|ref)$/.test(step)), JSON.stringify(plan.map((p) => `${p.id}:${p.table}:${p.type}:${p.key}`))).to.equal(true);
        expect(await drain(c, () => deleteAbandonedBatchSql(other, HOUR, 20), 20)).to.deep.equal([20, 20, 10]);
        expect((await ok(c, forgetFirstSeenSql(other))).affectedRows).to.equal(50);
      });
    }

    it('would fail every join with a first_seen table of the database default collation beside a utf8mb4_unicode_ci task table (why the type is copied)', async () => {
      const name = db.current().name;
      const other = { ...t, task: qualifiedMySql(name, 'tasks_unicode'), firstSeen: qualifiedMySql(name, 'tasks_unicode_first_seen') };
      await run(c, celeryTaskDdl(scheme, other.task, 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'));
      await run(c, `CREATE TABLE ${other.firstSeen} (task_id VARCHAR(155) PRIMARY KEY, first_seen DATETIME(6) NOT NULL)`);
      const error = await run(c, recordFirstSeenBatchSql(other, 10)).then(() => undefined, (e: { errno?: number }) => e);
      expect(error?.errno, 'ER_CANT_AGGREGATE_2COLLATIONS').to.equal(1267);
    });
  });

  describe('under concurrency', () => {
    const IDS = Array.from({ length: 200 }, (_, i) => `task-${i}`);
    const WRITERS = 8;

    /** Every writer writes STARTED and SUCCESS for every id, in its own random order, all at once. */
    async function race(write: (conn: Queryable, id: string, status: string) => Promise<boolean>): Promise<{ retries: number; applied: Map<string, number> }> {
      const writers = await Promise.all(Array.from({ length: WRITERS }, () => db.current().connect()));
      const retries = { count: 0 };
      const applied = new Map<string, number>();
      await Promise.all(
        writers.map(async (conn) => {
          for (const [id, status] of shuffled(IDS.flatMap((id) => [[id, 'STARTED'], [id, 'SUCCESS']] as const))) {
            const done = await withDeadlockRetry(() => write(conn, id, status), retries);
            const key = `${status}:${done ? 'applied' : 'dropped'}`;
            applied.set(key, (applied.get(key) ?? 0) + 1);
          }
        }),
      );
      return { retries: retries.count, applied };
    }

    it('ends every id SUCCESS when 8 connections write STARTED and SUCCESS for the same 200 ids in random order', async () => {
      const { retries, applied } = await race(async (conn, id, status) => storeApplied(await ok(conn, storeSql(t, params(id, status, { result: Buffer.from(status) })))));
      console.log(`    ${WRITERS} writers x ${IDS.length * 2} stores: ${JSON.stringify(Object.fromEntries(applied))}, ${retries} deadlock retries`);
      expect(applied.get('SUCCESS:applied')).to.equal(WRITERS * IDS.length);
      expect(applied.get('SUCCESS:dropped')).to.equal(undefined);
      expect(applied.get('STARTED:dropped'), 'late STARTED writes were dropped').to.be.above(0);
      const rows = await run(c, `SELECT status, result, date_done IS NOT NULL AS dated, COUNT(*) AS n FROM ${t.task} GROUP BY status, result, dated`);
      expect(rows.map((r) => ({ ...r, result: (r.result as Buffer).toString() }))).to.deep.equal([{ status: 'SUCCESS', result: 'SUCCESS', dated: 1, n: IDS.length }]);
    });

    it('shows the race in the same harness: a last-write-wins upsert leaves ids STARTED', async () => {
      await race(async (conn, id, status) => {
        const id0 = t.taskSequence ? { column: 'id, ', value: `NEXTVAL(${t.taskSequence}), ` } : { column: '', value: '' };
        await run(conn, { text: `INSERT INTO ${t.task} (${id0.column}task_id, status) VALUES (${id0.value}?, ?) ON DUPLICATE KEY UPDATE status = VALUES(status)`, values: [id, status] });
        return true;
      });
      const [{ n }] = (await run(c, `SELECT COUNT(*) AS n FROM ${t.task} WHERE status = 'STARTED'`)) as [{ n: number }];
      expect(n).to.be.above(0);
    });
  });

  describe('through TypeORM', () => {
    it('runs on a DataSource with its defaults: dataSource.query gives the OK packet storeApplied reads, and dates read as UTC text', async () => {
      const ds = new DataSource({ type: 'mariadb', url: `${SERVER_URL.replace(/\/?$/, '/')}${db.current().name}` });
      await ds.initialize();
      try {
        const unqualified: MySqlBackendTables = {
          task: quoteMySqlIdent('celery_taskmeta'),
          group: quoteMySqlIdent('celery_tasksetmeta'),
          firstSeen: quoteMySqlIdent('celery_taskmeta_first_seen'),
          taskSequence: t.taskSequence && quoteMySqlIdent('task_id_sequence'),
          groupSequence: t.groupSequence && quoteMySqlIdent('taskset_id_sequence'),
        };
        const send = async (status: string) => {
          const q = storeSql(unqualified, params('orm', status, { result: Buffer.from(status) }));
          return storeApplied((await ds.query(q.text, q.values)) as MySqlOkPacket);
        };
        expect([await send('STARTED'), await send('SUCCESS'), await send('SUCCESS'), await send('STARTED')]).to.deep.equal([true, true, true, false]);
        const q = selectTaskSql(unqualified, 'orm');
        const [r] = (await ds.query(q.text, q.values)) as { status: string; date_done: string; result: Buffer }[];
        expect([r!.status, r!.result.toString(), typeof r!.date_done]).to.deep.equal(['SUCCESS', 'SUCCESS', 'string']);
        expect(Math.abs(parseMySqlUtc(r!.date_done)!.getTime() - Date.now())).to.be.below(5000);
        const runner = ds.createQueryRunner();
        try {
          const d = deleteTaskSql(unqualified, 'orm');
          expect((await runner.query(d.text, d.values, true)).affected).to.equal(1);
        } finally {
          await runner.release();
        }
      } finally {
        await ds.destroy();
      }
    });
  });

  describe('the forms both servers run', () => {
    it('reads new values with VALUES(): MariaDB has no INSERT ... AS new row alias', async function () {
      const [{ version }] = (await run(c, 'SELECT VERSION() AS version')) as [{ version: string }];
      if (!/mariadb/i.test(version)) this.skip();
      const error = await run(c, `INSERT INTO ${t.task} (task_id, status) VALUES ('a', 'X') AS new ON DUPLICATE KEY UPDATE status = new.status`).then(
        () => undefined,
        (e: { errno?: number }) => e,
      );
      expect(error?.errno, 'ER_PARSE_ERROR').to.equal(1064);
    });
  });
});
