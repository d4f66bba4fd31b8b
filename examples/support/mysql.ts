/**
 * A MySQL/MariaDB server for the specs and the bench: MYSQL_URL, or this
 * machine's MariaDB (127.0.0.1:3306, root, no password), with a database made
 * and dropped per use.
 */
import { createConnection } from 'mysql2/promise';

/** The server: MYSQL_URL, or this machine's MariaDB. */
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

