import { expect } from 'chai';
import { createFirstSeenSql, deleteAbandonedBatchSql, deleteExpiredBatchSql, forgetFirstSeenSql, recordFirstSeenBatchSql, storeRowsSql, storeSql } from '../../lib/dialects/postgres/backend-sql';
import { firstSeenTableName } from '../../lib/backend/tables';
import { quoteIdent } from '../../lib/query';
import { advisoryXactLockSql, createSequenceSql, lockHoldersSql, setLockWaitSettingsSql } from '../../lib/dialects/postgres/sync-sql';

const tables = { task: '"public"."celery_taskmeta"', group: '"public"."celery_tasksetmeta"', taskSequence: '"public"."task_id_sequence"', groupSequence: '"public"."taskset_id_sequence"', channel: 'trb_x', firstSeen: '"public"."celery_taskmeta_first_seen"' };
const store = { taskId: 't', status: 'SUCCESS', result: null, traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null, extra: [] };

describe('The SQL, as text', () => {
  it('quotes identifiers the way quote_ident does, doubling embedded quotes', () => {
    expect(quoteIdent('we"ird')).to.equal('"we""ird"');
    expect(createSequenceSql('my schema', 'seq')).to.equal('CREATE SEQUENCE IF NOT EXISTS "my schema"."seq"');
  });

  it('takes the two-int advisory lock with int4 parameters, never a bigint key', () => {
    expect(advisoryXactLockSql([1, -2])).to.deep.equal({ text: 'SELECT pg_advisory_xact_lock($1::int4, $2::int4)', values: [1, -2] });
  });

  it('looks up lock holders by the unsigned oids pg_locks shows for negative key halves', () => {
    expect(lockHoldersSql([1, -2]).values).to.deep.equal([1, 4294967294]);
    expect(lockHoldersSql([1, -2]).text).to.contain("l.locktype = 'advisory'").and.contain('l.objsubid = 2');
  });

  it('lifts statement_timeout while it bounds the lock wait with lock_timeout, transaction-locally', () => {
    expect(setLockWaitSettingsSql(1500)).to.deep.equal({
      text: "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', '0', true)",
      values: ['1500ms'],
    });
  });

  it('stores with one upsert that draws the id from the sequence and keeps a ready state', () => {
    const { text, values } = storeSql(tables, store, true);
    expect(text).to.contain('pg_catalog.nextval($1::text::regclass)');
    expect(text).to.contain('ON CONFLICT (task_id) DO UPDATE');
    expect(text).to.contain('WHERE m.status IS NULL OR NOT (m.status::text OPERATOR(pg_catalog.=) ANY ($2::text[])) OR EXCLUDED.status::text OPERATOR(pg_catalog.=) ANY ($2::text[])');
    // A full NOTIFY queue would fail the commit: past half full, the store skips its NOTIFY and the waiter wakes on its re-read.
    expect(text).to.contain('pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) 0.5 THEN pg_catalog.pg_notify($3::text, task_id::text)');
    expect(values[0]).to.equal('"public"."task_id_sequence"');
    expect(values[1]).to.deep.equal(['SUCCESS', 'FAILURE', 'REVOKED']);
    expect(values[2]).to.equal(tables.channel);
    // date_done is set in SQL for a ready state, from the row's own status placeholder.
    expect(text).to.contain(`$4::varchar, $5::varchar, $6::bytea, CASE WHEN $5::text OPERATOR(pg_catalog.=) ANY ($2::text[]) THEN (pg_catalog.now() AT TIME ZONE 'UTC') END`);
    expect(values.slice(3, 5)).to.deep.equal([store.taskId, store.status]);
  });

  it('stores several tasks in one statement, each row with its own placeholders, and returns the ids it applied', () => {
    const { text, values } = storeRowsSql(tables, [store, { ...store, taskId: 'u', status: 'STARTED' }], false);
    expect(text).to.contain('RETURNING task_id, status');
    expect(text.match(/pg_catalog\.nextval\(\$1::text::regclass\)/g)).to.have.length(2);
    // Row one: $3..$12; row two: $13..$22. Each row's date_done reads its own status.
    expect(text).to.contain('CASE WHEN $4::text OPERATOR(pg_catalog.=) ANY ($2::text[])').and.contain('CASE WHEN $14::text OPERATOR(pg_catalog.=) ANY ($2::text[])');
    expect(values).to.have.length(22);
    expect([values[2], values[3], values[12], values[13]]).to.deep.equal(['t', 'SUCCESS', 'u', 'STARTED']);
  });

  it('sends no NOTIFY from the store where the task table has the wake-up trigger', () => {
    const { text, values } = storeSql(tables, store, false);
    expect(text).not.to.contain('pg_notify');
    expect(values).to.have.length(12);
  });

  it('adds the columns of a TaskMeta subclass as parameters, never as inlined values', () => {
    const { text, values } = storeSql(tables, { ...store, extra: [['"tenant"', "x'); DROP TABLE y; --"]] }, true);
    expect(text).to.contain(', "tenant")').and.contain(', $14)').and.contain('"tenant" = EXCLUDED."tenant"');
    expect(values[13]).to.equal("x'); DROP TABLE y; --");
  });

  it('expires in batches in naive UTC, whatever the session time zone', () => {
    const { text, values } = deleteExpiredBatchSql(tables.task, 1000, 50, true);
    expect(text).to.contain("date_done OPERATOR(pg_catalog.<) ((pg_catalog.now() AT TIME ZONE 'UTC') OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1::float8 OPERATOR(pg_catalog./) 1000::float8))");
    expect(text).to.contain('LIMIT $2 FOR UPDATE SKIP LOCKED');
    expect(values).to.deep.equal([1000, 50, ['SUCCESS', 'FAILURE', 'REVOKED']]);
  });

  it('gives unfinished rows their age in a table of its own, never in Celery\'s date_done', () => {
    for (const q of [recordFirstSeenBatchSql(tables, 10), forgetFirstSeenSql(tables), deleteAbandonedBatchSql(tables, 1000, 10)]) {
      expect(q.text).to.contain('"public"."celery_taskmeta_first_seen"');
      expect(q.text, 'Celery\'s backend_cleanup deletes by date_done whatever the state').not.to.match(/SET\s+date_done|INSERT INTO "public"\."celery_taskmeta"/);
    }
    expect(createFirstSeenSql(tables)).to.equal(
      'CREATE TABLE IF NOT EXISTS "public"."celery_taskmeta_first_seen" (task_id varchar(155) PRIMARY KEY, first_seen timestamp without time zone NOT NULL)',
    );
    expect(firstSeenTableName('x'.repeat(60))).to.match(/^trb_first_seen_[0-9a-f]{20}$/);
  });
});
