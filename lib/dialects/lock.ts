/** A schema lock held on a connection of its own; `release()` gives it up and closes that connection. */
export interface HeldLock {
  /** Milliseconds spent waiting for the lock. */
  lockWaitMs: number;
  release(): Promise<void>;
}

/**
 * Which lock a sync or a migration run took: a PostgreSQL advisory key, a
 * MySQL/MariaDB GET_LOCK name, or none (SQLite: one writer per file).
 */
export interface LockIdentity {
  lockKey: readonly [number, number] | null;
  lockName: string | null;
}
