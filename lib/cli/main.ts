/**
 * The `typeorm-result-backend` command: the safe sync, the safe migrations, a
 * status check and the result expiry, for deploy pipelines. Its output is the
 * program's own, so this folder is the one place in lib/ that writes to the console.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import ms from 'ms';
import type { DataSource } from 'typeorm';
import { DataLossError, IncompatibleDataError, LockHolder, LockTimeoutError, ResultBackendError } from '../errors';
import type { Logger } from '../logger';
import type { SyncVerifyMode } from '../options';
import { silentLogger } from '../logger';
import { reportedHolderName } from '../reported-text';
import * as commands from './commands';
import { ExitCode } from './exit-codes';
import { UsageError, loadDataSource } from './load-data-source';

interface CommonOptions {
  dataSource: string;
  json?: boolean;
  verbose?: boolean;
}

/**
 * Never print a password: the driver's messages (and the log fields, JSON-encoded) can
 * carry a connection string in any of the forms pg and libpq take.
 */
export function redact(text: string): string {
  return (
    text
      // postgres://user:pass@host
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@\s/]+@/gi, '$1***@')
      // ?password=… and &password=… in a URL's query: the value ends where the next parameter or the fragment starts
      // (a quote ends it too: in a URL it would be percent-encoded, so a bare one is the text around the URL).
      .replace(/([?&]password=)[^&#\s"]*/gi, '$1***')
      // libpq's keyword form, password=… or password='…' (backslash escapes inside). Unquoted, the value runs
      // to whitespace or to an unescaped double quote: the end of the JSON string a log field puts it in. Quoted,
      // it runs to a quote that whitespace, punctuation or the end follows, so a \' that JSON doubled to \\' does not end it.
      .replace(/((?<![\w?&.-])password\s*=\s*)(?:'(?:\\.|[^'\\]|'(?![\s",;)]|$))*'?|(?:\\.|[^\s"\\])+)/gi, '$1***')
  );
}

function duration(value: string): number {
  const parsed = /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw new InvalidArgumentError(`"${value}" is not a duration. Use milliseconds or a unit: 90s, 15m, 12h, 7d.`);
  }
  return parsed;
}

function wholeMs(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number of milliseconds.`);
  return Number(value);
}

/** Everything to stderr with --verbose; without it, only warnings and errors when `warnings` (what a sync kept is worth seeing). */
function stderrLogger(verbose: boolean | undefined, warnings = false): Logger {
  if (!verbose && !warnings) return silentLogger;
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(`${level} ${message}${fields ? ` ${redact(JSON.stringify(fields))}` : ''}\n`);
  if (!verbose) return { ...silentLogger, warn: line('warn'), error: line('error') };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

function print(json: boolean | undefined, value: unknown, human: () => string[]): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human().join('\n')}\n`);
}

/** Loads and opens the data source, runs the command, and always closes it. */
async function withDataSource<T>(options: CommonOptions, run: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = await commands.open(await loadDataSource(options.dataSource));
  try {
    return await run(ds);
  } finally {
    await ds.destroy();
  }
}

function common(command: Command): Command {
  return command
    .requiredOption('-d, --dataSource <path>', 'the file that exports your DataSource (.js, .mjs, .cjs, .ts, .mts, .cts)')
    .option('--json', 'print one JSON document for machines')
    .option('--verbose', 'log what happens to stderr');
}

function lockTimeout(command: Command): Command {
  return command.addOption(new Option('--lock-timeout <ms>', 'longest wait for the schema lock, in milliseconds (0: no limit)').argParser(wholeMs));
}

/** This package's version, from its package.json (three levels above dist/lib/cli, in the repository and in the tarball). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function program(): Command {
  const cli = new Command('typeorm-result-backend')
    .description('Schema sync, migrations, status and cleanup for TypeORM on PostgreSQL, safe with many processes at once.')
    .version(packageVersion(), '-V, --version', 'print the version of typeorm-result-backend')
    .showHelpAfterError()
    .exitOverride();
  cli.configureOutput({ writeErr: (s) => process.stderr.write(s) });

  lockTimeout(common(cli.command('sync')))
    .description("bring the schema in line with the entities under the advisory lock, whatever the file's synchronize option says")
    .addOption(new Option('--verify <mode>', 'fingerprint: skip the diff when the recorded schema fingerprint matches; full: always diff').choices(['fingerprint', 'full']).default('fingerprint'))
    .option('--accept-data-loss [columns...]', 'let these columns (table.column) lose stored values as TypeORM would change them; without names, every column (TypeORM\'s own behaviour)')
    .option('--drop-removed-columns', 'drop columns the entities no longer have while they hold no value (by default they are kept)')
    .action(async (o: CommonOptions & { lockTimeout?: number; verify: SyncVerifyMode; acceptDataLoss?: true | string[]; dropRemovedColumns?: boolean }) => {
      const result = await withDataSource(o, (ds) =>
        commands.sync(ds, { lockTimeoutMs: o.lockTimeout, logger: stderrLogger(o.verbose, true), verify: o.verify, allowDataLoss: o.acceptDataLoss ?? false, dropRemovedColumns: o.dropRemovedColumns ?? false }),
      );
      print(o.json, result, () => [
        result.changed
          ? `Schema changed: ${result.statements.length} statement(s).`
          : `Schema already in sync: nothing to do (verified by ${result.verifiedBy === 'fingerprint' ? 'the schema fingerprint' : "TypeORM's diff"}).`,
        ...result.statements.map((s) => `  ${s}`),
        ...(result.kept.length ? [`Kept ${result.kept.length} (not run):`, ...result.kept.map((k) => `  ${k.statement}  -- ${k.column}: ${k.kind}`)] : []),
        `Waited ${Math.round(result.lockWaitMs)} ms for the lock; ${Math.round(result.durationMs)} ms in all.`,
      ]);
    });

  lockTimeout(common(cli.command('migrate')))
    .description('run the pending migrations under the advisory lock (each one once, however many processes run this)')
    .option('--show', 'list the pending migrations and run nothing (exit 3 when some are pending)')
    .addOption(new Option('--transaction <mode>', 'the transaction mode (default: the data source\'s migrationsTransactionMode, else all)').choices(['all', 'each', 'none']))
    .action(async (o: CommonOptions & { lockTimeout?: number; show?: boolean; transaction?: 'all' | 'each' | 'none' }) => {
      if (o.show) {
        const pending = await withDataSource(o, (ds) => commands.pendingMigrations(ds));
        print(o.json, { pending }, () => (pending.length ? [`${pending.length} pending migration(s):`, ...pending.map((m) => `  ${m}`)] : ['No pending migrations.']));
        if (pending.length) process.exitCode = ExitCode.NOT_IN_SYNC;
        return;
      }
      const result = await withDataSource(o, (ds) => commands.migrate(ds, { lockTimeoutMs: o.lockTimeout, transaction: o.transaction, logger: stderrLogger(o.verbose) }));
      print(o.json, result, () => [
        result.executed.length ? `Ran ${result.executed.length} migration(s) (transaction "${result.transaction}"):` : 'No pending migrations: nothing to do.',
        ...result.executed.map((m) => `  ${m}`),
        `Waited ${Math.round(result.lockWaitMs)} ms for the lock; ${Math.round(result.durationMs)} ms in all.`,
      ]);
    });

  common(cli.command('status'))
    .description('is the schema in sync, are migrations pending, who holds the lock, how many results per state (exit 3 when not in sync)')
    .action(async (o: CommonOptions) => {
      const s = await withDataSource(o, (ds) => commands.status(ds));
      print(o.json, s, () => [
        s.pendingStatements.length ? `Schema: NOT in sync, ${s.pendingStatements.length} statement(s) pending:` : 'Schema: in sync.',
        ...s.plan.filter((x) => x.action !== 'kept').map((x) => `  [${x.action}] ${x.sql}${x.reason ? `  -- ${x.column}: ${x.reason}` : ''}`),
        ...s.plan.filter((x) => x.action === 'kept').map((x) => `  [kept, not run] ${x.sql}  -- ${x.column}: ${x.reason}`),
        s.pendingMigrations.length ? `Migrations: ${s.pendingMigrations.length} pending: ${s.pendingMigrations.join(', ')}` : 'Migrations: none pending.',
        s.lockKey === null && s.lockName === null
          ? 'Lock: none (SQLite).'
          : s.lockHolders.length
            ? `Lock ${lockLabel(s)}: held by ${s.lockHolders.map((h) => holderLine(s.lockKey !== null, h)).join('; ')}`
            : `Lock ${lockLabel(s)}: free.`,
        ...s.tables.map((t) => `${t.table}: ${Object.entries(t.states).map(([k, v]) => `${k} ${v}`).join(', ') || 'no rows'}`),
      ]);
      if (!s.inSync) process.exitCode = ExitCode.NOT_IN_SYNC;
    });

  common(cli.command('cleanup'))
    .description('remove expired results, groups and abandoned unfinished rows, as ResultBackend.cleanup() does')
    .addOption(new Option('--older-than <duration>', 'ready results and groups older than this (e.g. 7d; default: one day)').argParser(duration))
    .addOption(new Option('--unfinished-older-than <duration>', 'rows still unfinished this long after cleanup first saw them (default: 7d)').argParser(duration))
    .action(async (o: CommonOptions & { olderThan?: number; unfinishedOlderThan?: number }) => {
      const r = await withDataSource(o, (ds) =>
        commands.cleanup(ds, { olderThanMs: o.olderThan, unfinishedOlderThanMs: o.unfinishedOlderThan, logger: stderrLogger(o.verbose) }),
      );
      print(o.json, r, () => [`Removed from ${r.task}: ${r.tasks} result(s), ${r.unfinishedTasks} abandoned unfinished row(s); from ${r.group}: ${r.groups} group(s).`]);
    });

  return cli;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return ExitCode.USAGE;
  if (error instanceof LockTimeoutError) return ExitCode.LOCK_TIMEOUT;
  if (error instanceof DataLossError || error instanceof IncompatibleDataError) return ExitCode.REFUSED;
  return ExitCode.FAILURE;
}

/** Runs the CLI on argv; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const cli = program();
  const json = argv.includes('--json');
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    const code = error instanceof ResultBackendError ? error.code : (error as { code?: unknown })?.code;
    const message = redact(error instanceof Error ? error.message : String(error));
    const changes = error instanceof DataLossError || error instanceof IncompatibleDataError ? { changes: error.changes } : {};
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: typeof code === 'string' ? code : 'ERROR', message, ...changes } }, null, 2)}\n`);
    else process.stderr.write(`${error instanceof Error ? error.name : 'Error'}: ${message}\n`);
    return exitCodeOf(error);
  }
}

/** One lock holder for the status line; its name is the session's own text, so it is quoted as data (see quoteReported). */
function holderLine(advisory: boolean, h: LockHolder): string {
  const name = h.applicationName ? reportedHolderName(advisory, h.applicationName) : advisory ? 'no application_name' : 'no user@host';
  return `${advisory ? 'pid' : 'connection'} ${h.pid}, ${name}, since ${h.since?.toISOString() ?? '?'}`;
}

function lockLabel(s: { lockKey: readonly [number, number] | null; lockName: string | null }): string {
  return s.lockKey ? `[${s.lockKey.join(', ')}]` : `GET_LOCK('${s.lockName}')`;
}
