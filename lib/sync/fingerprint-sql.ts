/**
 * The SQL of the schema fingerprint, as pure functions. The catalog hash is
 * computed by PostgreSQL from pg_catalog, over exactly the objects the
 * entities map to, so that any change to them (a manual ALTER TABLE, a dropped
 * index, another app version's sync) changes the hash.
 */
import { SqlQuery, qualified } from '../query';

/** The package's bookkeeping table: one row per entity-metadata hash, holding the catalog hash recorded under the lock. */
export const FINGERPRINT_TABLE = 'typeorm_result_backend_fingerprints';

/** The objects whose catalog state is hashed: parallel arrays of schema and relation names. */
export interface FingerprintObjects {
  schemas: string[];
  names: string[];
}

/**
 * One row per catalog fact, keyed by object and kind, hashed in a fixed order.
 * Raw catalog fields are hashed where they are enough (cheap); deparsed text
 * (pg_get_indexdef and friends) only where the raw form would carry OIDs that
 * differ between equal schemas. A missing object hashes as "missing", so
 * creating it changes the hash too.
 */
function catalogHashExpression(schemasParam: string, namesParam: string): string {
  return `(WITH wanted AS (
  SELECT s.nsp, s.rel, c.oid, c.relkind
  FROM unnest(${schemasParam}::text[], ${namesParam}::text[]) AS s(nsp, rel)
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp
  LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel
), facts AS (
  SELECT w.nsp || '.' || w.rel AS obj, 'rel' AS kind,
    concat_ws('|', COALESCE(w.relkind::text, 'missing'), c.relpersistence, obj_description(w.oid, 'pg_class')) AS body
  FROM wanted w LEFT JOIN pg_catalog.pg_class c ON c.oid = w.oid
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'col:' || a.attname,
    concat_ws('|', format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated, a.attcollation,
      pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum),
      (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid IN (a.atttypid, t.typelem)))
  FROM wanted w
  JOIN pg_catalog.pg_attribute a ON a.attrelid = w.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'idx:' || ic.relname, pg_get_indexdef(i.indexrelid)
  FROM wanted w JOIN pg_catalog.pg_index i ON i.indrelid = w.oid JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'con:' || k.conname, concat_ws('|', k.contype, k.condeferrable, k.condeferred, pg_get_constraintdef(k.oid))
  FROM wanted w JOIN pg_catalog.pg_constraint k ON k.conrelid = w.oid
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'trg:' || g.tgname, pg_get_triggerdef(g.oid)
  FROM wanted w JOIN pg_catalog.pg_trigger g ON g.tgrelid = w.oid AND NOT g.tgisinternal
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'view', pg_get_viewdef(w.oid)
  FROM wanted w WHERE w.relkind IN ('v', 'm')
  UNION ALL
  SELECT w.nsp || '.' || w.rel, 'seq', concat_ws('|', q.seqtypid::regtype, q.seqstart, q.seqincrement, q.seqmax, q.seqmin, q.seqcycle)
  FROM wanted w JOIN pg_catalog.pg_sequence q ON q.seqrelid = w.oid
)
SELECT md5(string_agg(obj || '/' || kind || '=' || COALESCE(body, ''), E'\\n' ORDER BY obj, kind)) FROM facts)`;
}

/**
 * The whole warm-start check in one round trip: the catalog hash recorded for
 * this entity-metadata hash (null when none, or when the table is missing,
 * which the caller sees as error 42P01), the catalog hash now, and the
 * default lock key's second half for the result.
 */
export function checkFingerprintSql(table: { schema: string }, metadataHash: string, objects: FingerprintObjects, lockSchemas: readonly string[]): SqlQuery {
  return {
    text:
      `SELECT (SELECT f.catalog_hash FROM ${qualified(table.schema, FINGERPRINT_TABLE)} f WHERE f.metadata_hash = $1) AS recorded, ` +
      `${catalogHashExpression('$2', '$3')} AS current, ` +
      "hashtext(current_database() || ':' || $4::text) AS derived_key",
    values: [metadataHash, objects.schemas, objects.names, lockSchemas.join(',')],
  };
}

export function fingerprintTableExistsSql(schema: string): SqlQuery {
  return { text: 'SELECT to_regclass($1) IS NOT NULL AS present', values: [qualified(schema, FINGERPRINT_TABLE)] };
}

export function createFingerprintTableSql(schema: string): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, FINGERPRINT_TABLE)} (` +
    'metadata_hash text PRIMARY KEY, catalog_hash text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())'
  );
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
