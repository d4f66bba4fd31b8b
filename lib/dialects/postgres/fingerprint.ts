import { createHash } from 'node:crypto';
import type { DataSource, EntityMetadata } from 'typeorm';
import type { Logger } from '../../logger';
import { PgCode, findPgError } from './codes';
import { Queryable, qualified, runSql } from '../../query';
import { refuseForeignObjects } from './ownership';
import {
  FingerprintObjects,
  addFirstRecordedAtSql,
  checkFingerprintSql,
  FINGERPRINT_TABLE,
  createFingerprintTableSql,
  fingerprintTableExistsSql,
  newerVersionRecordedSql,
  pruneFingerprintsSql,
  recordFingerprintSql,
} from './fingerprint-sql';
import { entitySequences } from './prerequisites';
import { schemaOf, syncedSchemas } from '../../schemas';
import { releaseSavepointSql, rollbackToSavepointSql, savepointSql } from './sync-sql';

/** Bumped whenever what the fingerprint covers changes, so an older record never matches. */
// 3: the wake-up functions became SECURITY DEFINER with a fixed search_path; a new format makes every
// database take one full sync, which replaces the older functions (the catalog hash does not cover function bodies).
// 4: the unregister function became plpgsql, one DELETE per id on the primary key (same reason).
const FINGERPRINT_FORMAT = 4;

/** Fields whose value is an object or a function and still becomes DDL: a default such as `() => "now()"`, an enum, a view's query. */
const DDL_VALUE_FIELDS = new Set(['default', 'type', 'expression', 'enum', 'onUpdate', 'asExpression']);

/**
 * Everything in a metadata object that can affect DDL, as text: every
 * primitive field (names, types, lengths, flags that are set), arrays of
 * primitives, and the object- or function-valued fields above, by their JSON
 * or source. Taking every primitive field, rather than a list of the ones
 * known today, means a field a later TypeORM adds still counts. Nested
 * metadata objects are left out here and described by name by the caller.
 * One flat walk into one string, with no objects in between: at 300 entities
 * this runs on every start.
 */
function facts(value: object): string {
  const record = value as Record<string, unknown>;
  let text = '';
  for (const key in record) {
    const field = record[key];
    switch (typeof field) {
      case 'string':
        if (field !== '') text += `\u0000${key}=${field}`;
        break;
      case 'boolean':
        // A flag that is off says nothing: leaving it out keeps the text short.
        if (field) text += `\u0000${key}`;
        break;
      case 'number':
      case 'bigint':
        text += `\u0000${key}#${String(field)}`;
        break;
      case 'function':
        if (DDL_VALUE_FIELDS.has(key)) text += `\u0000${key}=fn:${field.toString()}`;
        break;
      case 'object':
        if (field === null) text += `\u0000${key}=null`;
        else if (DDL_VALUE_FIELDS.has(key)) text += `\u0000${key}=${JSON.stringify(field) ?? ''}`;
        else if (Array.isArray(field) && field.length > 0 && field.every((x) => x === null || typeof x !== 'object')) text += `\u0000${key}=${JSON.stringify(field)}`;
        break;
      default:
        break;
    }
  }
  return text;
}

function describeEntity(dataSource: DataSource, m: EntityMetadata): string {
  let text = `\u0002entity${facts(m)}\u0000schema=${schemaOf(dataSource, m)}`;
  if (typeof m.target === 'function') text += `\u0000idSequence=${String((m.target as { idSequence?: unknown }).idSequence ?? '')}`;
  for (const c of m.columns) text += `\u0002column${facts(c)}\u0000referenced=${c.referencedColumn?.databaseName ?? ''}`;
  for (const i of m.indices) text += `\u0002index${facts(i)}\u0000columns=${i.columns.map((c) => c.databaseName).join(',')}`;
  for (const u of m.uniques) text += `\u0002unique${facts(u)}\u0000columns=${u.columns.map((c) => c.databaseName).join(',')}`;
  for (const k of m.checks) text += `\u0002check${facts(k)}`;
  for (const x of m.exclusions) text += `\u0002exclusion${facts(x)}`;
  for (const f of m.foreignKeys) {
    text += `\u0002foreignKey${facts(f)}\u0000table=${f.referencedTablePath}`;
    text += `\u0000columns=${f.columns.map((c) => c.databaseName).join(',')}\u0000referenced=${f.referencedColumns.map((c) => c.databaseName).join(',')}`;
  }
  return text;
}

/**
 * A hash of everything in the DataSource's entity metadata (and the options
 * the DDL depends on) that the sync would turn into DDL. Computed once per
 * synchronizer: it costs a walk over the metadata, no round trip.
 */
export function metadataHash(dataSource: DataSource, ddlOptions: unknown = null): string {
  const options = dataSource.options as { schema?: string; installExtensions?: boolean; uuidExtension?: string; extensions?: string[] };
  // Entity order follows the DataSource's entities option, which does not change the DDL: sort by table,
  // on short keys (sorting the long descriptions themselves would compare kilobytes of shared prefix).
  const entities = dataSource.entityMetadatas
    .filter((m) => m.synchronize)
    .map((m) => ({ key: `${schemaOf(dataSource, m)}.${m.tablePath}.${m.name}`, m }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ m }) => describeEntity(dataSource, m));
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      format: FINGERPRINT_FORMAT,
      driverSchema: dataSource.driver.schema ?? null,
      options: [options.schema, options.installExtensions, options.uuidExtension, options.extensions],
      // The synchronizer's own options that change what a sync does to the schema (allowDataLoss, dropRemovedColumns).
      sync: ddlOptions,
    }),
  );
  for (const entity of entities) hash.update('\u0001').update(entity);
  return hash.digest('hex');
}

