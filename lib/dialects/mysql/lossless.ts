/**
 * The column type changes MySQL and MariaDB make in place (ALTER TABLE …
 * CHANGE) without changing a stored value: longer VARCHARs and larger TEXT and
 * BLOB types, wider integers (an unsigned one only into a strictly wider
 * type), FLOAT to DOUBLE, and DECIMALs that hold every value. VARCHAR(n)
 * counts characters while TEXT counts bytes, so VARCHAR into TEXT is exact
 * only while 4 bytes per character (utf8mb4) still fit in TEXT's 65,535.
 */
import { ColumnShape, LosslessRule, lengthOf, numericFits } from '../../sync/column-shape';

const TEXT_BYTES: Record<string, number> = { tinytext: 255, text: 65_535, mediumtext: 16_777_215, longtext: 4_294_967_295 };
const BLOB_RANK: Record<string, number> = { tinyblob: 1, blob: 2, mediumblob: 3, longblob: 4 };
const INTEGER_RANK: Record<string, number> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, integer: 4, bigint: 5 };
const TEMPORAL = new Set(['datetime', 'timestamp', 'time']);
const UTF8MB4_BYTES = 4;

export const mysqlLossless: LosslessRule = (from: ColumnShape, to: ColumnShape) => {
  if (from.type === 'varchar') {
    if (to.type === 'varchar') return lengthOf(to) >= lengthOf(from);
    const bytes = TEXT_BYTES[to.type];
    return bytes !== undefined && lengthOf(from) * UTF8MB4_BYTES <= bytes;
  }
  if (TEXT_BYTES[from.type] !== undefined) return TEXT_BYTES[to.type] !== undefined && TEXT_BYTES[to.type] >= TEXT_BYTES[from.type];
  if (BLOB_RANK[from.type] !== undefined) return BLOB_RANK[to.type] !== undefined && BLOB_RANK[to.type] >= BLOB_RANK[from.type];
  const fromRank = INTEGER_RANK[from.type];
  if (fromRank !== undefined) {
    const toRank = INTEGER_RANK[to.type];
    if (toRank === undefined) return false;
    if (Boolean(from.unsigned) === Boolean(to.unsigned)) return toRank >= fromRank;
    return Boolean(from.unsigned) && !to.unsigned && toRank > fromRank;
  }
  // Fractional seconds: more digits keep every value (0 when none is given).
  if (TEMPORAL.has(from.type) && from.type === to.type) return (to.precision ?? 0) >= (from.precision ?? 0);
  if (from.type === 'float') return to.type === 'float' || to.type === 'double';
  if (from.type === 'decimal' && to.type === 'decimal') return Boolean(from.unsigned) === Boolean(to.unsigned) && numericFits(from, to);
  return false;
};
