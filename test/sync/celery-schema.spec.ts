import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { SafeSynchronizer, SyncResult, TaskMeta, TaskSetMeta } from '../../lib';
import { postgresOptions, useTestDatabase } from '../support/database';

const celerySchema = readFileSync(join(__dirname, '..', '..', '..', '..', 'shared', 'celery', 'schema.sql'), 'utf8');

async function applyCelerySchema(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(celerySchema);
  } finally {
    await client.end();
  }
}

describe('SafeSynchronizer on a schema that Celery created', () => {
  const db = useTestDatabase();

  it('changes nothing destructive: it only adds the date_done indexes', async () => {
    await applyCelerySchema(db.current().url);
    let result: SyncResult | undefined;
    const ds = new DataSource(postgresOptions(db.current().url, { entities: [TaskMeta, TaskSetMeta], synchronize: true }));
    await SafeSynchronizer.initialize(ds, { onSynchronized: (r) => (result = r) });
    try {
      console.log(result?.statements);
      expect(result?.statements.every((s) => s.startsWith('CREATE INDEX'))).to.equal(true);
      expect(result?.statements).to.have.length(2);
    } finally {
      await ds.destroy();
    }
  });
});
