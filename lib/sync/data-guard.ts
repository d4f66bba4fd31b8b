/**
 * The data guard: it sits between TypeORM's schema builder and its query
 * runner during a sync, and decides, for each statement that would touch
 * stored values, whether it runs as TypeORM wrote it, runs in a lossless form,
 * is kept back, or is refused.
 *
 * TypeORM's RdbmsSchemaBuilder calls a handful of runner methods for column
 * changes (changeColumn, dropColumn, addColumn, renameColumn) and for the keys
 * on them (dropIndex, dropForeignKey, dropUniqueConstraint). The guard wraps
 * those on the one runner instance of the sync. A sync first runs the whole
 * diff once with the runner in TypeORM's SQL-memory mode (nothing executes),
 * over clones of the loaded tables; if anything is refused it throws then,
 * before any DDL. Otherwise the same diff runs for real with the same
 * decisions (the counts they rest on are cached, and on PostgreSQL the tables
 * counted stay share-locked until commit).
 */
import type { QueryRunner, Table, TableColumn } from 'typeorm';
import { DataLossError, GuardedChange, IncompatibleDataError } from '../errors';
import { runSql } from '../query';
import { ColumnShape, LosslessRule, enumValuesAdded, shapeDiffers } from './column-shape';
import {
  GuardDialect,
  alterColumnTypeSql,
  changeColumnSql,
  countDuplicatesSql,
  countEnumValuesSql,
  countNullsSql,
  countRowsSql,
  countValuesSql,
  dropColumnSql,
  lockForCountSql,
  addEnumValueSql,
  recreateEnumSql,
} from './guard-sql';
import { postgresLossless } from '../dialects/postgres/lossless';
import { mysqlLossless } from '../dialects/mysql/lossless';

const LOSSLESS: Record<GuardDialect, LosslessRule> = { postgres: postgresLossless, mysql: mysqlLossless };

/** What happens to one statement of the diff. */
export type StatementAction =
  /** Runs as TypeORM wrote it; no stored value changes. */
  | 'safe'
  /** TypeORM would drop and re-add the column; the guard changes its type in place instead. */
  | 'lossless'
  /** Not run: a column the entity no longer has, or has narrower than another running app version made it. */
  | 'kept'
  /** Would destroy or alter stored values: the sync throws DataLossError unless allowDataLoss names the column. */
  | 'refused'
  /** Would fail on the rows there are now: the sync throws IncompatibleDataError. */
  | 'fails'
  /** Destroys or alters stored values, and allowDataLoss accepted it. */
  | 'allowed';

/** One statement of a planned sync, and what the guard does with it. */
export interface PlannedStatement {
  sql: string;
  action: StatementAction;
  /** The column concerned, as allowDataLoss names it (`table.column`). */
  column?: string;
  /** For anything but `safe`: what would happen, in words. */
  reason?: string;
  /** Values at stake (non-NULL values lost, NULLs or duplicates in the way), where counted. */
  count?: number;
}

/** What a sync kept instead of dropping or narrowing. */
export interface KeptChange {
  column: string;
  kind: 'removed' | 'narrower' | 'key' | 'rename';
  /** The statement TypeORM would have run. */
  statement: string;
  reason: string;
}

export interface GuardOptions {
  dialect: GuardDialect;
  allowDataLoss: true | ReadonlySet<string>;
  dropRemovedColumns: boolean;
  /** Share-lock each table before counting in it (PostgreSQL, inside the sync's transaction). */
  lockTables: boolean;
  /** True when an app version that first synced after this one is recorded: the database may be ahead of these entities. */
  newerVersionExists: () => Promise<boolean>;
  /** The columns each table's entity has, by TypeORM's table path; undefined for a table no entity maps to. */
  entityColumns: (table: Table) => ReadonlySet<string> | undefined;
  /** The table's path as the builder compares it, for "does this table exist yet". */
  tablePath: (table: Table) => string;
  /** Tables that exist in the database (as loaded before the diff): only those have rows to count. */
  existingTables: ReadonlySet<string>;
  /** The name of the connection's default schema, under which `table.column` also matches `schema.table.column`. */
  defaultSchema: string | undefined;
}

