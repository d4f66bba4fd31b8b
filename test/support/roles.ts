import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TaskMeta, TaskSetMeta } from '../../lib';
import { WakeNames, wakeGrantStatements } from '../../lib/dialects/postgres/wake-sql';
import { TestDatabase, asRole, postgresOptions, serverUrl } from './database';
import { query } from './pg-client';

export interface TestRole {
  name: string;
  /** The test database's URL, logged in as this role. */
  url: string;
}

const PASSWORD = 'role-password';

/**
 * Makes login roles (cluster-wide, so each name carries a random suffix) with
 * these grants in the test database. They are dropped after the test.
 */
export function useRoleFactory(db: { current(): TestDatabase }): (label: string, grants?: readonly string[]) => Promise<TestRole> {
  let made: string[] = [];
  // Registered after useTestDatabase's hook, so it runs once the database (and what the roles own there) is gone.
  afterEach(async () => {
    for (const name of made) await query(serverUrl(), `DROP ROLE IF EXISTS "${name}"`);
    made = [];
  });
  return async (label, grants = []) => {
    const name = `trb_${label}_${randomBytes(3).toString('hex')}`;
    await query(serverUrl(), `CREATE ROLE "${name}" LOGIN PASSWORD '${PASSWORD}'`);
    made.push(name);
    for (const grant of grants) await query(db.current().url, grant.replaceAll('$ROLE', `"${name}"`));
    return { name, url: asRole(db.current().url, name, PASSWORD) };
  };
}

/**
 * What each role needs on Celery's default tables in `public`, exactly the
 * README's privilege table. `$ROLE` stands for the role.
 */
export const GRANTS = {
  /** Celery's DatabaseBackend: it reads and upserts rows, drawing ids from its sequences. */
  celeryWorker: [
    'GRANT SELECT, INSERT, UPDATE ON celery_taskmeta, celery_tasksetmeta TO $ROLE',
    'GRANT USAGE ON SEQUENCE task_id_sequence, taskset_id_sequence TO $ROLE',
  ],
  /** A Node app that stores, waits, groups, forgets and cleans up. */
  nodeApp: (wake: WakeNames): string[] => [
    `GRANT SELECT, INSERT, UPDATE, DELETE ON celery_taskmeta, celery_tasksetmeta, ${wake.firstSeenTable} TO $ROLE`,
    'GRANT USAGE ON SEQUENCE task_id_sequence, taskset_id_sequence TO $ROLE',
    ...wakeGrantStatements(wake, '$ROLE').map((s) => s.replace('"$ROLE"', '$ROLE')),
  ],
  /** A read-only dashboard: reads, and waits on the periodic re-read. */
  dashboard: ['GRANT SELECT ON celery_taskmeta, celery_tasksetmeta TO $ROLE'],
};

/** A plain DataSource (no synchronize: the role may not) on the default entities, logged in as the role. */
export function roleDataSource(role: TestRole): Promise<DataSource> {
  return new DataSource(postgresOptions(role.url, { entities: [TaskMeta, TaskSetMeta], applicationName: `trb-test-${role.name}` })).initialize();
}
