/**
 * The SQL of the schema fingerprint, as pure functions. The catalog hash is
 * computed by PostgreSQL from pg_catalog, over exactly the objects the
 * entities map to, so that any change to them (a manual ALTER TABLE, a dropped
 * index, another app version's sync) changes the hash.
 */
import { SqlQuery, qualified } from '../../query';
import { safeToReadSql } from './ownership-sql';

/** The package's bookkeeping table: one row per entity-metadata hash, holding the catalog hash recorded under the lock. */
export const FINGERPRINT_TABLE = 'typeorm_result_backend_fingerprints';

/** The objects whose catalog state is hashed: parallel arrays of schema and relation names. */
export interface FingerprintObjects {
  schemas: string[];
  names: string[];
}

/**
 * A hash of the catalog rows that describe the synced objects: the relations
 * themselves, their columns, defaults, indexes, constraints, triggers,
 * comments, view rules, sequence settings and the labels of the enum types
 * their columns use. Each row is hashed by its identity and its `xmin`, the
 * transaction that wrote that version of it. PostgreSQL writes a new version
 * of a catalog row for every DDL change to it (ALTER TABLE, SET DEFAULT, ADD
 * VALUE, COMMENT, …), and adds or removes rows for what is created or dropped,
 * so any change to the synced objects changes the hash. Hashing row versions
 * instead of deparsed definitions keeps the check to a few index scans: it
 * runs on every start of every replica. A change that leaves a definition as
 * it was (dropping and recreating an identical index) also changes the hash;
 * that costs one full sync, never a missed one. A missing object counts too.
 */
function catalogHashExpression(schemasParam: string, namesParam: string): string {
  // Per catalog: how many rows, and sums of their identities and of their row versions. Any row added,
  // removed or rewritten moves one of the three. Sums, not a sorted list, keep it to one pass over each.
  const stamp = (alias: string, key: string) => `count(*)::text || ',' || COALESCE(sum(${key})::text, '') || ',' || COALESCE(sum(${alias}.xmin::text::bigint)::text, '')`;
  return `(WITH wanted AS (
  SELECT s.nsp || '.' || s.rel AS obj, c.oid, c.xmin AS x
  FROM unnest(${schemasParam}::text[], ${namesParam}::text[]) AS s(nsp, rel)
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp
  LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel
), oids AS (
  SELECT oid FROM wanted WHERE oid IS NOT NULL
), cols AS MATERIALIZED (
  SELECT a.attrelid, a.attnum, a.atttypid, a.xmin FROM pg_catalog.pg_attribute a WHERE a.attrelid IN (SELECT oid FROM oids) AND a.attnum > 0
)
SELECT md5(concat_ws('|',
  (SELECT string_agg(COALESCE(w.oid::text || '@' || w.x::text, 'missing'), ',' ORDER BY w.obj COLLATE "C") FROM wanted w),
  (SELECT ${stamp('a', 'a.attrelid::int8 * 1000 + a.attnum')} FROM cols a),
  (SELECT ${stamp('d', 'd.oid::int8')} FROM pg_catalog.pg_attrdef d WHERE d.adrelid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('i', 'i.indexrelid::int8')} FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('k', 'k.oid::int8')} FROM pg_catalog.pg_constraint k WHERE k.conrelid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('g', 'g.oid::int8')} FROM pg_catalog.pg_trigger g WHERE g.tgrelid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('r', 'r.oid::int8')} FROM pg_catalog.pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM oids)),
  (SELECT ${stamp('q', 'q.seqrelid::int8')} FROM pg_catalog.pg_sequence q WHERE q.seqrelid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('m', 'm.objoid::int8 * 1000 + m.objsubid')} FROM pg_catalog.pg_description m
    WHERE m.classoid = 'pg_catalog.pg_class'::regclass AND m.objoid IN (SELECT oid FROM oids)),
  (SELECT ${stamp('e', 'e.oid::int8')} FROM pg_catalog.pg_enum e WHERE e.enumtypid IN (
    SELECT COALESCE(NULLIF(t.typelem, 0), t.oid) FROM pg_catalog.pg_type t
    WHERE t.oid IN (SELECT DISTINCT atttypid FROM cols) AND (t.typtype = 'e' OR t.typelem <> 0))))))`;
}

/** Records kept: enough for the app versions that run side by side during a rolling deploy. */
export const FINGERPRINTS_KEPT = 20;

