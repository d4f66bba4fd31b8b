import { createHash, randomBytes } from 'node:crypto';
import 'reflect-metadata';
import { DataSourceOptions } from 'typeorm';
import { createDatabase, dropDatabase } from '../../examples/support/postgres';

export function serverUrl(): string {
  const url = process.env.TRB_TEST_SERVER_URL;
  if (!url) throw new Error('TRB_TEST_SERVER_URL is not set: run the tests through mocha with test/support/hooks.');
  return url;
}

export interface TestDatabase {
  name: string;
  url: string;
}

/**
 * A fresh database for one test, named from the test's title so a kept one
 * can be found; dropped afterwards unless the test failed and
 * TRB_KEEP_FAILED=1 asks to keep it for inspection.
 */
export function useTestDatabase(): { current(): TestDatabase } {
  let db: TestDatabase | undefined;
  beforeEach(async function () {
    const title = this.currentTest?.fullTitle() ?? 'test';
    const name = `trb_${createHash('sha1').update(title).digest('hex').slice(0, 10)}_${randomBytes(3).toString('hex')}`;
    db = { name, url: await createDatabase(serverUrl(), name) };
  });
  afterEach(async function () {
    if (!db) return;
    const failed = this.currentTest?.state === 'failed';
    if (!(failed && process.env.TRB_KEEP_FAILED === '1')) await dropDatabase(serverUrl(), db.name);
    db = undefined;
  });
  return {
    current() {
      if (!db) throw new Error('no test database: call current() inside a test');
      return db;
    },
  };
}

/** A fresh database outside mocha's per-test hooks (for trials inside one test). */
export async function withFreshDatabase<T>(label: string, fn: (db: TestDatabase) => Promise<T>): Promise<T> {
  const name = `trb_${label}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const url = await createDatabase(serverUrl(), name);
  try {
    return await fn({ name, url });
  } finally {
    await dropDatabase(serverUrl(), name);
  }
}

export function postgresOptions(url: string, extra: Partial<DataSourceOptions> = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    applicationName: 'trb-test',
    poolSize: 4,
    ...extra,
  } as DataSourceOptions;
}


/** The same database URL, logged in as another role (with its password, for servers that ask for one). */
export function asRole(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}