/**
 * The relations whose catalog state the fingerprint covers: the entities'
 * tables and views, their id sequences, and whatever the package adds beside
 * them (`extra`, e.g. the wake-up tables).
 */
export function fingerprintObjects(dataSource: DataSource, extra: readonly { schema: string; name: string }[] = []): FingerprintObjects {
  const found = new Map<string, { schema: string; name: string }>();
  const add = (schema: string, name: string) => found.set(`${schema}\u0000${name}`, { schema, name });
  for (const m of dataSource.entityMetadatas) {
    if (m.synchronize) add(schemaOf(dataSource, m), m.tableName);
  }
  for (const s of entitySequences(dataSource)) add(s.schema, s.name);
  for (const s of extra) add(s.schema, s.name);
  const sorted = [...found.values()].sort((a, b) => (a.schema + '.' + a.name < b.schema + '.' + b.name ? -1 : 1));
  return { schemas: sorted.map((o) => o.schema), names: sorted.map((o) => o.name) };
}

/** The fingerprint table lives in the connection's default schema, beside TypeORM's own `migrations` and `typeorm_metadata`. */
export function fingerprintSchema(dataSource: DataSource): string {
  return dataSource.driver.schema ?? 'public';
}

export interface FingerprintCheck {
  /** True when the catalog hash recorded for this metadata hash equals the catalog's hash now. */
  matches: boolean;
  derivedKey: number;
}

/**
 * One query: the recorded fingerprints and the catalog's hash now. The
 * metadata hash comes from `hash()`, which runs while PostgreSQL computes the
 * catalog hash. A database that has no fingerprint table yet simply does not
 * match. Inside a transaction an error would abort it, so there the table's
 * presence is asked first.
 */
export async function checkFingerprint(
  runner: Queryable,
  dataSource: DataSource,
  hash: () => string,
  objects: FingerprintObjects,
  inTransaction: boolean,
): Promise<FingerprintCheck | undefined> {
  const schemas = syncedSchemas(dataSource);
  if (inTransaction) {
    const [exists] = await runSql<{ present: boolean }>(runner, fingerprintTableExistsSql(fingerprintSchema(dataSource)));
    if (!exists.present) return undefined;
  }
  const pending = runSql<{ recorded: Record<string, string> | null; current: string; derived_key: number }>(
    runner,
    checkFingerprintSql({ schema: fingerprintSchema(dataSource) }, objects, schemas),
  );
  pending.catch(() => undefined);
  // Let the statement leave for the server before the (synchronous) metadata walk.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const metadata = hash();
  try {
    const [row] = await pending;
    return { matches: row.recorded?.[metadata] === row.current, derivedKey: Number(row.derived_key) };
  } catch (error) {
    // 42P01 (no fingerprint table yet) and 3F000 (no schema yet): a fresh database.
    const code = findPgError(error)?.code;
    if (code === PgCode.UNDEFINED_TABLE || code === PgCode.INVALID_SCHEMA_NAME) return undefined;
    throw error;
  }
}

const SAVEPOINT = 'typeorm_result_backend_fingerprint';

/**
 * Records the fingerprint inside the sync transaction, after its DDL. A role
 * that may not create the bookkeeping table still syncs: it just never gets
 * the fast path, and the logger says why.
 */
export async function recordFingerprint(runner: Queryable & { isTransactionActive?: boolean }, dataSource: DataSource, hash: string, objects: FingerprintObjects, logger: Logger): Promise<void> {
  const schema = fingerprintSchema(dataSource);
  const inTransaction = runner.isTransactionActive === true;
  if (inTransaction) await runner.query(savepointSql(SAVEPOINT));
  try {
    const [exists] = await runSql<{ present: boolean; current: boolean }>(runner, fingerprintTableExistsSql(schema));
    if (!exists.present) await runner.query(createFingerprintTableSql(schema));
    else if (!exists.current) await runner.query(addFirstRecordedAtSql(schema));
    await refuseForeignObjects(runner, [{ kind: 'table', name: qualified(schema, FINGERPRINT_TABLE) }]);
    await runSql(runner, recordFingerprintSql(schema, hash, objects));
    await runSql(runner, pruneFingerprintsSql(schema));
    if (inTransaction) await runner.query(releaseSavepointSql(SAVEPOINT));
  } catch (error) {
    const code = findPgError(error)?.code;
    if (code !== PgCode.INSUFFICIENT_PRIVILEGE && code !== PgCode.INVALID_SCHEMA_NAME) throw error;
    if (inTransaction) await runner.query(rollbackToSavepointSql(SAVEPOINT));
    logger.warn('the schema fingerprint could not be recorded, so every start runs the full diff; grant this role CREATE on the schema, or create the table once as its owner', {
      code,
      statement: createFingerprintTableSql(schema),
    });
  }
}

/**
 * Whether an app version that first synced after this one is recorded (see
 * newerVersionRecordedSql). Asks for the table first, so that inside the
 * sync's transaction a database without it is not an error.
 */
export async function newerVersionRecorded(runner: Queryable, dataSource: DataSource, hash: string): Promise<boolean> {
  const schema = fingerprintSchema(dataSource);
  const [exists] = await runSql<{ present: boolean; current: boolean }>(runner, fingerprintTableExistsSql(schema));
  if (!exists.present || !exists.current) return false;
  await refuseForeignObjects(runner, [{ kind: 'table', name: qualified(schema, FINGERPRINT_TABLE) }]);
  const [row] = await runSql<{ newer: boolean }>(runner, newerVersionRecordedSql(schema, hash));
  return row.newer === true;
}
