import type { DataSource } from 'typeorm';
import { NotInitializedError } from '../../errors';
import type { Logger } from '../../logger';

/** The promise API of one mysql2 connection, as far as we use it. */
export interface MySqlConnection {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
  end(): Promise<void>;
}

interface MySqlDriverInternals {
  mysql?: { createConnection(options: Record<string, unknown>): { promise(): MySqlConnection; on(event: 'error', listener: (error: Error) => void): void } };
  options: Record<string, unknown> & { replication?: { master: Record<string, unknown> } };
  createConnectionOptions?(options: Record<string, unknown>, credentials: Record<string, unknown>): Record<string, unknown>;
}

/** Options of mysql2's pool that a single connection does not take (it would print a warning for each). */
const POOL_ONLY = ['connectionLimit', 'acquireTimeout', 'waitForConnections', 'queueLimit', 'maxIdle', 'idleTimeout'];

/**
 * A connection of its own, outside TypeORM's pool, with the DataSource's
 * settings (credentials, SSL, charset): the one that holds GET_LOCK while the
 * sync runs on the pool, so a pool of one cannot deadlock against itself.
 */
export async function connectMySqlDedicated(dataSource: DataSource, purpose: string, logger: Logger): Promise<MySqlConnection> {
  const driver = dataSource.driver as unknown as MySqlDriverInternals;
  if (!dataSource.isInitialized || !driver.mysql || !driver.createConnectionOptions) throw new NotInitializedError(purpose);
  const credentials = driver.options.replication?.master ?? driver.options;
  const options = driver.createConnectionOptions(driver.options, credentials);
  for (const key of POOL_ONLY) delete options[key];
  const raw = driver.mysql.createConnection(options);
  // An idle connection whose server goes away emits 'error'; unhandled, that would end the process.
  raw.on('error', (error) => logger.warn(`${purpose}: connection error`, { error: error.message }));
  const connection = raw.promise();
  try {
    await connection.query('SELECT 1');
  } catch (error) {
    await connection.end().catch(() => undefined);
    throw error;
  }
  return connection;
}
