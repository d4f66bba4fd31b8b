/** What the CLI exits with, for a deploy pipeline to act on. */
export const ExitCode = Object.freeze({
  /** Done; or, for `status` and `migrate --show`, nothing is pending. */
  OK: 0,
  /** The command failed: a database error, a sync that did not converge, a failing migration. */
  FAILURE: 1,
  /** The command line or the data-source file is wrong; nothing was done. */
  USAGE: 2,
  /** `status` or `migrate --show`: the schema is not in sync, or migrations are pending. */
  NOT_IN_SYNC: 3,
  /** Another process held the schema lock for longer than --lock-timeout. */
  LOCK_TIMEOUT: 4,
  /** `sync` stopped before any DDL: the change would lose stored values (DataLossError) or fail on the rows there are (IncompatibleDataError). */
  REFUSED: 5,
});
