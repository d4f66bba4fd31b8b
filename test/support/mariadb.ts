import { createHash, randomBytes } from 'node:crypto';
import { createMySqlDatabase, dropMySqlDatabase, mysqlUnavailable } from '../../examples/support/mysql';

export { createMySqlDatabase, dropMySqlDatabase, mysqlServerUrl, mysqlUnavailable } from '../../examples/support/mysql';

/**
 * Skips the suite, loudly, where no server can be had; fails instead when
 * TRB_REQUIRE_MYSQL=1 (CI sets it, so a missing server there is a red run, not a silent skip).
 */
export function requireMySql(): void {
  before(async function () {
    const missing = await mysqlUnavailable();
    if (!missing) return;
    if (process.env.TRB_REQUIRE_MYSQL === '1') throw new Error(`TRB_REQUIRE_MYSQL=1, but ${missing}`);
    console.warn(`    SKIPPED (MySQL/MariaDB specs): ${missing}`);
    this.skip();
  });
}

export interface MySqlTestDatabase {
  name: string;
  url: string;
}

/** A fresh database per test, named from the test's title; dropped afterwards. */
export function useMySqlDatabase(): { current(): MySqlTestDatabase } {
  let db: MySqlTestDatabase | undefined;
  beforeEach(async function () {
    const title = this.currentTest?.fullTitle() ?? 'test';
    const name = `trb_${createHash('sha1').update(title).digest('hex').slice(0, 10)}_${randomBytes(3).toString('hex')}`;
    db = { name, url: await createMySqlDatabase(name) };
  });
  afterEach(async () => {
    if (db) await dropMySqlDatabase(db.name);
    db = undefined;
  });
  return {
    current() {
      if (!db) throw new Error('no test database: call current() inside a test');
      return db;
    },
  };
}

export async function withFreshMySqlDatabase<T>(label: string, fn: (db: MySqlTestDatabase) => Promise<T>): Promise<T> {
  const name = `trb_${label}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const url = await createMySqlDatabase(name);
  try {
    return await fn({ name, url });
  } finally {
    await dropMySqlDatabase(name);
  }
}
