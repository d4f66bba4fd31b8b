import type { QueryRunner } from 'typeorm';
import { LockHolder, LockTimeoutError } from '../errors';
import { isLockTimeout } from './classify';
import {
  SYNC_LOCK_NAMESPACE,
  SqlQuery,
  advisorySessionLockSql,
  advisorySessionUnlockSql,
  advisoryXactLockSql,
  lockHoldersSql,
  prepareLockSql,
  releaseSavepointSql,
  restoreSettingsSql,
  rollbackToSavepointSql,
  savepointSql,
  setLockWaitSettingsSql,
} from './sql';

export type LockKey = readonly [number, number];

/** What the lock wait overrides, kept to put back once the lock is ours. */
export interface LockPlan {
  key: LockKey;
  timeoutMs: number;
  lockTimeout: string;
  statementTimeout: string;
}

const LOCK_SAVEPOINT = 'typeorm_result_backend_lock';

export async function runSql<T = Record<string, unknown>>(runner: QueryRunner, query: SqlQuery): Promise<T[]> {
  return (await runner.query(query.text, query.values)) as T[];
}

export async function planLock(
  runner: QueryRunner,
  schemas: readonly string[],
  override: LockKey | undefined,
  timeoutMs: number,
): Promise<LockPlan> {
  const [row] = await runSql<{ derived_key: number; lock_timeout: string; statement_timeout: string }>(runner, prepareLockSql(schemas));
  return {
    key: override ?? [SYNC_LOCK_NAMESPACE, Number(row.derived_key)],
    timeoutMs,
    lockTimeout: row.lock_timeout,
    statementTimeout: row.statement_timeout,
  };
}

async function findHolders(runner: QueryRunner, key: LockKey): Promise<LockHolder[]> {
  const rows = await runSql<{ pid: number; application_name: string; since: Date | null; state: string | null }>(runner, lockHoldersSql(key));
  return rows.map((r) => ({ pid: r.pid, applicationName: r.application_name, since: r.since, state: r.state }));
}

/**
 * Takes the transaction-scoped lock: it frees itself at COMMIT, at ROLLBACK and
 * when the backend dies, and it is safe behind PgBouncer in transaction mode.
 * The savepoint lets us ask pg_locks who held the lock after a timeout without
 * losing the transaction. Resolves to the milliseconds spent waiting.
 */
export async function acquireTransactionLock(runner: QueryRunner, plan: LockPlan): Promise<number> {
  await runSql(runner, setLockWaitSettingsSql(plan.timeoutMs, true));
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
  await runSql(runner, restoreSettingsSql(plan.lockTimeout, plan.statementTimeout, true));
  return waited;
}

/**
 * The session-scoped variant, for `migrationsTransactionMode: "none"` where
 * there is no transaction to scope the lock to. The caller must hold this
 * runner's connection for the whole sync and call releaseSessionLock in `finally`.
 */
export async function acquireSessionLock(runner: QueryRunner, plan: LockPlan): Promise<number> {
  await runSql(runner, setLockWaitSettingsSql(plan.timeoutMs, false));
  const started = performance.now();
  try {
    await runSql(runner, advisorySessionLockSql(plan.key));
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    await runSql(runner, restoreSettingsSql(plan.lockTimeout, plan.statementTimeout, false));
    throw new LockTimeoutError(plan.key, plan.timeoutMs, await findHolders(runner, plan.key), error);
  } 
  const waited = performance.now() - started;
  await runSql(runner, restoreSettingsSql(plan.lockTimeout, plan.statementTimeout, false));
  return waited;
}

export async function releaseSessionLock(runner: QueryRunner, key: LockKey): Promise<void> {
  await runSql(runner, advisorySessionUnlockSql(key));
}
