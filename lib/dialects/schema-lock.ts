import type { DataSource } from 'typeorm';
import { InvalidOptionError, LockHolder } from '../errors';
import type { Logger } from '../logger';
import type { ResolvedSchemaLockOptions } from '../options';
import type { DialectName } from '.';
import type { HeldLock, LockIdentity } from './lock';
import { LockPlan, findHolders, holdLockOnOwnConnection, planLock } from './postgres/advisory-lock';
import { findGetLockHolders, holdGetLock, planGetLock } from './mysql/get-lock';

/** One lock strategy per dialect, behind one shape: plan the lock, then hold it on a connection of its own. */
export interface SchemaLockPlan extends LockIdentity {
  hold(logger: Logger): Promise<HeldLock>;
  /** Who holds the lock right now (for `typeorm-result-backend status`). */
  holders(): Promise<LockHolder[]>;
  /** PostgreSQL's plan, for the synchronizer's in-transaction lock; undefined elsewhere. */
  advisory?: LockPlan;
}

/** Refuses, at construction, a lock option meant for another database. */
export function checkLockOptions(dialect: DialectName, options: ResolvedSchemaLockOptions): void {
  if (options.lockKey !== undefined && dialect !== 'postgres') {
    throw new InvalidOptionError(
      `Option lockKey was given for a ${dialect} DataSource; it is a PostgreSQL advisory lock key, and ${dialect} has none. ` +
        (dialect === 'mysql' ? 'Pass lockName instead, or leave both out.' : 'Leave it out: SQLite needs no lock.'),
    );
  }
  if (options.lockName !== undefined && dialect !== 'mysql') {
    throw new InvalidOptionError(
      `Option lockName was given for a ${dialect} DataSource; it names a MySQL/MariaDB GET_LOCK. ` +
        (dialect === 'postgres' ? 'Pass lockKey instead, or leave both out.' : 'Leave it out: SQLite needs no lock.'),
    );
  }
}

/**
 * PostgreSQL: a transaction-scoped advisory lock. MySQL/MariaDB: GET_LOCK,
 * which ends with its connection. SQLite: nothing, because a SQLite file has
 * one writer at a time and its DDL is transactional (see the README).
 */
export async function planSchemaLock(dataSource: DataSource, dialect: DialectName, options: ResolvedSchemaLockOptions): Promise<SchemaLockPlan> {
  switch (dialect) {
    case 'postgres': {
      const plan = await planLock(dataSource, options.lockKey, options.lockTimeoutMs);
      return {
        lockKey: plan.key,
        lockName: null,
        advisory: plan,
        hold: (logger) => holdLockOnOwnConnection(dataSource, plan, logger),
        holders: () => findHolders(dataSource, plan.key),
      };
    }
    case 'mysql': {
      const plan = await planGetLock(dataSource, options.lockName, options.lockTimeoutMs);
      return { lockKey: null, lockName: plan.name, hold: (logger) => holdGetLock(dataSource, plan, logger), holders: () => findGetLockHolders(dataSource, plan.name) };
    }
    case 'sqlite':
      return { lockKey: null, lockName: null, hold: async () => ({ lockWaitMs: 0, release: async () => undefined }), holders: async () => [] };
  }
}
