import { createHash, randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';

/**
 * The MySQL/MariaDB server the dialect specs use: MYSQL_URL, or this
 * machine's MariaDB (127.0.0.1:3306, root, no password). Each test gets a
 * database of its own and drops it.
 */
export function mysqlServerUrl(): string {
  return process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
}

export function mysqlDatabaseUrl(name: string): string {
  const url = new URL(mysqlServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

let availability: Promise<string | null> | undefined;

/** Null when the server answers; otherwise what is missing, for the skip message. */
export function mysqlUnavailable(): Promise<string | null> {
  availability ??= (async () => {
    try {
      const connection = await createConnection({ uri: mysqlServerUrl(), connectTimeout: 3_000 });
      await connection.end();
      return null;
    } catch (error) {
      const where = new URL(mysqlServerUrl());
      return `no MySQL/MariaDB server at ${where.hostname}:${where.port || 3306} (${(error as Error).message}); set MYSQL_URL, or start one`;
    }
  })();
  return availability;
}

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

export async function mysqlAdmin<T>(fn: (run: (sql: string, values?: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
  const connection = await createConnection({ uri: mysqlServerUrl() });
  try {
    return await fn(async (sql, values) => (await connection.query(sql, values))[0]);
  } finally {
    await connection.end();
  }
}

export async function createMySqlDatabase(name: string): Promise<string> {
  await mysqlAdmin((run) => run(`CREATE DATABASE \`${name}\``));
  return mysqlDatabaseUrl(name);
}

export async function dropMySqlDatabase(name: string): Promise<void> {
  await mysqlAdmin((run) => run(`DROP DATABASE IF EXISTS \`${name}\``));
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