/** The runner methods the guard wraps, and the internals of TypeORM's runners it calls; present in typeorm 0.3.x and 1.x. */
interface GuardedRunner {
  changeColumn(table: Table | string, old: TableColumn | string, next: TableColumn): Promise<void>;
  dropColumn(table: Table | string, column: TableColumn | string, ifExists?: boolean): Promise<void>;
  addColumn(table: Table | string, column: TableColumn): Promise<void>;
  renameColumn(table: Table | string, old: TableColumn | string, next: TableColumn | string): Promise<void>;
  dropIndex(table: Table | string, index: unknown, ifExists?: boolean): Promise<void>;
  dropForeignKey(table: Table | string, key: unknown, ifExists?: boolean): Promise<void>;
  dropUniqueConstraint(table: Table | string, unique: unknown, ifExists?: boolean): Promise<void>;
  getCachedTable(name: string): Promise<Table>;
  escapePath(target: Table | string): string;
  executeQueries(up: { query: string; parameters?: unknown[] }[], down: { query: string; parameters?: unknown[] }[]): Promise<void>;
  getMemorySql(): { upQueries: { query: string }[] };
  buildCreateColumnSql(...args: unknown[]): string;
  driver: { createFullType(column: TableColumn): string; version?: string };
  buildEnumName(table: Table, column: TableColumn, withSchema?: boolean, disableEscape?: boolean, toOld?: boolean): string;
  createEnumTypeSql(table: Table, column: TableColumn, enumName: string): { query: string };
  query(text: string, values?: unknown[]): Promise<unknown>;
}

const WRAPPED = ['changeColumn', 'dropColumn', 'addColumn', 'renameColumn', 'dropIndex', 'dropForeignKey', 'dropUniqueConstraint'] as const;

interface Entry extends PlannedStatement {
  kind?: KeptChange['kind'];
  /** Where its statements start in the runner's memory SQL; kept ones have none there. */
  at: number;
  length: number;
  statements: string[];
  remedy?: string;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && Array.isArray((value as Table).columns);
}

function isColumn(value: unknown): value is TableColumn {
  return typeof value === 'object' && value !== null && typeof (value as TableColumn).name === 'string' && 'type' in value;
}

/** ALTER TYPE … ADD VALUE runs inside a transaction block from PostgreSQL 12 on. */
function addsInPlace(runner: GuardedRunner): boolean {
  return Number(String(runner.driver.version ?? '').split('.')[0]) >= 12;
}

function hasDefault(column: TableColumn): boolean {
  return (column.default !== undefined && column.default !== null) || Boolean(column.isGenerated) || Boolean(column.generatedType);
}

function describeShape(dialect: GuardDialect, c: ColumnShape): string {
  const size = c.length ? `(${c.length})` : c.precision != null ? `(${c.precision}${c.scale != null ? `,${c.scale}` : ''})` : '';
  return `${c.unsigned && dialect === 'mysql' ? 'unsigned ' : ''}${c.type}${size}${c.isArray ? '[]' : ''}`;
}

export class DataGuard {
  private readonly entries: Entry[] = [];
  private readonly counted = new Map<string, number>();
  private readonly locked = new Set<string>();
  private newer: Promise<boolean> | undefined;
  private depth = 0;
  private mode: 'plan' | 'apply' = 'plan';

  constructor(private readonly options: GuardOptions) {}

