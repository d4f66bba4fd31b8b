import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { connectDedicated } from './connection';
import { Queryable, rowsOf, runSql } from '../../query';
import { LockHolder, LockTimeoutError } from '../../errors';
import type { Logger } from '../../logger';
import { isLockTimeout } from './classify';
import type { HeldLock } from '../lock';
import { syncedSchemas } from '../../schemas';
import {
  SYNC_LOCK_NAMESPACE,
  advisoryXactLockSql,
  tryAdvisoryXactLockSql,
  holdLockSettingsSql,
  lockHoldersSql,
  prepareLockSql,
  releaseSavepointSql,
  restoreSettingsSql,
  rollbackToSavepointSql,
  savepointSql,
  setLockWaitSettingsSql,
} from './sync-sql';

/** A two-int PostgreSQL advisory lock key: `[classid, objid]`. */
export type LockKey = readonly [number, number];

/** What the lock wait overrides, kept to put back once the lock is ours. */
export interface LockPlan {
  key: LockKey;
  timeoutMs: number;
  lockTimeout: string;
  statementTimeout: string;
}

const LOCK_SAVEPOINT = 'typeorm_result_backend_lock';

/**
 * The key (derived from the database and the schemas the entities live in,
 * unless overridden) and the settings the wait will override. The synchronizer
 * and the migrator plan the same key, so a sync and a migration never overlap.
 */
export async function planLock(dataSource: DataSource, override: LockKey | undefined, timeoutMs: number): Promise<LockPlan> {
  const runner = dataSource.createQueryRunner();
  try {
    const [row] = await runSql<{ derived_key: number; lock_timeout: string; statement_timeout: string }>(runner, prepareLockSql(syncedSchemas(dataSource)));
    return {
      key: override ?? [SYNC_LOCK_NAMESPACE, Number(row.derived_key)],
      timeoutMs,
      lockTimeout: row.lock_timeout,
      statementTimeout: row.statement_timeout,
    };
  } finally {
    await runner.release();
  }
}

export async function findHolders(runner: Queryable, key: LockKey): Promise<LockHolder[]> {
  const rows = await runSql<{ pid: number; application_name: string; since: Date | null; state: string | null }>(runner, lockHoldersSql(key));
  return rows.map((r) => ({ pid: r.pid, applicationName: r.application_name, since: r.since, state: r.state }));
}

/**
 * Takes the transaction-scoped lock: it frees itself at COMMIT, at ROLLBACK and
 * when the backend dies, and it is safe behind PgBouncer in transaction mode.
 * The savepoint lets us ask pg_locks who held the lock after a timeout without
 * losing the transaction. Resolves to the milliseconds spent waiting.
 */
export async function acquireTransactionLock(runner: Queryable, plan: LockPlan): Promise<number> {
  await runSql(runner, setLockWaitSettingsSql(plan.timeoutMs));
  await runner.query(savepointSql(LOCK_SAVEPOINT));
  const started = performance.now();
  try {
    await runSql(runner, advisoryXactLockSql(plan.key));
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    await runner.query(rollbackToSavepointSql(LOCK_SAVEPOINT));
    throw new LockTimeoutError(plan.key, plan.timeoutMs, await findHolders(runner, plan.key), error);
  }
  const waited = performance.now() - started;
  await runner.query(releaseSavepointSql(LOCK_SAVEPOINT));
  await runSql(runner, restoreSettingsSql(plan.lockTimeout, plan.statementTimeout));
  return waited;
}


/**
 * For work that must not run inside one transaction of ours (migrations in
 * "each" or "none" mode, a sync with `migrationsTransactionMode: "none"`): a
 * dedicated connection opens a transaction, takes the transaction-scoped lock,
 * and idles in that transaction while the work runs on the pool.
 *
 * Why a transaction rather than a session lock: the lock still ends with the
 * connection if this process dies, and behind PgBouncer in transaction mode an
 * open transaction pins its server connection, where a session lock would stay
 * behind on a server connection handed to someone else. The transaction's own
 * idle_in_transaction_session_timeout is lifted so a long migration does not
 * lose the lock half-way.
 */
export async function holdLockOnOwnConnection(dataSource: DataSource, plan: LockPlan, logger: Logger): Promise<HeldLock> {
  const client = await connectDedicated(dataSource, 'The schema lock', logger);
  const runner = rowsOf(client);
  try {
    const lockWaitMs = await tryUntilLocked(runner, plan);
    // Last, and as a simple-protocol statement: a parameterized statement leaves its
    // unnamed portal open, and with it a snapshot whose xmin would make a migration's
    // CREATE INDEX CONCURRENTLY wait for this idle transaction forever.
    await client.query(holdLockSettingsSql());
    return {
      lockWaitMs,
      release: async () => {
        try {
          await client.query('ROLLBACK');
        } finally {
          await client.end();
        }
      },
    };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/**
 * Waits for the lock without holding a server connection while it waits: one
 * short transaction per attempt (`pg_try_advisory_xact_lock`), and no
 * transaction between attempts. Behind PgBouncer in transaction mode, waiters
 * that blocked inside a transaction would each pin a server connection, and
 * with a small pool they would take the very connections the holder needs to
 * run its migrations on: nobody would move until the lock timed out. Resolves,
 * inside the transaction that holds the lock, to the milliseconds waited.
 */
async function tryUntilLocked(runner: Queryable, plan: LockPlan): Promise<number> {
  const started = performance.now();
  for (let attempt = 0; ; attempt++) {
    await runner.query('BEGIN');
    const [row] = await runSql<{ locked: boolean }>(runner, tryAdvisoryXactLockSql(plan.key));
    if (row.locked) return performance.now() - started;
    await runner.query('ROLLBACK');
    const waited = performance.now() - started;
    if (plan.timeoutMs > 0 && waited >= plan.timeoutMs) {
      throw new LockTimeoutError(plan.key, plan.timeoutMs, await findHolders(runner, plan.key), undefined);
    }
    // Jittered, growing from 10 ms to 250 ms, and never past the deadline.
    const pause = Math.min(250, 10 * 1.5 ** attempt) * (0.5 + Math.random() / 2);
    await sleep(plan.timeoutMs > 0 ? Math.min(pause, plan.timeoutMs - waited) : pause);
  }
}
