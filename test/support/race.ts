import { withFreshDatabase } from './database';

/** What one trial of the unsafe way saw: how many processes failed, and the error each gave. */
export interface TrialOutcome {
  failed: number;
  errors: string[];
}

/**
 * Runs the unsafe way on fresh databases until it fails, at most `maxTrials`
 * times: a race may happen to serialize in one trial, and a test that shows
 * the safe way winning must also show the unsafe way losing in the same harness.
 */
export async function untilTheRaceShows(
  label: string,
  maxTrials: number,
  trial: (url: string) => Promise<TrialOutcome>,
): Promise<{ trials: number; failed: number; errors: Set<string> }> {
  let trials = 0;
  let failed = 0;
  const errors = new Set<string>();
  while (failed === 0 && trials < maxTrials) {
    trials++;
    const outcome = await withFreshDatabase(label, async ({ url }) => trial(url));
    failed += outcome.failed;
    for (const e of outcome.errors) errors.add(e);
    console.log(`    ${label}, trial ${trials}: ${outcome.failed} failed (${[...errors].join('; ') || 'no error'})`);
  }
  return { trials, failed, errors };
}

/**
 * The words PostgreSQL uses when two sessions create the same objects at once: the race itself.
 * Besides the duplicates, two sessions indexing one table can collide on its pg_class row
 * ("tuple concurrently updated"), or wait on each other ("deadlock detected").
 */
export const RACE_ERROR =
  /duplicate key value violates unique constraint "\w+"|(?:relation|type|constraint) "\w+"(?: for relation "\w+")? already exists|tuple concurrently updated|deadlock detected/;
