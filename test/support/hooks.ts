import 'reflect-metadata';
import { PostgresServer, startPostgres } from '../../examples/support/postgres';

let server: PostgresServer | undefined;

/** One server for the whole run; each test makes its own database on it. */
export async function mochaGlobalSetup(): Promise<void> {
  server = await startPostgres();
  process.env.TRB_TEST_SERVER_URL = server.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
}
