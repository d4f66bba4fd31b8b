import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource, EntitySchema } from 'typeorm';
import { DataLossError, IncompatibleDataError, SafeSynchronizer, SafeSynchronizerOptions, TaskMeta, TaskSetMeta } from '../../lib';
import { postgresOptions, useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { Columns, SyncOutcome, orders, ordersOptions, start } from '../support/entity-versions';

/** 20 rows, as a v1 app stored them. */
const FILL: Record<string, string> = {
  customer: "'customer-' || g",
  n: 'g',
  amount: "g + 0.1234",
  tier: "(CASE WHEN g <= 3 THEN 'legacy' ELSE 'gold' END)::orders_tier",
  note: "CASE WHEN g <= 10 THEN NULL ELSE 'note-' || g END",
  label: "'label-' || (g % 5)",
  tags: "'tag-' || g",
  ratio: 'g / 4.0',
};

describe('SafeSynchronizer never loses data', () => {
  const db = useTestDatabase();

  async function columnType(column: string): Promise<string | undefined> {
    const [row] = await query<{ t: string }>(
      db.current().url,
      "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = $1 AND NOT attisdropped",
      [column],
    );
    return row?.t;
  }

  async function values(column: string): Promise<unknown[]> {
    return (await query<{ v: unknown }>(db.current().url, `SELECT "${column}"::text AS v FROM orders ORDER BY id`)).map((r) => r.v);
  }

  /** v1 synced and filled with 20 rows, then a start with v2's entity. */
  async function change(before: Columns, after: Columns, sync: SafeSynchronizerOptions | 'plain' = {}): Promise<SyncOutcome> {
    const url = db.current().url;
    const first = await start(ordersOptions(url, orders(before)));
    if (first.error) throw first.error;
    const names = Object.keys(before).filter((c) => FILL[c]);
    await query(url, `INSERT INTO orders (${names.map((c) => `"${c}"`).join(', ')}) SELECT ${names.map((c) => FILL[c]).join(', ')} FROM generate_series(1, 20) g`);
    return start(ordersOptions(url, orders(after)), sync);
  }

  async function pending(after: Columns): Promise<string[]> {
    const ds = await new DataSource({ ...ordersOptions(db.current().url, orders(after)), synchronize: false }).initialize();
    try {
      return await new SafeSynchronizer(ds).pendingStatements();
    } finally {
      await ds.destroy();
    }
  }

  const customer50 = { customer: { type: 'varchar', length: 50, nullable: true } } as Columns;
  const customer100 = { customer: { type: 'varchar', length: 100, nullable: true } } as Columns;
  const customerValues = Array.from({ length: 20 }, (_, i) => `customer-${i + 1}`);

  describe('lossless changes are made in place', () => {
    it('varchar(50) → varchar(100): ALTER COLUMN TYPE, every value kept, and the next diff is empty (plain synchronize loses all 20)', async () => {
      const safe = await change(customer50, customer100);
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl).to.include('ALTER TABLE "orders" ALTER COLUMN "customer" TYPE character varying(100) USING "customer"::character varying(100)');
      expect(safe.ddl.join('\n')).not.to.match(/DROP COLUMN/);
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(await columnType('customer')).to.equal('character varying(100)');
      expect(await pending(customer100)).to.deep.equal([]);
    });

    it('plain synchronize: true drops and re-adds the same column, and every value is NULL after it (the harness can see the loss)', async () => {
      const plain = await change(customer50, customer100, 'plain');
      expect(plain.error).to.equal(undefined);
      expect(plain.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "customer"');
      expect(await values('customer')).to.deep.equal(Array(20).fill(null));
    });

    it('allowDataLoss: true restores TypeORM’s own DROP + ADD for those who want it', async () => {
      const lossy = await change(customer50, customer100, { allowDataLoss: true });
      expect(lossy.error).to.equal(undefined);
      expect(lossy.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "customer"');
      expect(await values('customer')).to.deep.equal(Array(20).fill(null));
    });

    it('varchar(50) NOT NULL → varchar(100) NOT NULL: in place (TypeORM’s DROP + ADD NOT NULL fails with 23502 on every start)', async () => {
      const before = { customer: { type: 'varchar', length: 50 } } as Columns;
      const after = { customer: { type: 'varchar', length: 100 } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.equal(undefined);
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(await columnType('customer')).to.equal('character varying(100)');
    });

    it('varchar(50) → text', async () => {
      const safe = await change(customer50, { customer: { type: 'text', nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(await columnType('customer')).to.equal('text');
    });

    it('int → bigint, nullable', async () => {
      const safe = await change({ n: { type: 'int', nullable: true } }, { n: { type: 'bigint', nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await values('n')).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i + 1)));
      expect(await columnType('n')).to.equal('bigint');
    });

    it('int → bigint NOT NULL DEFAULT 0: the values stay (TypeORM’s ADD … DEFAULT 0 sets all 20 to 0)', async () => {
      const before = { n: { type: 'int', default: 0 } } as Columns;
      const after = { n: { type: 'bigint', default: 0 } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.equal(undefined);
      expect(await values('n')).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i + 1)));
      const [col] = await query<{ d: string; nn: boolean }>(db.current().url, "SELECT pg_get_expr(d.adbin, d.adrelid) AS d, a.attnotnull AS nn FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = 'orders'::regclass AND a.attname = 'n'");
      expect(col).to.deep.equal({ d: '0', nn: true });
      expect(await pending(after)).to.deep.equal([]);
    });

    it('smallint → int', async () => {
      const safe = await change({ n: { type: 'smallint', nullable: true } }, { n: { type: 'int', nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await columnType('n')).to.equal('integer');
      expect((await values('n')).length).to.equal(20);
      expect(await values('n')).to.include('20');
    });

    it('numeric(10,4) → numeric(14,6): a longer precision that keeps the digits before the point', async () => {
      const safe = await change({ amount: { type: 'decimal', precision: 10, scale: 4, nullable: true } }, { amount: { type: 'decimal', precision: 14, scale: 6, nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await columnType('amount')).to.equal('numeric(14,6)');
      expect((await values('amount'))[0]).to.equal('1.123400');
    });

    it('text → text[]: each value becomes a one-element array', async () => {
      const safe = await change({ tags: { type: 'text', nullable: true } }, { tags: { type: 'text', array: true, nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await columnType('tags')).to.equal('text[]');
      expect((await values('tags'))[0]).to.equal('{tag-1}');
      expect(await pending({ tags: { type: 'text', array: true, nullable: true } })).to.deep.equal([]);
    });

    it('real → double precision', async () => {
      const safe = await change({ ratio: { type: 'real', nullable: true } }, { ratio: { type: 'double precision', nullable: true } });
      expect(safe.error).to.equal(undefined);
      expect(await columnType('ratio')).to.equal('double precision');
      expect((await values('ratio'))[1]).to.equal('0.5');
    });
  });

  describe('changes that would destroy or alter values are refused before any DDL', () => {
    it('varchar → int: DataLossError naming the column, the 20 values, the statement and the alternatives; nothing changed', async () => {
      const safe = await change(customer50, { customer: { type: 'int', nullable: true } });
      expect(safe.error).to.be.instanceOf(DataLossError);
      const error = safe.error as DataLossError;
      expect(error.code).to.equal('DATA_LOSS');
      expect(error.changes).to.have.length(1);
      expect(error.changes[0]).to.include({ column: 'orders.customer', count: 20 });
      expect(error.changes[0].statements).to.include('ALTER TABLE "orders" DROP COLUMN "customer"');
      expect(error.message).to.match(/orders\.customer: character varying\(50\) to integer has no lossless cast, so TypeORM would drop the column and add it again: 20 stored value\(s\) would be lost/);
      expect(error.message).to.match(/RENAME COLUMN/);
      expect(error.message).to.match(/allowDataLoss: \["table\.column"\]/);
      expect(safe.ddl).to.deep.equal([]);
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(await columnType('customer')).to.equal('character varying(50)');
    });

    it('the same change is made when allowDataLoss names the column, as TypeORM makes it', async () => {
      const lossy = await change(customer50, { customer: { type: 'int', nullable: true } }, { allowDataLoss: ['orders.customer'] });
      expect(lossy.error).to.equal(undefined);
      expect(await columnType('customer')).to.equal('integer');
      expect(await values('customer')).to.deep.equal(Array(20).fill(null));
    });

    it('naming another column does not allow it', async () => {
      const safe = await change(customer50, { customer: { type: 'int', nullable: true } }, { allowDataLoss: ['orders.other', 'public.orders.note'] });
      expect(safe.error).to.be.instanceOf(DataLossError);
    });

    it('varchar(100) → varchar(50) is a narrowing: refused, with the count', async () => {
      const safe = await change(customer100, customer50);
      expect(safe.error).to.be.instanceOf(DataLossError);
      expect((safe.error as DataLossError).changes[0]).to.include({ column: 'orders.customer', count: 20 });
      expect(await values('customer')).to.deep.equal(customerValues);
    });

    it('decimal(10,4) → decimal(10,2): refused (plain synchronize rounds 19 of 20 values in place)', async () => {
      const before = { amount: { type: 'decimal', precision: 10, scale: 4, nullable: true } } as Columns;
      const after = { amount: { type: 'decimal', precision: 10, scale: 2, nullable: true } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.be.instanceOf(DataLossError);
      expect((safe.error as Error).message).to.match(/numeric\(10,4\) to numeric\(10,2\) narrows the type in place: 20 stored value\(s\) would be rounded or rejected/);
      expect((await values('amount'))[0]).to.equal('1.1234');
    });

    it('plain synchronize: true rounds the same decimals (so the refusal above is what protects them)', async () => {
      const before = { amount: { type: 'decimal', precision: 10, scale: 4, nullable: true } } as Columns;
      const plain = await change(before, { amount: { type: 'decimal', precision: 10, scale: 2, nullable: true } }, 'plain');
      expect(plain.error).to.equal(undefined);
      expect((await values('amount'))[0]).to.equal('1.12');
    });

    it('the counts cannot be hijacked through the search_path: a planted public.count(varchar) is never called', async () => {
      const url = db.current().url;
      // An exact match for count(customer) that a role with CREATE on public could plant: unqualified, it would win over pg_catalog.count("any").
      await query(url, 'CREATE TABLE planted_calls (at timestamptz DEFAULT now())');
      await query(url, "CREATE FUNCTION public.count(character varying) RETURNS bigint LANGUAGE sql AS 'INSERT INTO planted_calls DEFAULT VALUES RETURNING 0::bigint'");
      const [unqualified] = await query<{ n: string }>(url, "SELECT count('x'::varchar) AS n");
      expect(unqualified.n, 'the planted function wins an unqualified call').to.equal('0');
      await query(url, 'DELETE FROM planted_calls');
      const safe = await change(customer50, { customer: { type: 'int', nullable: true } });
      expect((safe.error as DataLossError).changes[0].count).to.equal(20);
      expect(await query(url, 'SELECT * FROM planted_calls')).to.deep.equal([]);
    });

    it('the refusal rolls the whole sync back, other changes with it, and releases the lock', async () => {
      const safe = await change(customer50, { customer: { type: 'int', nullable: true }, extra: { type: 'text', nullable: true } });
      expect(safe.error).to.be.instanceOf(DataLossError);
      expect(await columnType('extra')).to.equal(undefined);
      const locks = await query<{ n: number }>(db.current().url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'");
      expect(locks[0].n).to.equal(0);
    });
  });

  describe('columns the entity no longer has are kept', () => {
    const withNote = { customer: { type: 'varchar', length: 50, nullable: true }, note: { type: 'text', nullable: true } } as Columns;

    it('a removed column keeps its values; SyncResult.kept and one warning say so; the next start is one fingerprint query', async () => {
      const warnings: string[] = [];
      const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
      const safe = await change(withNote, customer50, { logger });
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl.join('\n')).not.to.match(/DROP COLUMN/);
      expect(safe.result!.kept).to.deep.equal([
        {
          column: 'orders.note',
          kind: 'removed',
          statement: 'ALTER TABLE "orders" DROP COLUMN "note"',
          reason: safe.result!.kept[0].reason,
        },
      ]);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^orders\.note: no longer in the entity, so it is kept with its values/);
      expect((await values('note')).filter((v) => v !== null)).to.have.length(10);
      const again = await start(ordersOptions(db.current().url, orders(customer50)));
      expect(again.result!.verifiedBy).to.equal('fingerprint');
      expect(again.ddl).to.deep.equal([]);
      expect(await pending(customer50)).to.deep.equal([]);
    });

    it('plain synchronize: true drops it (10 values lost)', async () => {
      const plain = await change(withNote, customer50, 'plain');
      expect(plain.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "note"');
      expect(await columnType('note')).to.equal(undefined);
    });

    it('a kept NOT NULL column without a default is called out: this version’s inserts would fail', async () => {
      const warnings: string[] = [];
      const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
      const safe = await change({ ...customer50, label: { type: 'varchar', length: 20 } }, customer50, { logger });
      expect(safe.error).to.equal(undefined);
      expect(warnings.join('\n')).to.match(/orders\.label: .*NOT NULL without a default, so inserts from this app version, which leave it out, will fail/);
    });

    it('allowDataLoss naming it drops it', async () => {
      const lossy = await change(withNote, customer50, { allowDataLoss: ['orders.note'] });
      expect(lossy.error).to.equal(undefined);
      expect(lossy.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "note"');
      expect(await columnType('note')).to.equal(undefined);
    });

    it('allowDataLoss is part of the fingerprint: naming a kept column on a later start drops it, though the schema was verified before', async () => {
      const kept = await change(withNote, customer50);
      expect(kept.result!.kept.map((k) => k.column)).to.deep.equal(['orders.note']);
      expect((await start(ordersOptions(db.current().url, orders(customer50)))).result!.verifiedBy).to.equal('fingerprint');
      const dropped = await start(ordersOptions(db.current().url, orders(customer50)), { allowDataLoss: ['orders.note'] });
      expect(dropped.result!.verifiedBy).to.equal('diff');
      expect(dropped.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "note"');
      expect(await columnType('note')).to.equal(undefined);
    });

    it('dropRemovedColumns drops a removed column only while it holds no value', async () => {
      const refused = await change(withNote, customer50, { dropRemovedColumns: true });
      expect(refused.error).to.be.instanceOf(DataLossError);
      expect((refused.error as DataLossError).changes[0]).to.include({ column: 'orders.note', count: 10 });
      await query(db.current().url, 'UPDATE orders SET note = NULL');
      const dropped = await start(ordersOptions(db.current().url, orders(customer50)), { dropRemovedColumns: true });
      expect(dropped.error).to.equal(undefined);
      expect(await columnType('note')).to.equal(undefined);
    });

    it('an index on a kept column stays with it', async () => {
      const url = db.current().url;
      const v2 = orders(withNote, { indices: [{ name: 'IDX_orders_note', columns: ['note'] }] });
      expect((await start(ordersOptions(url, v2))).error).to.equal(undefined);
      const v1 = await start(ordersOptions(url, orders(customer50)));
      expect(v1.error).to.equal(undefined);
      expect(v1.result!.kept.map((k) => k.kind).sort()).to.deep.equal(['key', 'removed']);
      const [index] = await query(url, "SELECT 1 FROM pg_indexes WHERE indexname = 'IDX_orders_note'");
      expect(index).to.not.equal(undefined);
    });

    it('a removed entity keeps its table: TypeORM never drops one', async () => {
      const url = db.current().url;
      const other = new EntitySchema({ name: 'invoices', columns: { id: { type: 'int', primary: true, generated: 'increment' } } });
      expect((await start(ordersOptions(url, [orders(customer50), other]))).error).to.equal(undefined);
      const v2 = await start(ordersOptions(url, orders(customer50)));
      expect(v2.error).to.equal(undefined);
      expect(v2.ddl.join('\n')).not.to.match(/DROP TABLE/);
      expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'invoices'")).to.have.length(1);
    });
  });

  describe('renames', () => {
    it('one column renamed: TypeORM’s guessed RENAME COLUMN is not run; the old column keeps its values, the new one is added, and a warning says why', async () => {
      const warnings: string[] = [];
      const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
      const safe = await change(customer50, { client: { type: 'varchar', length: 50, nullable: true } }, { logger });
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl.join('\n')).not.to.match(/RENAME|DROP/);
      expect(safe.ddl).to.include('ALTER TABLE "orders" ADD "client" character varying(50)');
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(safe.result!.kept.map((k) => [k.column, k.kind])).to.deep.equal([['orders.customer', 'rename'], ['orders.customer', 'removed']]);
      expect(safe.result!.kept[0].statement).to.equal('ALTER TABLE "orders" RENAME COLUMN "customer" TO "client"');
      expect(warnings.join('\n')).to.match(/orders\.customer: TypeORM took the removal of customer and the addition of client for a rename; not run: renaming would break an app version still running with customer/);
    });

    it('a rename named in allowDataLoss runs as TypeORM’s RENAME COLUMN (no value lost)', async () => {
      const safe = await change(customer50, { client: { type: 'varchar', length: 50, nullable: true } }, { allowDataLoss: ['orders.customer'] });
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl).to.include('ALTER TABLE "orders" RENAME COLUMN "customer" TO "client"');
      expect(await values('client')).to.deep.equal(customerValues);
    });

    it('one renamed and another added: the old column is kept with its values (TypeORM drops it)', async () => {
      const after = { client: { type: 'varchar', length: 50, nullable: true }, extra: { type: 'text', nullable: true } } as Columns;
      const safe = await change(customer50, after);
      expect(safe.error).to.equal(undefined);
      expect(await values('customer')).to.deep.equal(customerValues);
      expect(safe.result!.kept.map((k) => k.column)).to.deep.equal(['orders.customer']);
      const plain = await start(ordersOptions(db.current().url, orders(after)), 'plain');
      expect(plain.ddl).to.include('ALTER TABLE "orders" DROP COLUMN "customer"');
    });

    it('two renamed at once: both kept with their values', async () => {
      const before = { customer: { type: 'varchar', length: 50, nullable: true }, note: { type: 'text', nullable: true } } as Columns;
      const after = { client: { type: 'varchar', length: 50, nullable: true }, remark: { type: 'text', nullable: true } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.equal(undefined);
      expect(safe.result!.kept.map((k) => k.column).sort()).to.deep.equal(['orders.customer', 'orders.note']);
      expect(await values('customer')).to.deep.equal(customerValues);
    });

    it('two renamed to NOT NULL columns: IncompatibleDataError instead of 23502, pointing at RENAME COLUMN', async () => {
      const before = { customer: { type: 'varchar', length: 50 }, label: { type: 'varchar', length: 20 } } as Columns;
      const after = { client: { type: 'varchar', length: 50 }, tag: { type: 'varchar', length: 20 } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.be.instanceOf(IncompatibleDataError);
      expect((safe.error as Error).message).to.match(/orders has 20 row\(s\) and the new column client is NOT NULL without a default/);
      expect((safe.error as Error).message).to.match(/RENAME COLUMN/);
      expect(safe.ddl).to.deep.equal([]);
    });
  });

  describe('changes that would fail get a clear error first', () => {
    it('nullable → NOT NULL with NULLs present: "orders.note has 10 NULL(s) and the entity now says NOT NULL"', async () => {
      const safe = await change({ note: { type: 'text', nullable: true } }, { note: { type: 'text' } });
      expect(safe.error).to.be.instanceOf(IncompatibleDataError);
      expect((safe.error as IncompatibleDataError).code).to.equal('INCOMPATIBLE_DATA');
      expect((safe.error as Error).message).to.match(/orders\.note has 10 NULL\(s\) and the entity now says NOT NULL/);
      expect((safe.error as Error).message).to.match(/give it a default in the entity, or fill the NULLs first/i);
    });

    it('nullable → NOT NULL once the NULLs are filled: runs', async () => {
      const url = db.current().url;
      await start(ordersOptions(url, orders({ note: { type: 'text', nullable: true } })));
      await query(url, "INSERT INTO orders (note) SELECT 'x' FROM generate_series(1, 5)");
      const safe = await start(ordersOptions(url, orders({ note: { type: 'text' } })));
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl).to.include('ALTER TABLE "orders" ALTER COLUMN "note" SET NOT NULL');
    });

    const tiers = (values: string[]) => ({ tier: { type: 'enum', enum: values, enumName: 'orders_tier', nullable: true } }) as Columns;

    it('an enum value removed while rows use it: "enum value \'legacy\' is used by 3 rows of orders.tier"', async () => {
      const safe = await change(tiers(['gold', 'silver', 'legacy']), tiers(['gold', 'silver']));
      expect(safe.error).to.be.instanceOf(IncompatibleDataError);
      expect((safe.error as Error).message).to.match(/enum value\(s\) removed from orders\.tier are still in use: 'legacy' is used by 3 row\(s\)/);
      expect(await values('tier')).to.include('legacy');
    });

    it('an enum value removed that no row uses: runs', async () => {
      const safe = await change(tiers(['gold', 'silver', 'legacy', 'unused']), tiers(['gold', 'silver', 'legacy']));
      expect(safe.error).to.equal(undefined);
      expect((await values('tier')).filter((v) => v === 'gold')).to.have.length(17);
    });

    it("an enum value added: ALTER TYPE … ADD VALUE in place on both TypeORM lines (0.3 would rename, recreate and cast the column over), values kept", async () => {
      const safe = await change(tiers(['gold', 'legacy']), tiers(['gold', 'legacy', "o'platinum"]));
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl.join('\n')).to.match(/ALTER TYPE "public"\."orders_tier" ADD VALUE 'o''platinum'/);
      expect(safe.ddl.join('\n')).not.to.match(/RENAME TO|_old|USING/);
      expect(await values('tier')).to.include('legacy');
      const labels = await query(db.current().url, "SELECT pg_catalog.enum_range(NULL::orders_tier)::text AS r");
      expect(labels[0].r).to.equal("{gold,legacy,o'platinum}");
      expect((await start(ordersOptions(db.current().url, orders(tiers(['gold', 'legacy', "o'platinum"]))))).ddl).to.deep.equal([]);
    });

    it('an enum value added with a new default that uses it: the type is recreated (a value cannot be used in the transaction that adds it, 55P04 on 1.x as TypeORM writes it), values kept', async () => {
      const before = { tier: { type: 'enum', enum: ['gold', 'legacy'], enumName: 'orders_tier', nullable: true, default: 'gold' } } as Columns;
      const after = { tier: { type: 'enum', enum: ['gold', 'legacy', 'platinum'], enumName: 'orders_tier', nullable: true, default: 'platinum' } } as Columns;
      // TypeORM as it is: 1.x sends ADD VALUE then SET DEFAULT in one transaction and fails; 0.3 recreates the type.
      const plain = await change(before, after, 'plain');
      const line = Number(JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'node_modules', 'typeorm', 'package.json'), 'utf8')).version.split('.')[0]);
      if (line >= 1) expect(plain.error).to.have.nested.property('driverError.code', '55P04');
      else expect(plain.error).to.equal(undefined);
      await query(db.current().url, 'DROP TABLE orders');
      await query(db.current().url, 'DROP TYPE orders_tier');
      const safe = await change(before, after);
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl.join('\n')).to.match(/ALTER TYPE "public"\."orders_tier" RENAME TO "orders_tier_old"/);
      expect(await values('tier')).to.include('legacy');
      const column = await query(db.current().url, "SELECT column_default AS d FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'tier'");
      expect(column[0].d).to.equal("'platinum'::orders_tier");
      expect((await start(ordersOptions(db.current().url, orders(after)))).ddl).to.deep.equal([]);
    });

    it('unique added over duplicates: IncompatibleDataError; unique removed: runs', async () => {
      const label = { label: { type: 'varchar', length: 20, nullable: true } } as Columns;
      const unique = { label: { type: 'varchar', length: 20, nullable: true, unique: true } } as Columns;
      const refused = await change(label, unique);
      expect(refused.error).to.be.instanceOf(IncompatibleDataError);
      expect((refused.error as Error).message).to.match(/orders\.label has 5 value\(s\) held by more than one row and the entity now says unique/);
      await query(db.current().url, 'DELETE FROM orders');
      expect((await start(ordersOptions(db.current().url, orders(unique)))).error).to.equal(undefined);
      const removed = await start(ordersOptions(db.current().url, orders(label)));
      expect(removed.error).to.equal(undefined);
    });
  });

  describe('changes that touch no stored value run as TypeORM writes them', () => {
    it('a new nullable column, a new column with a default, and a changed default', async () => {
      const before = { n: { type: 'int', default: 1 } } as Columns;
      const after = { n: { type: 'int', default: 2 }, note: { type: 'text', nullable: true }, flag: { type: 'boolean', default: false } } as Columns;
      const safe = await change(before, after);
      expect(safe.error).to.equal(undefined);
      expect(safe.ddl).to.include(`ALTER TABLE "orders" ALTER COLUMN "n" SET DEFAULT '2'`);
      expect(await values('n')).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i + 1)));
      expect(await values('flag')).to.deep.equal(Array(20).fill('false'));
    });
  });

  describe('plan() and pendingStatements()', () => {
    it('say for each statement whether it is safe, made lossless, kept back or refused, with the counts', async () => {
      const url = db.current().url;
      const before = { customer: { type: 'varchar', length: 50, nullable: true }, n: { type: 'int', nullable: true }, note: { type: 'text', nullable: true } } as Columns;
      await start(ordersOptions(url, orders(before)));
      await query(url, "INSERT INTO orders (customer, n, note) SELECT 'c' || g, g, 'x' FROM generate_series(1, 20) g");
      const after = { customer: { type: 'varchar', length: 100, nullable: true }, n: { type: 'varchar', length: 5, nullable: true }, extra: { type: 'text', nullable: true } } as Columns;
      const ds = await new DataSource({ ...ordersOptions(url, orders(after)), synchronize: false }).initialize();
      try {
        const plan = await new SafeSynchronizer(ds).plan();
        const by = (action: string) => plan.filter((s) => s.action === action);
        expect(by('lossless').map((s) => s.sql)).to.deep.equal(['ALTER TABLE "orders" ALTER COLUMN "customer" TYPE character varying(100) USING "customer"::character varying(100)']);
        expect(by('kept')).to.deep.include({ sql: 'ALTER TABLE "orders" DROP COLUMN "note"', action: 'kept', column: 'orders.note', reason: by('kept')[0].reason });
        expect(by('refused').map((s) => [s.column, s.count])).to.deep.equal([['orders.n', 20], ['orders.n', 20]]);
        expect(by('safe').map((s) => s.sql)).to.include('ALTER TABLE "orders" ADD "extra" text');
        const pendingSql = await new SafeSynchronizer(ds).pendingStatements();
        expect(pendingSql).not.to.include('ALTER TABLE "orders" DROP COLUMN "note"');
      } finally {
        await ds.destroy();
      }
    });
  });

  describe('two app versions at once', () => {
    it('an older version restarting after a newer one widened a column keeps it wide; a new version that narrows is refused', async () => {
      const url = db.current().url;
      expect((await start(ordersOptions(url, orders(customer50)))).error).to.equal(undefined);
      await query(url, "INSERT INTO orders (customer) SELECT 'customer-' || g FROM generate_series(1, 20) g");
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect((await start(ordersOptions(url, orders(customer100)))).error).to.equal(undefined);
      await query(url, `UPDATE orders SET customer = repeat('x', 80) WHERE id = 1`);

      const older = await start(ordersOptions(url, orders(customer50)));
      expect(older.error).to.equal(undefined);
      expect(older.result!.kept.map((k) => [k.column, k.kind])).to.deep.equal([['orders.customer', 'narrower']]);
      expect(await columnType('customer')).to.equal('character varying(100)');
      expect((await values('customer'))[0]).to.have.length(80);

      const narrower = { customer: { type: 'varchar', length: 60, nullable: true } } as Columns;
      const newest = await start(ordersOptions(url, orders(narrower)));
      expect(newest.error).to.be.instanceOf(DataLossError);
    });

    it('the Celery entities still sync onto a fresh database with nothing pending afterwards', async () => {
      const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
      try {
        expect(await new SafeSynchronizer(ds).pendingStatements()).to.deep.equal([]);
      } finally {
        await ds.destroy();
      }
    });
  });
});
