import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntitySchema } from 'typeorm';
import { ResultBackend, SafeSynchronizer, UnsupportedDriverError } from '../../lib';

/** An app's tables: a foreign key and an index, as apps have. */
const Owner = new EntitySchema<{ id: number; email: string }>({
  name: 'owner',
  columns: { id: { type: 'integer', primary: true, generated: 'increment' }, email: { type: 'varchar', length: 200 } },
  indices: [{ name: 'owner_email_idx', columns: ['email'], unique: true }],
});
const Job = new EntitySchema<{ id: number; label: string; owner: unknown }>({
  name: 'job',
  columns: { id: { type: 'integer', primary: true, generated: 'increment' }, label: { type: 'varchar', length: 100 } },
  relations: { owner: { type: 'many-to-one', target: 'owner', nullable: true, onDelete: 'SET NULL' } },
});

describe('SafeSynchronizer on SQLite (better-sqlite3): one writer per file, no lock needed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'trb-sqlite-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (file: string) => new DataSource({ type: 'better-sqlite3', database: join(dir, file), entities: [Owner, Job], synchronize: true });

  it('syncs a fresh file in one transaction, and a second DataSource on the same file finds nothing to do', async () => {
    let first: Awaited<ReturnType<SafeSynchronizer['synchronize']>> | undefined;
    const a = await SafeSynchronizer.initialize(open('app.db'), { onSynchronized: (r) => (first = r) });
    let second: typeof first;
    const b = await SafeSynchronizer.initialize(open('app.db'), { onSynchronized: (r) => (second = r) });
    try {
      expect(first).to.deep.include({ changed: true, lockKey: null, lockName: null, verifiedBy: 'diff' });
      expect(second).to.deep.include({ changed: false, statements: [] });
      expect(await new SafeSynchronizer(b).pendingStatements()).to.deep.equal([]);
    } finally {
      await a.destroy();
      await b.destroy();
    }
  });

  it('the result store is refused there, with a typed error naming the drivers it supports', async () => {
    const ds = await SafeSynchronizer.initialize(open('store.db'));
    try {
      expect(() => new ResultBackend(ds)).to.throw(UnsupportedDriverError, /"better-sqlite3" is not supported by ResultBackend.*postgres, mysql, mariadb/);
    } finally {
      await ds.destroy();
    }
  });
});
