import { expect } from 'chai';
import { createConnection } from 'mysql2/promise';
import { DataSourceOptions } from 'typeorm';
import { DataLossError, IncompatibleDataError } from '../../lib';
import { Columns, orders, ordersOptions, start } from '../support/entity-versions';
import { requireMySql, useMySqlDatabase } from '../support/mariadb';

describe('SafeSynchronizer never loses data on MariaDB', function () {
  requireMySql();
  const db = useMySqlDatabase();

  async function sql<T>(text: string): Promise<T[]> {
    const c = await createConnection(db.current().url);
    try {
      return (await c.query(text))[0] as T[];
    } finally {
      await c.end();
    }
  }

  const options = (columns: Columns): DataSourceOptions => ordersOptions(db.current().url, orders(columns), { type: 'mariadb' } as Partial<DataSourceOptions>);

  async function change(before: Columns, fill: string, after: Columns, sync: Parameters<typeof start>[1] = {}) {
    const first = await start(options(before));
    if (first.error) throw first.error;
    await sql(fill);
    return start(options(after), sync);
  }

  async function columnType(column: string): Promise<string | undefined> {
    const [row] = await sql<{ t: string }>(`SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' AND COLUMN_NAME = '${column}'`);
    return row?.t;
  }

  const fill20 = (columns: string, values: string) =>
    `INSERT INTO orders (${columns}) SELECT ${values} FROM (SELECT seq AS g FROM seq_1_to_20) s`;

  it('varchar(50) → varchar(100) NOT NULL: CHANGE in place, every value kept (plain synchronize: DROP + ADD fails or loses them)', async () => {
    const safe = await change({ customer: { type: 'varchar', length: 50 } }, fill20('customer', "CONCAT('c-', g)"), { customer: { type: 'varchar', length: 100 } });
    expect(safe.error).to.equal(undefined);
    expect(safe.ddl.join('\n')).not.to.match(/DROP COLUMN/);
    expect(await columnType('customer')).to.equal('varchar(100)');
    expect((await sql<{ n: number }>("SELECT COUNT(*) AS n FROM orders WHERE customer LIKE 'c-%'"))[0].n).to.equal(20);
  });

  it('plain synchronize: true in the same harness drops the column and re-adds it', async () => {
    const plain = await change({ customer: { type: 'varchar', length: 50, nullable: true } }, fill20('customer', "CONCAT('c-', g)"), { customer: { type: 'varchar', length: 100, nullable: true } }, 'plain');
    expect(plain.ddl.join('\n')).to.match(/DROP COLUMN `customer`/);
    expect((await sql<{ n: number }>('SELECT COUNT(customer) AS n FROM orders'))[0].n).to.equal(0);
  });

  it('int → bigint, and text → mediumtext: in place', async () => {
    const safe = await change({ n: { type: 'int' }, body: { type: 'text', nullable: true } }, fill20('n, body', "g, CONCAT('b', g)"), { n: { type: 'bigint' }, body: { type: 'mediumtext', nullable: true } });
    expect(safe.error).to.equal(undefined);
    expect(await columnType('n')).to.match(/^bigint/);
    expect(await columnType('body')).to.equal('mediumtext');
    expect((await sql<{ s: string }>('SELECT SUM(n) AS s FROM orders'))[0].s).to.equal('210');
  });

  it('a removed column is kept with its values; a narrowing is refused with DataLossError before any DDL', async () => {
    const kept = await change({ customer: { type: 'varchar', length: 50 }, note: { type: 'text', nullable: true } }, fill20('customer, note', "CONCAT('c-', g), 'x'"), { customer: { type: 'varchar', length: 50 } });
    expect(kept.error).to.equal(undefined);
    expect(kept.result!.kept.map((k) => k.column)).to.deep.equal(['orders.note']);
    expect((await sql<{ n: number }>('SELECT COUNT(note) AS n FROM orders'))[0].n).to.equal(20);

    const refused = await start(options({ customer: { type: 'varchar', length: 20 } }));
    expect(refused.error).to.be.instanceOf(DataLossError);
    expect((refused.error as DataLossError).changes[0]).to.include({ column: 'orders.customer', count: 20 });
    expect(refused.ddl).to.deep.equal([]);
    expect(await columnType('customer')).to.equal('varchar(50)');
  });

  it('nullable → NOT NULL with NULLs present: IncompatibleDataError, not a raw 1265/1138', async () => {
    const safe = await change({ note: { type: 'varchar', length: 20, nullable: true } }, fill20('note', "IF(g <= 4, NULL, 'x')"), { note: { type: 'varchar', length: 20 } });
    expect(safe.error).to.be.instanceOf(IncompatibleDataError);
    expect((safe.error as Error).message).to.match(/orders\.note has 4 NULL\(s\) and the entity now says NOT NULL/);
  });
});