/**
 * The whole warm-start check in one round trip: the most recent recorded
 * (metadata hash, catalog hash) pairs, the catalog hash now, and the default
 * lock key's second half for the result. It does not need this process's
 * metadata hash, so the caller computes that while PostgreSQL works.
 */
export function checkFingerprintSql(table: { schema: string }, objects: FingerprintObjects, lockSchemas: readonly string[]): SqlQuery {
  return {
    text:
      // Read only when reading runs nobody's code (see safeToReadSql); otherwise no match, and the
      // locked path refuses the table before writing to it.
      `SELECT CASE WHEN ${safeToReadSql('$4')} THEN (SELECT json_object_agg(r.metadata_hash, r.catalog_hash) FROM (SELECT f.metadata_hash, f.catalog_hash FROM ${qualified(table.schema, FINGERPRINT_TABLE)} f ` +
      `ORDER BY f.recorded_at DESC LIMIT ${FINGERPRINTS_KEPT}) r) END AS recorded, ` +
      `${catalogHashExpression('$1', '$2')} AS current, ` +
      "hashtext(current_database() || ':' || $3::text) AS derived_key",
    values: [objects.schemas, objects.names, lockSchemas.join(','), qualified(table.schema, FINGERPRINT_TABLE)],
  };
}

/** Whether the table exists, and whether it has first_recorded_at (tables made before that column have not). */
export function fingerprintTableExistsSql(schema: string): SqlQuery {
  return {
    text:
      'SELECT to_regclass($1) IS NOT NULL AS present, ' +
      "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = 'first_recorded_at' AND NOT a.attisdropped) AS current",
    values: [qualified(schema, FINGERPRINT_TABLE)],
  };
}

/**
 * One row per app version (entity-metadata hash). `first_recorded_at` is when
 * that version first synced: it tells an older version restarting in a newer
 * fleet from a newer version, so the older one keeps what the newer widened.
 */
export function createFingerprintTableSql(schema: string): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, FINGERPRINT_TABLE)} (` +
    'metadata_hash text PRIMARY KEY, catalog_hash text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), ' +
    'first_recorded_at timestamptz NOT NULL DEFAULT now())'
  );
}

/** For a table made before first_recorded_at existed: every version recorded so far counts as first seen now. */
export function addFirstRecordedAtSql(schema: string): string {
  return `ALTER TABLE ${qualified(schema, FINGERPRINT_TABLE)} ADD COLUMN IF NOT EXISTS first_recorded_at timestamptz NOT NULL DEFAULT now()`;
}

/**
 * True when an app version other than this one first synced after this one
 * did: this process runs an older version than one already deployed (a
 * rolling deploy, a rollback). False when this version is the newest, or has
 * never synced.
 */
export function newerVersionRecordedSql(schema: string, metadataHash: string): SqlQuery {
  const table = qualified(schema, FINGERPRINT_TABLE);
  return {
    text:
      `SELECT EXISTS (SELECT 1 FROM ${table} o WHERE o.metadata_hash <> $1 ` +
      `AND o.first_recorded_at > (SELECT f.first_recorded_at FROM ${table} f WHERE f.metadata_hash = $1)) AS newer`,
    values: [metadataHash],
  };
}

/** Records the catalog hash as it is inside the sync transaction, after its DDL: it commits with the DDL or not at all. */
export function recordFingerprintSql(schema: string, metadataHash: string, objects: FingerprintObjects): SqlQuery {
  return {
    text:
      `INSERT INTO ${qualified(schema, FINGERPRINT_TABLE)} AS f (metadata_hash, catalog_hash) ` +
      `VALUES ($1, ${catalogHashExpression('$2', '$3')}) ` +
      'ON CONFLICT (metadata_hash) DO UPDATE SET catalog_hash = EXCLUDED.catalog_hash, recorded_at = now()',
    values: [metadataHash, objects.schemas, objects.names],
  };
}

/** Forgets all but the most recent records: app versions long gone. */
export function pruneFingerprintsSql(schema: string): SqlQuery {
  const table = qualified(schema, FINGERPRINT_TABLE);
  return {
    text: `DELETE FROM ${table} WHERE metadata_hash NOT IN (SELECT metadata_hash FROM ${table} ORDER BY recorded_at DESC LIMIT ${FINGERPRINTS_KEPT})`,
    values: [],
  };
}
