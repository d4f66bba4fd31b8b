/**
 * What decides whether a column change keeps every stored value: the type and
 * its modifiers, as TypeORM's TableColumn carries them (from the catalog for
 * the table, from the entity for what it should become).
 */
export interface ColumnShape {
  type: string;
  length?: string;
  precision?: number | null;
  scale?: number | null;
  isArray?: boolean;
  /** MySQL/MariaDB integer and decimal types. */
  unsigned?: boolean;
}

/** A column type change the database can make in place: every value of the old type has an equal value in the new one. */
export type LosslessRule = (from: ColumnShape, to: ColumnShape) => boolean;

/** True when type, length, array-ness, precision, scale or signedness differ: the changes TypeORM drops and re-adds for, or alters the type for. */
export function shapeDiffers(a: ColumnShape, b: ColumnShape): boolean {
  return (
    a.type !== b.type ||
    (a.length ?? '') !== (b.length ?? '') ||
    Boolean(a.isArray) !== Boolean(b.isArray) ||
    (a.precision ?? null) !== (b.precision ?? null) ||
    (a.scale ?? null) !== (b.scale ?? null) ||
    Boolean(a.unsigned) !== Boolean(b.unsigned)
  );
}

/** A length as a number; an empty or missing length is unbounded. */
export function lengthOf(shape: ColumnShape): number {
  const n = Number(shape.length);
  return shape.length && Number.isFinite(n) && n > 0 ? n : Infinity;
}

/**
 * numeric(p, s) into numeric(p', s'): every value fits when the scale does not
 * shrink (no rounding) and the digits before the point do not either (no
 * overflow). An unconstrained numeric holds any value; into a constrained one
 * nothing is certain.
 */
export function numericFits(from: ColumnShape, to: ColumnShape): boolean {
  if (to.precision == null) return true;
  if (from.precision == null) return false;
  const fromScale = from.scale ?? 0;
  const toScale = to.scale ?? 0;
  return toScale >= fromScale && to.precision - toScale >= from.precision - fromScale;
}

/**
 * The enum values `next` adds to `old` when adding is all that changed (same
 * type name, nothing removed): what `ALTER TYPE … ADD VALUE` does in place.
 * Empty for anything else, which goes to TypeORM's own statements.
 */
export function enumValuesAdded(old: EnumShape, next: EnumShape): string[] {
  const isEnum = (c: EnumShape) => c.type === 'enum' || c.type === 'simple-enum';
  if (!isEnum(old) || !isEnum(next) || !old.enum || !next.enum || old.enumName !== next.enumName) return [];
  const before = old.enum.map(String);
  const after = next.enum.map(String);
  if (before.some((v) => !after.includes(v))) return [];
  return after.filter((v) => !before.includes(v));
}

interface EnumShape {
  type: unknown;
  enum?: readonly unknown[];
  enumName?: string;
}
