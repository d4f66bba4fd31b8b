import { createHash } from 'node:crypto';
import type { DataSource, EntityMetadata } from 'typeorm';
import type { Logger } from '../logger';
import { PgCode, findPgError } from '../pg-codes';
import { Queryable, runSql } from '../query';
import { FingerprintObjects, checkFingerprintSql, createFingerprintTableSql, fingerprintTableExistsSql, recordFingerprintSql } from './fingerprint-sql';
import { entitySequences, schemaOf, syncedSchemas } from './prerequisites';
import { releaseSavepointSql, rollbackToSavepointSql, savepointSql } from './sql';

/** Bumped whenever what the fingerprint covers changes, so an older record never matches. */
const FINGERPRINT_FORMAT = 1;

/**
 * Everything in a metadata object that can affect DDL, as plain data: its
 * primitive fields (names, types, lengths, defaults, flags), functions by
 * their source (a default such as `() => "now()"`, a view's query), and
 * nested metadata by name. Taking every primitive field, rather than a list
 * of the ones known today, means a field a later TypeORM adds still counts.
 */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'function') return `fn:${value.toString()}`;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date || value instanceof RegExp) return String(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key];
    if (field === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof field)) out[key] = typeof field === 'bigint' ? String(field) : field;
    else if (key === 'default' || key === 'type' || key === 'expression' || key === 'enum' || key === 'onUpdate') out[key] = plain(field);
    else if (Array.isArray(field) && field.every((x) => x === null || typeof x !== 'object')) out[key] = field.map(plain);
  }
  return out;
}

function names(items: readonly { databaseName?: string }[]): (string | undefined)[] {
  return items.map((c) => c.databaseName);
}

function describeEntity(dataSource: DataSource, m: EntityMetadata): unknown {
  return {
    entity: plain(m),
    schema: schemaOf(dataSource, m),
    target: typeof m.target === 'function' ? { idSequence: (m.target as { idSequence?: unknown }).idSequence ?? null } : m.target,
    columns: m.columns.map((c) => ({ ...(plain(c) as object), referenced: c.referencedColumn?.databaseName ?? null })),
    indices: m.indices.map((i) => ({ ...(plain(i) as object), columns: names(i.columns) })),
    uniques: m.uniques.map((u) => ({ ...(plain(u) as object), columns: names(u.columns) })),
    checks: m.checks.map(plain),
    exclusions: m.exclusions.map(plain),
    foreignKeys: m.foreignKeys.map((f) => ({ ...(plain(f) as object), columns: names(f.columns), referenced: names(f.referencedColumns), table: f.referencedTablePath })),
  };
}

/**
 * A hash of everything in the DataSource's entity metadata (and the options
 * the DDL depends on) that the sync would turn into DDL. Computed once per
 * synchronizer: it costs a walk over the metadata, no round trip.
 */
export function metadataHash(dataSource: DataSource): string {
  const options = dataSource.options as { schema?: string; installExtensions?: boolean; uuidExtension?: string; extensions?: string[] };
  const entities = dataSource.entityMetadatas
    .filter((m) => m.synchronize)
    .map((m) => describeEntity(dataSource, m))
    .map((e) => JSON.stringify(e))
    .sort();
  const described = JSON.stringify({
    format: FINGERPRINT_FORMAT,
    driverSchema: dataSource.driver.schema ?? null,
    options: plain({ schema: options.schema, installExtensions: options.installExtensions, uuidExtension: options.uuidExtension, extensions: options.extensions }),
    entities,
  });
  return createHash('sha256').update(described).digest('hex');
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
  matches: boolean;
  derivedKey: number;
}

/**
 * One query: does the recorded catalog hash for this metadata equal the
 * catalog's hash now? A database that has no fingerprint table yet simply
 * does not match. Inside a transaction an error would abort it, so there the
 * table's presence is asked first.
 */
export async function checkFingerprint(runner: Queryable, dataSource: DataSource, hash: string, objects: FingerprintObjects, inTransaction: boolean): Promise<FingerprintCheck | undefined> {
  const schemas = syncedSchemas(dataSource);
  if (inTransaction) {
    const [exists] = await runSql<{ present: boolean }>(runner, fingerprintTableExistsSql(fingerprintSchema(dataSource)));
    if (!exists.present) return undefined;
  }
  try {
    const [row] = await runSql<{ recorded: string | null; current: string; derived_key: number }>(
      runner,
      checkFingerprintSql({ schema: fingerprintSchema(dataSource) }, hash, objects, schemas),
    );
    return { matches: row.recorded !== null && row.recorded === row.current, derivedKey: Number(row.derived_key) };
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
    const [exists] = await runSql<{ present: boolean }>(runner, fingerprintTableExistsSql(schema));
    if (!exists.present) await runner.query(createFingerprintTableSql(schema));
    await runSql(runner, recordFingerprintSql(schema, hash, objects));
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
