/**
 * Whether the objects the package would make with `IF NOT EXISTS` (or
 * `CREATE OR REPLACE`) are, when they already exist, its own: the
 * CVE-2022-2625 class. An object another role made first would otherwise be
 * adopted silently: its owner keeps the right to add triggers, rules or
 * row-security policies to it, which then run as whoever writes or reads
 * through the package (the app role, the installer, a superuser).
 *
 * Trusted owners: this role and the roles it is a member of (it could make
 * the object itself), superusers (who can do anything anyway), and the owner
 * of the task table the object sits beside (that role can already put a
 * trigger on the task table every writer fires; trusting its sequence or side
 * table adds nothing). Every call and operator is qualified: the check must
 * not resolve through a schema an untrusted role can write either.
 */
import { SqlQuery } from '../../query';

export type OwnedKind = 'table' | 'sequence' | 'function';

export interface OwnedObject {
  kind: OwnedKind;
  /** Quoted, schema-qualified name; for a function, its signature (what to_regprocedure takes). */
  name: string;
  /** The quoted, qualified task table it belongs with, whose owner is trusted too. */
  beside?: string;
}

/** One object that is not the package's: who owns it and what is wrong with it. */
export interface ForeignObjectRow {
  kind: OwnedKind;
  name: string;
  owner: string;
  /** What makes it not ours: `owner`, `kind`, `triggers`, `rules` or `row security`. */
  problem: 'owner' | 'kind' | 'triggers' | 'rules' | 'row security';
  /** For `kind`: the relkind found (v view, S sequence, …). */
  found: string | null;
  /** The role that asked. */
  role: string;
}

/** The pg_class relkind each kind of object must have. */
const RELKIND: Record<Exclude<OwnedKind, 'function'>, string> = { table: 'r', sequence: 'S' };

/**
 * The objects among these that exist and are not the package's, one row per
 * object with its first problem. Missing objects give no row.
 */
export function foreignObjectsSql(objects: readonly OwnedObject[]): SqlQuery {
  return {
    text: `WITH RECURSIVE mine AS (
  SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER
  UNION
  SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member OPERATOR(pg_catalog.=) mine.oid
), wanted AS (
  SELECT w.kind, w.name, w.beside,
    CASE WHEN w.kind OPERATOR(pg_catalog.=) 'function' THEN NULL ELSE pg_catalog.to_regclass(w.name) END AS rel,
    CASE WHEN w.kind OPERATOR(pg_catalog.=) 'function' THEN pg_catalog.to_regprocedure(w.name) END AS proc,
    CASE w.kind ${Object.entries(RELKIND).map(([k, v]) => `WHEN '${k}' THEN '${v}'`).join(' ')} END AS relkind
  FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) AS w(kind, name, beside)
), found AS (
  SELECT w.kind, w.name, w.rel, w.relkind, c.relkind AS found_kind, c.relrowsecurity,
    COALESCE(c.relowner, p.proowner) AS owner,
    (SELECT b.relowner FROM pg_catalog.pg_class b WHERE b.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(w.beside)) AS beside_owner
  FROM wanted w
  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.rel
  LEFT JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) w.proc
  WHERE w.rel IS NOT NULL OR w.proc IS NOT NULL
)
SELECT * FROM (SELECT f.kind, f.name, o.rolname AS owner, f.found_kind::text AS found, CURRENT_USER AS role,
  CASE
    WHEN NOT (f.owner IN (SELECT oid FROM mine) OR o.rolsuper OR f.owner IS NOT DISTINCT FROM f.beside_owner AND f.beside_owner IS NOT NULL) THEN 'owner'
    WHEN f.kind OPERATOR(pg_catalog.<>) 'function' AND f.found_kind OPERATOR(pg_catalog.<>) f.relkind THEN 'kind'
    WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) f.rel AND NOT t.tgisinternal) THEN 'triggers'
    WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite q WHERE q.ev_class OPERATOR(pg_catalog.=) f.rel) THEN 'rules'
    WHEN f.relrowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy y WHERE y.polrelid OPERATOR(pg_catalog.=) f.rel) THEN 'row security'
  END AS problem
FROM found f JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) f.owner) AS x WHERE x.problem IS NOT NULL`,
    values: [objects.map((o) => o.kind), objects.map((o) => o.name), objects.map((o) => o.beside ?? null)],
  };
}

/**
 * A guard for a read of a package table before the lock (the fingerprint
 * fast path): true when it is a plain table without row security, so that
 * reading it runs nobody's code, whoever made it (a SELECT fires no trigger,
 * a table cannot have a SELECT rule, but a view or a policy runs functions).
 * `param` holds the table's quoted, qualified name. Who owns it is checked
 * under the lock, before anything is written to it.
 */
export function safeToReadSql(param: string): string {
  return `EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(${param})
    AND c.relkind OPERATOR(pg_catalog.=) 'r' AND NOT c.relrowsecurity)`;
}
