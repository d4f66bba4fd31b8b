/**
 * The statements the data guard sends, as pure functions: counts of what a
 * change would touch, and the in-place type change. `table` is the path as
 * TypeORM's runner escapes it, so our statements name the table as its own do.
 */
import type { SqlQuery } from '../query';

export type GuardDialect = 'postgres' | 'mysql';

export function quoteColumn(dialect: GuardDialect, name: string): string {
  return dialect === 'postgres' ? `"${name.replace(/"/g, '""')}"` : `\`${name.replace(/`/g, '``')}\``;
}

/**
 * On PostgreSQL every function and operator is named with its schema: the
 * counts run as the role that syncs (often the database owner), and an
 * unqualified call could resolve to a better-matching function someone planted
 * in a schema on the search_path (the CVE-2018-1058 class).
 */
function count(dialect: GuardDialect, arg: string): string {
  return dialect === 'postgres' ? `pg_catalog.count(${arg})` : `COUNT(${arg})`;
}

function placeholders(dialect: GuardDialect, values: readonly unknown[]): string {
  return dialect === 'postgres' ? 'OPERATOR(pg_catalog.=) ANY($1)' : `IN (${values.map(() => '?').join(', ')})`;
}

function params(dialect: GuardDialect, values: readonly string[]): unknown[] {
  return dialect === 'postgres' ? [values] : [...values];
}

/** Non-NULL values in the column: what a drop or a DROP + ADD would lose. */
export function countValuesSql(dialect: GuardDialect, table: string, column: string): SqlQuery {
  return { text: `SELECT ${count(dialect, quoteColumn(dialect, column))} AS n FROM ${table}`, values: [] };
}

/** NULLs in the column: what SET NOT NULL would fail on. */
export function countNullsSql(dialect: GuardDialect, table: string, column: string): SqlQuery {
  return { text: `SELECT ${count(dialect, '*')} AS n FROM ${table} WHERE ${quoteColumn(dialect, column)} IS NULL`, values: [] };
}

/** Rows in the table: what ADD … NOT NULL without a default would fail on. */
export function countRowsSql(dialect: GuardDialect, table: string): SqlQuery {
  return { text: `SELECT ${count(dialect, '*')} AS n FROM ${table}`, values: [] };
}

/** Rows per enum value among `values`: what dropping those values would fail on. */
export function countEnumValuesSql(dialect: GuardDialect, table: string, column: string, values: readonly string[], isArray: boolean): SqlQuery {
  const c = quoteColumn(dialect, column);
  if (dialect === 'postgres' && isArray) {
    return { text: `SELECT v AS value, pg_catalog.count(*) AS n FROM ${table}, pg_catalog.unnest(${c}::pg_catalog.text[]) AS v WHERE v ${placeholders(dialect, values)} GROUP BY v`, values: [values] };
  }
  const text = dialect === 'postgres' ? `${c}::pg_catalog.text` : c;
  return { text: `SELECT ${text} AS value, ${count(dialect, '*')} AS n FROM ${table} WHERE ${text} ${placeholders(dialect, values)} GROUP BY ${text}`, values: params(dialect, values) };
}

/** Values held by more than one row: what a new unique constraint would fail on. */
export function countDuplicatesSql(dialect: GuardDialect, table: string, column: string): SqlQuery {
  const c = quoteColumn(dialect, column);
  const more = dialect === 'postgres' ? 'OPERATOR(pg_catalog.>)' : '>';
  return { text: `SELECT ${count(dialect, '*')} AS n FROM (SELECT ${c} FROM ${table} WHERE ${c} IS NOT NULL GROUP BY ${c} HAVING ${count(dialect, '*')} ${more} 1) d`, values: [] };
}

/**
 * Keeps writers out until the sync commits (SHARE conflicts with INSERT,
 * UPDATE and DELETE), so that no row arrives between a count and the DDL it
 * decided. The DDL itself takes ACCESS EXCLUSIVE a moment later anyway.
 */
export function lockForCountSql(table: string): string {
  return `LOCK TABLE ${table} IN SHARE MODE`;
}

/**
 * PostgreSQL's in-place type change. Adding array-ness wraps each value in a
 * one-element array (a NULL stays NULL); everything else is the type's own
 * exact cast. Indexes on the column are rebuilt, and its default is cast with it.
 */
export function alterColumnTypeSql(table: string, column: string, fullType: string, wrapInArray: boolean): string {
  const c = quoteColumn('postgres', column);
  const using = wrapInArray ? `CASE WHEN ${c} IS NULL THEN NULL ELSE ARRAY[${c}] END::${fullType}` : `${c}::${fullType}`;
  return `ALTER TABLE ${table} ALTER COLUMN ${c} TYPE ${fullType} USING ${using}`;
}

/** MySQL's in-place change: the whole new definition, as TypeORM writes it for its own CHANGE. */
export function changeColumnSql(table: string, column: string, definition: string): string {
  return `ALTER TABLE ${table} CHANGE ${quoteColumn('mysql', column)} ${definition}`;
}

/** The DROP COLUMN TypeORM would have sent, shown for what the guard kept. */
export function dropColumnSql(dialect: GuardDialect, table: string, column: string): string {
  return `ALTER TABLE ${table} DROP COLUMN ${quoteColumn(dialect, column)}`;
}

/**
 * One enum value added in place: no table rewrite, every stored value kept
 * (TypeORM 0.3 instead renames the type, creates a new one and casts the
 * column over under an ACCESS EXCLUSIVE rewrite). `type` is the type's path as
 * TypeORM's runner escapes it; the value is a literal with its quotes doubled.
 */
export function addEnumValueSql(type: string, value: string): string {
  return `ALTER TYPE ${type} ADD VALUE '${value.replace(/'/g, "''")}'`;
}

/**
 * The enum type swapped for a new one with every label cast over: what adding
 * a value and using it as the default in one transaction takes, since a value
 * ADD VALUE made cannot be used before it commits (55P04, TypeORM 1.x's own
 * statements fail so on every start). The order is TypeORM 0.3's.
 */
export function recreateEnumSql(p: { table: string; column: string; type: string; renamedTo: string; renamed: string; create: string; isArray: boolean; hasDefault: boolean }): string[] {
  const c = quoteColumn('postgres', p.column);
  const suffix = p.isArray ? '[]' : '';
  return [
    ...(p.hasDefault ? [`ALTER TABLE ${p.table} ALTER COLUMN ${c} DROP DEFAULT`] : []),
    `ALTER TYPE ${p.type} RENAME TO ${p.renamedTo}`,
    p.create,
    `ALTER TABLE ${p.table} ALTER COLUMN ${c} TYPE ${p.type}${suffix} USING ${c}::pg_catalog.text::${p.type}${suffix}`,
    `DROP TYPE ${p.renamed}`,
  ];
}
