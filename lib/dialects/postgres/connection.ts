import type { Client, ClientConfig, PoolConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { NotInitializedError } from '../../errors';
import type { Logger } from '../../logger';

interface PgDriverInternals {
  postgres?: { Client: new (config: PoolConfig) => Client };
  master?: { options: PoolConfig };
}

/**
 * A connection of its own, outside TypeORM's pool, with the DataSource's
 * connection settings (URL, credentials, SSL, application_name). Used where a
 * session must stay ours for a while: the LISTEN connection, and the
 * connection that holds a lock while migrations run on the pool, so that a
 * pool of one cannot deadlock against itself.
 */
export async function connectDedicated(dataSource: DataSource, purpose: string, logger: Logger, override?: string | ClientConfig): Promise<Client> {
  const driver = dataSource.driver as unknown as PgDriverInternals;
  if (!dataSource.isInitialized || !driver.postgres || !driver.master) throw new NotInitializedError(purpose);
  // The override (a direct URL past a pooler, say) keeps the DataSource's application_name unless it sets its own.
  const config: PoolConfig =
    override === undefined
      ? driver.master.options
      : { application_name: driver.master.options.application_name, ...(typeof override === 'string' ? { connectionString: override } : override) };
  const client = new driver.postgres.Client(config);
  // An idle client whose server goes away emits 'error'; unhandled, that would end the process.
  client.on('error', (error) => logger.warn(`${purpose}: connection error`, { error: error.message }));
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}
