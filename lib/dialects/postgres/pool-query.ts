/**
 * The backend's statements on PostgreSQL, sent straight to the driver's pool.
 *
 * `DataSource.query()` makes a QueryRunner per statement: a pool checkout, a
 * broadcaster, a QueryResult, and a release. The profile of a 16-writer store
 * loop put that at about 70 µs of JavaScript per store, most of the gap to a
 * raw `pg` loop on the same pool. Every statement the backend sends is one
 * atomic statement outside any transaction, so nothing needs a runner of its
 * own: a connection is checked out of the pool for exactly that statement.
 *
 * What TypeORM's runner gives users is kept: each statement, its parameters,
 * its error and its slowness (`maxQueryExecutionTime`) go to the DataSource's
 * logger as TypeORM sends them, and errors are TypeORM's QueryFailedError.
 * Where a subscriber listens to queries (`beforeQuery`/`afterQuery`), the
 * statements go through TypeORM, so it sees them too.
 */
import { performance } from 'node:perf_hooks';
import type { Pool, QueryResult } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import type { SqlQuery } from '../../query';

interface PgDriverPool {
  master?: Pool;
}

/** The pg Pool the DataSource writes through, or null where statements must go through TypeORM (not PostgreSQL, or a query subscriber). */
export function driverPool(dataSource: DataSource): Pool | null {
  if (dataSource.options.type !== 'postgres') return null;
  const listensToQueries = dataSource.subscribers.some((s) => {
    const hooks = s as { beforeQuery?: unknown; afterQuery?: unknown };
    return typeof hooks.beforeQuery === 'function' || typeof hooks.afterQuery === 'function';
  });
  if (listensToQueries) return null;
  const pool = (dataSource.driver as unknown as PgDriverPool).master;
  // poolQuery checks connections out: that is what the pool must offer.
  return pool && typeof pool.connect === 'function' ? pool : null;
}

/**
 * One statement on a connection of the pool, logged as TypeORM's runner logs it.
 * Not `pool.query()`: that hands the statement's error to `release()`, so every
 * SQL error (a read of a table not made yet, polled on a fresh database) would
 * close the connection and open a new one. Here only a broken connection is dropped.
 */
export async function poolQuery(dataSource: DataSource, pool: Pool, q: SqlQuery): Promise<QueryResult> {
  const logger = dataSource.logger;
  logger.logQuery(q.text, q.values);
  const client = await pool.connect();
  let broken: Error | undefined;
  // While it is checked out, the pool does not listen for the connection's errors: we do.
  const onError = (error: Error) => (broken = error);
  client.on('error', onError);
  const started = performance.now();
  try {
    const result = await client.query(q.text, q.values);
    const elapsed = performance.now() - started;
    const slowAfter = dataSource.options.maxQueryExecutionTime;
    if (slowAfter && elapsed > slowAfter) logger.logQuerySlow(elapsed, q.text, q.values);
    return result;
  } catch (error) {
    logger.logQueryError(error instanceof Error ? error : String(error), q.text, q.values);
    throw new QueryFailedError(q.text, q.values, error as Error);
  } finally {
    client.removeListener('error', onError);
    // A connection that failed is not given back (pg also drops one that is no longer queryable).
    client.release(broken);
  }
}
