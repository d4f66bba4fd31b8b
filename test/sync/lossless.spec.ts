import { expect } from 'chai';
import { postgresLossless } from '../../lib/dialects/postgres/lossless';
import { mysqlLossless } from '../../lib/dialects/mysql/lossless';
import type { ColumnShape } from '../../lib/sync/column-shape';

const vc = (length?: number): ColumnShape => ({ type: 'character varying', length: length === undefined ? '' : String(length) });
const num = (precision?: number, scale?: number): ColumnShape => ({ type: 'numeric', precision, scale });
const t = (type: string, extra: Partial<ColumnShape> = {}): ColumnShape => ({ type, ...extra });

describe('Which type changes keep every value', () => {
  describe('PostgreSQL', () => {
    const cases: [string, ColumnShape, ColumnShape, boolean][] = [
      ['varchar(50) → varchar(100)', vc(50), vc(100), true],
      ['varchar(100) → varchar(50)', vc(100), vc(50), false],
      ['varchar(50) → varchar', vc(50), vc(), true],
      ['varchar(50) → text', vc(50), t('text'), true],
      ['text → varchar(255)', t('text'), vc(255), false],
      ['text → varchar', t('text'), vc(), true],
      ['smallint → integer', t('smallint'), t('integer'), true],
      ['integer → bigint', t('integer'), t('bigint'), true],
      ['bigint → integer', t('bigint'), t('integer'), false],
      ['integer → numeric', t('integer'), num(), true],
      ['integer → numeric(10,0)', t('integer'), num(10, 0), true],
      ['integer → numeric(9,0)', t('integer'), num(9, 0), false],
      ['integer → text', t('integer'), t('text'), true],
      ['integer → varchar(11)', t('integer'), vc(11), true],
      ['integer → varchar(10)', t('integer'), vc(10), false],
      ['text → integer', t('text'), t('integer'), false],
      ['real → double precision', t('real'), t('double precision'), true],
      ['double precision → real', t('double precision'), t('real'), false],
      ['numeric(10,4) → numeric(14,6)', num(10, 4), num(14, 6), true],
      ['numeric(10,4) → numeric(12,4)', num(10, 4), num(12, 4), true],
      ['numeric(10,4) → numeric(10,2)', num(10, 4), num(10, 2), false],
      ['numeric(10,2) → numeric(10,4): fewer digits before the point', num(10, 2), num(10, 4), false],
      ['numeric(10,2) → numeric', num(10, 2), num(), true],
      ['numeric → numeric(10,2)', num(), num(10, 2), false],
      ['text → text[]', t('text'), t('text', { isArray: true }), true],
      ['varchar(50)[] → text[]', { ...vc(50), isArray: true }, t('text', { isArray: true }), true],
      ['text[] → text', t('text', { isArray: true }), t('text'), false],
      ['timestamp(3) → timestamp(6)', t('timestamp without time zone', { precision: 3 }), t('timestamp without time zone', { precision: 6 }), true],
      ['timestamp → timestamp(3)', t('timestamp without time zone'), t('timestamp without time zone', { precision: 3 }), false],
      ['timestamp → timestamptz: depends on TimeZone', t('timestamp without time zone'), t('timestamp with time zone'), false],
      ['character(10) → varchar(10): strips trailing blanks', t('character', { length: '10' }), vc(10), false],
      ['boolean → integer', t('boolean'), t('integer'), false],
    ];
    for (const [name, from, to, expected] of cases) it(`${name}: ${expected ? 'in place' : 'not lossless'}`, () => expect(postgresLossless(from, to)).to.equal(expected));
  });

  describe('MySQL/MariaDB', () => {
    const v = (length: number): ColumnShape => ({ type: 'varchar', length: String(length) });
    const cases: [string, ColumnShape, ColumnShape, boolean][] = [
      ['varchar(50) → varchar(100)', v(50), v(100), true],
      ['varchar(100) → varchar(50)', v(100), v(50), false],
      ['varchar(255) → text', v(255), t('text'), true],
      ['varchar(16384) → text: 4 bytes a character no longer fit', v(16384), t('text'), false],
      ['varchar(16384) → mediumtext', v(16384), t('mediumtext'), true],
      ['text → mediumtext', t('text'), t('mediumtext'), true],
      ['longtext → text', t('longtext'), t('text'), false],
      ['blob → longblob', t('blob'), t('longblob'), true],
      ['int → bigint', t('int'), t('bigint'), true],
      ['bigint → int', t('bigint'), t('int'), false],
      ['unsigned int → bigint', t('int', { unsigned: true }), t('bigint'), true],
      ['unsigned int → int', t('int', { unsigned: true }), t('int'), false],
      ['int → unsigned bigint', t('int'), t('bigint', { unsigned: true }), false],
      ['float → double', t('float'), t('double'), true],
      ['decimal(10,4) → decimal(12,4)', t('decimal', { precision: 10, scale: 4 }), t('decimal', { precision: 12, scale: 4 }), true],
      ['decimal(10,4) → decimal(10,2)', t('decimal', { precision: 10, scale: 4 }), t('decimal', { precision: 10, scale: 2 }), false],
      ['datetime → datetime(6)', t('datetime'), t('datetime', { precision: 6 }), true],
      ['datetime(6) → datetime', t('datetime', { precision: 6 }), t('datetime'), false],
      ['varchar → int', v(50), t('int'), false],
    ];
    for (const [name, from, to, expected] of cases) it(`${name}: ${expected ? 'in place' : 'not lossless'}`, () => expect(mysqlLossless(from, to)).to.equal(expected));
  });
});
