import { ForeignObjectError } from '../../errors';
import { Queryable, runSql } from '../../query';
import { ForeignObjectRow, OwnedObject, foreignObjectsSql } from './ownership-sql';

/**
 * Throws a ForeignObjectError for the first of these objects that exists and
 * is not the package's (see ownership-sql.ts). Called after each
 * `IF NOT EXISTS` and before anything is written to what it made, inside the
 * same transaction, so a refusal rolls the whole step back.
 */
export async function refuseForeignObjects(runner: Queryable, objects: readonly OwnedObject[]): Promise<void> {
  if (objects.length === 0) return;
  const [foreign] = await runSql<ForeignObjectRow>(runner, foreignObjectsSql(objects));
  if (foreign) throw new ForeignObjectError(foreign);
}
