import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { LockHolder, LockTimeoutError } from '../../errors';
import type { Logger } from '../../logger';
import { syncedSchemas } from '../../schemas';
import type { HeldLock } from '../lock';
import { MySqlConnection, connectMySqlDedicated } from './connection';
import { CURRENT_DATABASE_SQL, getLockSql, lockHolderSql, releaseLockSql } from './lock-sql';

export interface GetLockPlan {
  name: string;
  timeoutMs: number;
}

/**
 * The lock name: given, or derived from the database and the schemas (MySQL
 * databases) the entities live in, so that two databases on one server never
 * wait for each other. GET_LOCK names are server-wide, hence the database in it.
 */
export async function planGetLock(dataSource: DataSource, override: string | undefined, timeoutMs: number): Promise<GetLockPlan> {
  if (override !== undefined) return { name: override, timeoutMs };
  const [row] = (await dataSource.query(CURRENT_DATABASE_SQL)) as { db: string | null }[];
  const scope = `${row?.db ?? ''}:${syncedSchemas(dataSource).join(',')}`;
  return { name: `typeorm_result_backend:${createHash('sha256').update(scope).digest('hex').slice(0, 32)}`, timeoutMs };
}

async function rows<T>(connection: MySqlConnection, query: { text: string; values: unknown[] }): Promise<T[]> {
  const [result] = await connection.query(query.text, query.values);
  return result as T[];
}

/** Who holds the lock now, from any connection (a dedicated one, or the DataSource's). */
export async function findGetLockHolders(connection: MySqlConnection | DataSource, name: string): Promise<LockHolder[]> {
  const q = lockHolderSql(name);
  type Row = { id: number; user: string; host: string; command: string; time: number; state: string | null };
  const found = 'manager' in connection ? ((await connection.query(q.text, q.values)) as Row[]) : await rows<Row>(connection, q);
  return found.map((p) => ({
    pid: Number(p.id),
    applicationName: `${p.user}@${p.host}`,
    since: new Date(Date.now() - Number(p.time) * 1000),
    state: [p.command, p.state].filter(Boolean).join(': ') || null,
  }));
}

/**
 * Takes GET_LOCK on a connection of its own, waiting at most `timeoutMs`;
 * on a timeout, a LockTimeoutError names the connection that holds it.
 * `release()` gives the lock back and closes the connection, in that order,
 * and closes it even when giving back fails (the lock ends with it anyway).
 */
export async function holdGetLock(dataSource: DataSource, plan: GetLockPlan, logger: Logger): Promise<HeldLock> {
  const connection = await connectMySqlDedicated(dataSource, 'The schema lock', logger);
  try {
    const started = performance.now();
    const [row] = await rows<{ locked: number | null }>(connection, getLockSql(plan.name, plan.timeoutMs));
    if (Number(row?.locked) !== 1) throw new LockTimeoutError({ name: plan.name }, plan.timeoutMs, await findGetLockHolders(connection, plan.name), undefined);
    const lockWaitMs = performance.now() - started;
    return {
      lockWaitMs,
      release: async () => {
        try {
          await connection.query(releaseLockSql(plan.name).text, releaseLockSql(plan.name).values);
        } finally {
          await connection.end();
        }
      },
    };
  } catch (error) {
    await connection.end().catch(() => undefined);
    throw error;
  }
}
