import { expect } from 'chai';
import type { Client } from 'pg';
import { Logger } from 'typeorm';
import { DatabaseError } from '../../lib';
import { STORE_BATCH } from '../../lib/options';
import { storeRowsSql } from '../../lib/dialects/postgres/backend-sql';
import { jsonCodec } from '../../lib/celery/codec';
import { BackendFixture, openBackend, rejection } from '../support/backend';
import { connect, query } from '../support/pg-client';
import { useTestDatabase } from '../support/database';

/** The backend's INSERT statements, as the DataSource's logger sees them. */
class InsertLog implements Logger {
  readonly inserts: unknown[][] = [];
  logQuery(q: string, parameters?: unknown[]): void {
    if (/INSERT INTO "public"\."celery_taskmeta"/.test(q)) this.inserts.push(parameters ?? []);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const APP = 'trb-test-batching';

/**
 * Fills every statement slot with a store that waits on a row lock another
 * session holds, so that whatever is stored next has to queue: the moment
 * that, under load, comes by itself.
 */
async function holdEverySlot(url: string, f: BackendFixture): Promise<{ holder: Client; held: Promise<unknown>[] }> {
  const ids = Array.from({ length: STORE_BATCH.maxInFlight }, (_, i) => `slot-${i}`);
  for (const id of ids) await f.backend.storeResult(id, null, 'STARTED');
  const holder = await connect(url);
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM celery_taskmeta WHERE task_id = ANY($1) FOR UPDATE', [ids]);
  const held = ids.map((id, i) => f.backend.markAsDone(id, i));
  for (;;) {
    const [{ n }] = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [APP]);
    if (n >= ids.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { holder, held };
}

describe('Concurrent stores from one process share statements (one commit for many)', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  let log: InsertLog;
  beforeEach(async () => {
    log = new InsertLog();
    f = await openBackend(db.current().url, {}, { logger: log, poolSize: STORE_BATCH.maxInFlight + 4, applicationName: APP });
  });
  afterEach(async () => f.close());

  it(`a store with a free slot goes alone; stores that arrive while ${STORE_BATCH.maxInFlight} statements run share the next one, and each is applied`, async () => {
    await f.backend.markAsDone('alone', 1);
    expect(log.inserts.at(-1)).to.include('alone');
    const { holder, held } = await holdEverySlot(db.current().url, f);
    const before = log.inserts.length;
    const queued = Array.from({ length: 30 }, (_, i) => f.backend.markAsDone(`queued-${i}`, i));
    await holder.query('COMMIT');
    await holder.end();
    await Promise.all(held);
    const outcomes = await Promise.all(queued);
    expect(outcomes.every((o) => o.applied)).to.equal(true);
    const statements = log.inserts.slice(before);
    // The 30 waited behind the held slots, and left together once they had waited maxWaitMs.
    expect(statements.length).to.be.lessThan(5);
    expect(statements.some((values) => values.filter((v) => typeof v === 'string' && v.startsWith('queued-')).length > 1)).to.equal(true);
    const rows = await query<{ task_id: string; result: Buffer }>(db.current().url, "SELECT task_id, result FROM celery_taskmeta WHERE task_id LIKE 'queued-%' ORDER BY id");
    expect(rows).to.have.length(30);
    for (let i = 0; i < 30; i++) expect((await f.backend.getTaskMeta(`queued-${i}`)).result).to.equal(i);
  });

  it('a store refused inside a shared statement fails alone: the others of that statement are applied', async () => {
    await query(db.current().url, "ALTER TABLE celery_taskmeta ADD CONSTRAINT not_this_one CHECK (task_id <> 'refused') NOT VALID");
    const { holder, held } = await holdEverySlot(db.current().url, f);
    const queued = ['ok-1', 'refused', 'ok-2', 'ok-3'].map((id) => f.backend.markAsDone(id, id).then(
      (o) => o,
      (e: unknown) => e,
    ));
    await holder.query('COMMIT');
    await holder.end();
    await Promise.all(held);
    const [a, refused, b, c] = await Promise.all(queued);
    expect(refused).to.be.instanceOf(DatabaseError);
    expect(refused).to.have.property('pgCode', '23514');
    for (const o of [a, b, c]) expect(o).to.deep.equal({ applied: true });
    expect((await f.backend.getTaskMeta("ok-2")).result).to.equal("ok-2");
  });

  it(`statements that stall on a lock hold the others back for ${STORE_BATCH.maxWaitMs} ms, not until they end`, async () => {
    const { holder, held } = await holdEverySlot(db.current().url, f);
    try {
      // Every slot is stuck behind the holder's row locks; these still go, as one more statement, and complete.
      const free = await Promise.all([f.backend.markAsDone('free-1', 1), f.backend.markAsDone('free-2', 2)]);
      expect(free).to.deep.equal([{ applied: true }, { applied: true }]);
      const [{ n }] = await query<{ n: number }>(db.current().url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [APP]);
      expect(n, 'the held stores are still waiting').to.equal(STORE_BATCH.maxInFlight);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    await Promise.all(held);
  });

  it('two stores of one task never share a statement, so they apply in call order (a ready state then a late STARTED: the STARTED is refused)', async () => {
    const { holder, held } = await holdEverySlot(db.current().url, f);
    const done = f.backend.markAsDone('ordered', 7);
    const late = f.backend.storeResult('ordered', null, 'STARTED');
    const first = f.backend.storeResult('ordered-2', null, 'STARTED');
    const then = f.backend.markAsDone('ordered-2', 8);
    await holder.query('COMMIT');
    await holder.end();
    await Promise.all(held);
    expect(await Promise.all([done, late, first, then])).to.deep.equal([{ applied: true }, { applied: false }, { applied: true }, { applied: true }]);
    expect(await f.backend.getTaskMeta('ordered')).to.include({ status: 'SUCCESS', result: 7 });
    expect(await f.backend.getTaskMeta('ordered-2')).to.include({ status: 'SUCCESS', result: 8 });
  });

  it('why: one statement with the same task twice is refused by PostgreSQL (21000, ON CONFLICT may touch a row once)', async () => {
    const row = (status: string) => ({ taskId: 'twice', status, result: jsonCodec.encodeResult(1), traceback: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null, extra: [] });
    const tables = {
      task: '"public"."celery_taskmeta"',
      group: '"public"."celery_tasksetmeta"',
      taskSequence: '"public"."task_id_sequence"',
      groupSequence: '"public"."taskset_id_sequence"',
      channel: 'unused',
      firstSeen: '"public"."celery_taskmeta_first_seen"',
    };
    const q = storeRowsSql(tables, [row('STARTED'), row('SUCCESS')], false);
    const error = await rejection(f.ds.query(q.text, q.values));
    expect(error).to.have.nested.property('driverError.code', '21000');
  });
});
