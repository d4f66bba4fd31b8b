import type { DialectName } from '.';
import * as mysql from './mysql/classify';
import * as postgres from './postgres/classify';
import * as sqlite from './sqlite/classify';

/** How a sync attempt's failure is read: a race with a process outside the lock, or something a retry cannot fix. */
export interface SyncErrorClassifier {
  /** Another session created the object first. */
  isConcurrentCreateError(error: unknown): boolean;
  /** The attempt left nothing behind that a fresh attempt and a fresh diff cannot fix. */
  isRetryableSyncError(error: unknown): boolean;
}

export const SYNC_ERRORS: Readonly<Record<DialectName, SyncErrorClassifier>> = Object.freeze({ postgres, mysql, sqlite });
