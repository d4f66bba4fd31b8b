/**
 * The column type changes PostgreSQL makes in place without changing a stored
 * value, from its documented casts: each has an implicit or assignment cast
 * that is exact (widening integers, real to double precision, numeric into a
 * numeric that holds every value, any string into an unbounded or longer
 * one, integers to text), and adding array-ness wraps each value in a
 * one-element array. char(n) is left out: its cast to varchar strips trailing
 * blanks. timestamp to timestamptz is left out: its meaning depends on the
 * session's TimeZone.
 */
import { ColumnShape, LosslessRule, lengthOf, numericFits } from '../../sync/column-shape';

const TEMPORAL = new Set(['timestamp without time zone', 'timestamp with time zone', 'time without time zone', 'time with time zone', 'interval']);
const STRINGS = new Set(['character varying', 'text']);
const INTEGER_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };
/** Digits (and a sign) of the widest value of each integer type: what a varchar(n) must hold. */
const INTEGER_TEXT_WIDTH: Record<string, number> = { smallint: 6, integer: 11, bigint: 20 };
const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

function scalarFits(from: ColumnShape, to: ColumnShape): boolean {
  if (STRINGS.has(from.type) && STRINGS.has(to.type)) {
    return to.type === 'text' || lengthOf(to) >= (from.type === 'text' ? Infinity : lengthOf(from));
  }
  const fromRank = INTEGER_RANK[from.type];
  if (fromRank !== undefined) {
    const toRank = INTEGER_RANK[to.type];
    if (toRank !== undefined) return toRank >= fromRank;
    if (to.type === 'numeric') return to.precision == null || ((to.scale ?? 0) === 0 && to.precision >= INTEGER_DIGITS[from.type]);
    if (STRINGS.has(to.type)) return to.type === 'text' || lengthOf(to) >= INTEGER_TEXT_WIDTH[from.type];
    return false;
  }
  // Fractional seconds: more digits keep every value (6 when none is given).
  if (TEMPORAL.has(from.type) && from.type === to.type) return (to.precision ?? 6) >= (from.precision ?? 6);
  if (from.type === 'real') return to.type === 'real' || to.type === 'double precision';
  if (from.type === 'numeric' && to.type === 'numeric') return numericFits(from, to);
  return from.type === to.type && (from.length ?? '') === (to.length ?? '') && (from.precision ?? null) === (to.precision ?? null) && (from.scale ?? null) === (to.scale ?? null);
}

export const postgresLossless: LosslessRule = (from, to) => {
  // An array cannot become a scalar without choosing one element.
  if (from.isArray && !to.isArray) return false;
  return scalarFits(from, to);
};