  /**
   * Wraps the runner's methods for the length of `run`. In `"plan"` mode the
   * runner must be in SQL-memory mode; in `"apply"` mode a refusal that the
   * plan did not see (it cannot, the same diff ran) throws at once.
   */
  async around<T>(runner: QueryRunner, mode: 'plan' | 'apply', run: () => Promise<T>): Promise<T> {
    const target = runner as unknown as GuardedRunner & Record<string, unknown>;
    const saved = new Map<string, unknown>();
    for (const name of WRAPPED) saved.set(name, Object.prototype.hasOwnProperty.call(target, name) ? target[name] : undefined);
    const original = Object.fromEntries(WRAPPED.map((name) => [name, (target[name] as (...a: unknown[]) => Promise<void>).bind(target)])) as unknown as GuardedRunner;
    this.mode = mode;
    this.entries.length = 0;
    target.changeColumn = (t: Table | string, o: TableColumn | string, n: TableColumn) => this.changeColumn(target, original, t, o, n);
    target.dropColumn = (t: Table | string, c: TableColumn | string, ifExists?: boolean) => this.dropColumn(target, original, t, c, ifExists);
    target.addColumn = (t: Table | string, c: TableColumn) => this.addColumn(target, original, t, c);
    target.renameColumn = (t: Table | string, o: TableColumn | string, n: TableColumn | string) => this.renameColumn(target, original, t, o, n);
    for (const name of ['dropIndex', 'dropForeignKey', 'dropUniqueConstraint'] as const) {
      target[name] = (t: Table | string, key: unknown, ifExists?: boolean) => this.dropKey(target, original, name, t, key, ifExists);
    }
    try {
      return await run();
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete target[name];
        else target[name] = value;
      }
    }
  }

  /** Throws what the plan refused: changes that would fail first (no option makes them work), then data loss. */
  assertSafe(): void {
    const fails = this.entries.filter((e) => e.action === 'fails');
    if (fails.length > 0) throw new IncompatibleDataError(fails.map((e) => this.change(e)));
    const refused = this.entries.filter((e) => e.action === 'refused');
    if (refused.length > 0) throw new DataLossError(refused.map((e) => this.change(e)));
  }

  /** What was kept back by the last run. */
  kept(): KeptChange[] {
    return this.entries
      .filter((e) => e.action === 'kept')
      .map((e) => ({ column: e.column ?? '', kind: e.kind ?? 'removed', statement: e.statements.join('; '), reason: e.reason ?? '' }));
  }

  /** Warnings worth one log line each: what was kept, renamed, or lost by permission. */
  warnings(): { message: string; column?: string; statement: string }[] {
    return this.entries.filter((e) => e.action === 'kept' || e.action === 'allowed').map((e) => ({ message: `${e.column}: ${e.reason}${e.remedy ? ` ${e.remedy}` : ''}`, column: e.column, statement: e.statements.join('; ') }));
  }

  /**
   * The statements of the last run, each with its action, in order: the
   * runner's memory SQL, with what the guard kept put back where TypeORM
   * would have run it.
   */
  plan(runner: QueryRunner): PlannedStatement[] {
    const memory = (runner as unknown as GuardedRunner).getMemorySql().upQueries.map((q) => q.query);
    const out: PlannedStatement[] = [];
    const inserted = this.entries.filter((e) => e.length === 0);
    const ranged = this.entries.filter((e) => e.length > 0);
    for (let i = 0; i <= memory.length; i++) {
      for (const e of inserted) if (e.at === i || (i === memory.length && e.at > i)) for (const sql of e.statements) out.push(this.planned(e, sql));
      if (i === memory.length) break;
      const owner = ranged.find((e) => i >= e.at && i < e.at + e.length);
      out.push(owner ? this.planned(owner, memory[i]) : { sql: memory[i], action: 'safe' });
    }
    return out;
  }

  private planned(e: Entry, sql: string): PlannedStatement {
    const p: PlannedStatement = { sql, action: e.action };
    if (e.column !== undefined) p.column = e.column;
    if (e.reason !== undefined) p.reason = e.reason;
    if (e.count !== undefined) p.count = e.count;
    return p;
  }

  private change(e: Entry): GuardedChange {
    return { column: e.column ?? '', effect: e.reason ?? '', count: e.count ?? 0, statements: e.statements, remedy: e.remedy ?? '' };
  }

  private columnName(table: Table, column: string): string {
    return `${table.name}.${column}`;
  }

  private allowed(name: string): boolean {
    const allow = this.options.allowDataLoss;
    if (allow === true) return true;
    if (allow.has(name)) return true;
    return this.options.defaultSchema !== undefined && name.split('.').length === 2 && allow.has(`${this.options.defaultSchema}.${name}`);
  }

  private async resolve(runner: GuardedRunner, t: Table | string): Promise<Table> {
    return isTable(t) ? t : runner.getCachedTable(t);
  }

  /** The table and column as TypeORM's own methods find them from a name or an object; no column when the table has none of that name (TypeORM then throws its own error). */
  private async resolveColumn(runner: GuardedRunner, t: Table | string, c: TableColumn | string): Promise<{ table: Table; column: TableColumn | undefined }> {
    const table = await this.resolve(runner, t);
    return { table, column: isColumn(c) ? c : table.columns.find((x) => x.name === c) };
  }

  /** Runs a count once per sync (the plan and the real run share it), after share-locking its table. */
  private async count(runner: GuardedRunner, table: Table, query: { text: string; values: unknown[] }, pick: (rows: Record<string, unknown>[]) => number = (rows) => Number(rows[0]?.n ?? 0)): Promise<number> {
    if (!this.options.existingTables.has(this.options.tablePath(table))) return 0;
    const key = `${query.text}\u0000${JSON.stringify(query.values)}`;
    const known = this.counted.get(key);
    if (known !== undefined) return known;
    const path = runner.escapePath(table);
    if (this.options.lockTables && !this.locked.has(path)) {
      await runner.query(lockForCountSql(path));
      this.locked.add(path);
    }
    const n = pick(await runSql<Record<string, unknown>>(runner, query));
    this.counted.set(key, n);
    return n;
  }

  private memoryLength(runner: GuardedRunner): number {
    return runner.getMemorySql().upQueries.length;
  }

  /** Runs TypeORM's own method, recording the statements it wrote as one entry; nested runner calls inside it pass straight through. */
  private async passthrough(runner: GuardedRunner, entry: Omit<Entry, 'at' | 'length' | 'statements' | 'sql'> | undefined, call: () => Promise<void>, extra: string[] = []): Promise<void> {
    const at = this.memoryLength(runner) - extra.length;
    this.depth++;
    try {
      await call();
    } finally {
      this.depth--;
    }
    if (!entry) return;
    const length = this.memoryLength(runner) - at;
    const statements = runner.getMemorySql().upQueries.slice(at).map((q) => q.query);
    this.entries.push({ ...entry, sql: statements[0] ?? '', at, length, statements });
  }

  private refuse(entry: Entry): void {
    this.entries.push(entry);
    if (this.mode === 'apply') this.assertSafe();
  }

  private async changeColumn(runner: GuardedRunner, original: GuardedRunner, t: Table | string, o: TableColumn | string, next: TableColumn): Promise<void> {
    if (this.depth > 0) return original.changeColumn(t, o, next);
    const { table, column: old } = await this.resolveColumn(runner, t, o);
    if (!old) return original.changeColumn(t, o, next);
    const { dialect } = this.options;
    const column = this.columnName(table, old.name);
    const allowed = this.allowed(column);
    const path = runner.escapePath(table);
    const typeChanged = shapeDiffers(old, next);
    const from = describeShape(dialect, old);
    const to = describeShape(dialect, next);

    if (typeChanged && !allowed) {
      if (LOSSLESS[dialect](old, next)) {
        if (await this.failsOnRows(runner, original, table, old, next)) return;
        const sql =
          dialect === 'postgres'
            ? alterColumnTypeSql(path, old.name, runner.driver.createFullType(next), Boolean(next.isArray) && !old.isArray)
            : changeColumnSql(path, old.name, runner.buildCreateColumnSql(next, true));
        await runner.executeQueries([{ query: sql, parameters: [] }], []);
        // The column now has the new type: TypeORM's own changeColumn does the rest in place (default, nullability, comment, unique).
        Object.assign(old, { type: next.type, length: next.length, isArray: next.isArray, precision: next.precision, scale: next.scale, unsigned: (next as { unsigned?: boolean }).unsigned });
        return this.passthrough(runner, { action: 'lossless', column, reason: `${from} becomes ${to} in place, every value kept (TypeORM would drop and re-add the column)` }, () => original.changeColumn(table, old, next), [sql]);
      }
      if (LOSSLESS[dialect](next, old) && (await this.newerVersion())) {
        const reason = `the database has it as ${from} and this app version's entity as ${to}: an app version that synced after this one widened it, so it is kept (narrowing would cut values)`;
        const statements = await this.sqlOf(runner, () => original.changeColumn(table.clone(), old.clone(), next));
        this.entries.push({ sql: statements[0] ?? '', action: 'kept', kind: 'narrower', column, reason, at: this.memoryLength(runner), length: 0, statements });
        return;
      }
      const count = await this.count(runner, table, countValuesSql(dialect, path, old.name));
      const recreates = old.type !== next.type || (old.length ?? '') !== (next.length ?? '') || Boolean(old.isArray) !== Boolean(next.isArray);
      const effect = recreates
        ? `${from} to ${to} has no lossless cast, so TypeORM would drop the column and add it again: ${count} stored value(s) would be lost`
        : `${from} to ${to} narrows the type in place: ${count} stored value(s) would be rounded or rejected`;
      const statements = await this.sqlOf(runner, () => original.changeColumn(table.clone(), old.clone(), next));
      this.refuse({
        sql: statements[0] ?? '',
        action: 'refused',
        column,
        reason: effect,
        count,
        at: this.memoryLength(runner),
        length: 0,
        statements,
        remedy: `Keep ${old.name} as ${from} in the entity, or move the values in a migration (ALTER COLUMN … TYPE … USING, or a new column filled from this one).`,
      });
      return;
    }

    if (await this.failsOnRows(runner, original, table, old, next, allowed && typeChanged)) return;
    const added = dialect === 'postgres' && !typeChanged && addsInPlace(runner) ? enumValuesAdded(old, next) : [];
    if (added.length > 0) {
      // One way on both TypeORM lines: ADD VALUE in place, no rewrite (0.3 would recreate the type), unless the new
      // default changes too, which may use a value that ADD VALUE made in this transaction (55P04 on 1.x): then the
      // type is recreated as 0.3 does it. Either way TypeORM then sees the same values and does the rest itself.
      const type = runner.buildEnumName(table, old);
      const statements =
        old.default === next.default
          ? added.map((value) => addEnumValueSql(type, value))
          : recreateEnumSql({
              table: path,
              column: old.name,
              type,
              renamedTo: runner.buildEnumName(table, old, false, false, true),
              renamed: runner.buildEnumName(table, old, true, false, true),
              create: runner.createEnumTypeSql(table, next, type).query,
              isArray: Boolean(old.isArray),
              hasDefault: old.default !== undefined && old.default !== null,
            });
      await runner.executeQueries(statements.map((query) => ({ query, parameters: [] })), []);
      if (old.default !== next.default) old.default = undefined;
      old.enum = [...(next.enum ?? [])];
      return this.passthrough(runner, undefined, () => original.changeColumn(table, old, next));
    }
    if (allowed && typeChanged) {
      const count = await this.count(runner, table, countValuesSql(dialect, path, old.name));
      return this.passthrough(runner, { action: 'allowed', column, count, reason: `${from} to ${to} as TypeORM does it, accepted by allowDataLoss: ${count} stored value(s) at stake` }, () => original.changeColumn(table, old, next));
    }
    return this.passthrough(runner, undefined, () => original.changeColumn(table, old, next));
  }

  /** The SQL a TypeORM call would write, without running it or touching the tables the diff works on. */
  private async sqlOf(runner: GuardedRunner, call: () => Promise<void>): Promise<string[]> {
    // TypeORM's methods end by writing their result into the runner's table cache, found by path:
    // an empty cache for the call keeps that from touching the tables the diff works on.
    const memory = runner as unknown as { sqlMemoryMode: boolean; sqlInMemory: unknown; loadedTables: Table[]; enableSqlMemory(): void };
    const saved = { mode: memory.sqlMemoryMode, sql: memory.sqlInMemory, tables: memory.loadedTables };
    memory.enableSqlMemory();
    memory.loadedTables = [];
    this.depth++;
    try {
      await call();
      return runner.getMemorySql().upQueries.map((q) => q.query);
    } finally {
      this.depth--;
      memory.sqlInMemory = saved.sql;
      memory.sqlMemoryMode = saved.mode;
      memory.loadedTables = saved.tables;
    }
  }

  /**
   * The checks that turn a database error on every start into one clear error
   * before any DDL: NULLs under a new NOT NULL, enum values in use that the
   * entity dropped, duplicates under a new unique key, and rows under a column
   * TypeORM re-adds as NOT NULL without a default.
   */
  private async failsOnRows(runner: GuardedRunner, original: GuardedRunner, table: Table, old: TableColumn, next: TableColumn, recreated = false): Promise<boolean> {
    const { dialect } = this.options;
    const path = runner.escapePath(table);
    const column = this.columnName(table, old.name);
    const problems: { reason: string; count: number; remedy: string }[] = [];
    if ((old.isNullable || recreated) && !next.isNullable && !(recreated && hasDefault(next))) {
      const nulls = recreated ? await this.count(runner, table, countRowsSql(dialect, path)) : await this.count(runner, table, countNullsSql(dialect, path, old.name));
      if (nulls > 0) {
        problems.push({
          reason: recreated ? `${table.name} has ${nulls} row(s) and the column would be added again as NOT NULL without a default` : `${column} has ${nulls} NULL(s) and the entity now says NOT NULL`,
          count: nulls,
          remedy: 'Give it a default in the entity, or fill the NULLs first (UPDATE … SET … WHERE … IS NULL).',
        });
      }
    }
    const oldEnum = (old.enum ?? []).map(String);
    const newEnum = (next.enum ?? []).map(String);
    const removed = oldEnum.filter((v) => !newEnum.includes(v));
    if (old.enum && next.enum && removed.length > 0 && !recreated) {
      const used = new Map<string, number>();
      const total = await this.count(runner, table, countEnumValuesSql(dialect, path, old.name, removed, Boolean(old.isArray)), (rows) => {
        for (const r of rows) used.set(String(r.value), Number(r.n));
        return rows.reduce((sum, r) => sum + Number(r.n), 0);
      });
      if (total > 0) {
        const each = used.size > 0 ? [...used].map(([v, n]) => `'${v}' is used by ${n} row(s)`).join(', ') : `${total} row(s) use the removed values`;
        problems.push({ reason: `enum value(s) removed from ${column} are still in use: ${each}`, count: total, remedy: `Keep the value(s) in the enum, or update those rows to a value the entity still has.` });
      }
    }
    if (!old.isUnique && next.isUnique) {
      const duplicates = await this.count(runner, table, countDuplicatesSql(dialect, path, old.name));
      if (duplicates > 0) {
        problems.push({ reason: `${column} has ${duplicates} value(s) held by more than one row and the entity now says unique`, count: duplicates, remedy: 'Remove the duplicates first, or drop unique: true.' });
      }
    }
    if (problems.length === 0) return false;
    const statements = await this.sqlOf(runner, () => original.changeColumn(table.clone(), old.clone(), next));
    for (const p of problems) {
      this.refuse({ sql: statements[0] ?? '', action: 'fails', column, reason: p.reason, count: p.count, remedy: p.remedy, at: this.memoryLength(runner), length: 0, statements });
    }
    return true;
  }

  private async dropColumn(runner: GuardedRunner, original: GuardedRunner, t: Table | string, c: TableColumn | string, ifExists?: boolean): Promise<void> {
    if (this.depth > 0) return original.dropColumn(t, c, ifExists);
    const { table, column: col } = await this.resolveColumn(runner, t, c);
    if (!col) return original.dropColumn(t, c, ifExists);
    const { dialect } = this.options;
    const column = this.columnName(table, col.name);
    const path = runner.escapePath(table);
    if (this.allowed(column)) {
      const count = await this.count(runner, table, countValuesSql(dialect, path, col.name));
      return this.passthrough(runner, { action: 'allowed', column, count, reason: `dropped as allowDataLoss accepts: ${count} stored value(s) lost` }, () => original.dropColumn(table, col, ifExists));
    }
    const statement = dropColumnSql(dialect, path, col.name);
    if (this.options.dropRemovedColumns) {
      const count = await this.count(runner, table, countValuesSql(dialect, path, col.name));
      if (count === 0) return this.passthrough(runner, undefined, () => original.dropColumn(table, col, ifExists));
      this.refuse({
        sql: statement,
        action: 'refused',
        column,
        count,
        reason: `no longer in the entity, and dropRemovedColumns would drop it with ${count} stored value(s)`,
        remedy: `If it was renamed, rename it in a migration (RENAME COLUMN) or keep name: "${col.name}" on the new property; to drop the values, name it in allowDataLoss.`,
        at: this.memoryLength(runner),
        length: 0,
        statements: [statement],
      });
      return;
    }
    const blocksInserts = !col.isNullable && !hasDefault(col);
    const reason =
      `no longer in the entity, so it is kept with its values (a rolling deploy or a rollback may still use it)` +
      (blocksInserts ? `; it is NOT NULL without a default, so inserts from this app version, which leave it out, will fail: make it nullable or give it a default in the version that has it` : '') +
      '. If it was renamed, rename it in a migration (RENAME COLUMN) or keep name: on the new property; to drop it, name it in allowDataLoss.';
    this.entries.push({ sql: statement, action: 'kept', kind: 'removed', column, reason, at: this.memoryLength(runner), length: 0, statements: [statement] });
  }

  private async addColumn(runner: GuardedRunner, original: GuardedRunner, t: Table | string, c: TableColumn): Promise<void> {
    if (this.depth > 0) return original.addColumn(t, c);
    const table = await this.resolve(runner, t);
    if (!c.isNullable && !hasDefault(c) && !c.isPrimary) {
      const rows = await this.count(runner, table, countRowsSql(this.options.dialect, runner.escapePath(table)));
      if (rows > 0) {
        const statements = await this.sqlOf(runner, () => original.addColumn(table.clone(), c));
        this.refuse({
          sql: statements[0] ?? '',
          action: 'fails',
          column: this.columnName(table, c.name),
          count: rows,
          reason: `${table.name} has ${rows} row(s) and the new column ${c.name} is NOT NULL without a default`,
          remedy: 'Give it a default (or make it nullable) in the entity; if it replaces a renamed column, rename that one in a migration (RENAME COLUMN) instead.',
          at: this.memoryLength(runner),
          length: 0,
          statements,
        });
        return;
      }
    }
    return this.passthrough(runner, undefined, () => original.addColumn(table, c));
  }

  /**
   * TypeORM renames a column when a table lost exactly one column and its
   * entity gained exactly one: a guess. Run by two app versions, the guess
   * swaps the column back and forth on every restart and hands one column's
   * values to the other (the rolling-deploy spec saw v1's "legacy" values
   * become v2's "note"); a real rename breaks the version still running with
   * the old name. So the guess is not run: the old column is kept (the drop
   * that follows is kept too) and the new one is added.
   */
  private async renameColumn(runner: GuardedRunner, original: GuardedRunner, t: Table | string, o: TableColumn | string, n: TableColumn | string): Promise<void> {
    if (this.depth > 0) return original.renameColumn(t, o, n);
    const table = await this.resolve(runner, t);
    const oldName = typeof o === 'string' ? o : o.name;
    const newName = typeof n === 'string' ? n : n.name;
    const column = this.columnName(table, oldName);
    if (this.allowed(column)) return this.passthrough(runner, undefined, () => original.renameColumn(table, o, n));
    const statements = await this.sqlOf(runner, () => original.renameColumn(table.clone(), typeof o === 'string' ? o : o.clone(), typeof n === 'string' ? n : n.clone()));
    this.entries.push({
      sql: statements[0] ?? '',
      action: 'kept',
      kind: 'rename',
      column,
      reason:
        `TypeORM took the removal of ${oldName} and the addition of ${newName} for a rename; not run: renaming would break an app version still running with ${oldName} ` +
        `("column does not exist"), and if it was not a rename it would give ${oldName}'s values the meaning of ${newName}. ${oldName} is kept with its values and ${newName} is added. ` +
        `To rename, add ${newName}, write both, then copy and drop ${oldName} in a migration (README: rolling deploys), or allow it with allowDataLoss: ["${column}"].`,
      at: this.memoryLength(runner),
      length: 0,
      statements,
    });
  }

  /** An index, foreign key or unique constraint over a column the entity no longer has stays with that column. */
  private async dropKey(runner: GuardedRunner, original: GuardedRunner, method: 'dropIndex' | 'dropForeignKey' | 'dropUniqueConstraint', t: Table | string, key: unknown, ifExists?: boolean): Promise<void> {
    if (this.depth > 0) return original[method](t, key, ifExists);
    const table = await this.resolve(runner, t);
    const lists = { dropIndex: table.indices, dropForeignKey: table.foreignKeys, dropUniqueConstraint: table.uniques } as Record<typeof method, { name?: string; columnNames: string[] }[]>;
    const found = typeof key === 'string' ? lists[method].find((k) => k.name === key) : (key as { name?: string; columnNames: string[] } | undefined);
    const columns = this.options.entityColumns(table);
    const gone = found && columns ? found.columnNames.filter((name) => !columns.has(name)) : [];
    if (gone.length === 0 || this.allowed(this.columnName(table, gone[0]))) return this.passthrough(runner, undefined, () => original[method](t, key, ifExists));
    const statements = await this.sqlOf(runner, () => original[method](table.clone(), key, ifExists));
    this.entries.push({
      sql: statements[0] ?? '',
      action: 'kept',
      kind: 'key',
      column: this.columnName(table, gone[0]),
      reason: `a key on ${gone.join(', ')}, which the entity no longer has: kept with the column (${found?.name ?? 'unnamed'})`,
      at: this.memoryLength(runner),
      length: 0,
      statements,
    });
  }

  private newerVersion(): Promise<boolean> {
    this.newer ??= this.options.newerVersionExists();
    return this.newer;
  }
}
