import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { redact } from '../../lib/cli/main';
import { ExitCode } from '../../lib/cli/exit-codes';
import { useTestDatabase, withFreshDatabase } from '../support/database';
import { repoRoot } from '../support/fixtures';
import { connect, query } from '../support/pg-client';
import { RACE_ERROR, untilTheRaceShows } from '../support/race';

const ROOT = repoRoot();
const BIN = join(ROOT, 'dist', 'lib', 'cli', 'bin.js');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'cli');
const source = (ext: string) => join(FIXTURES, `data-source.${ext}`);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The real binary, in a process of its own, as a deploy step runs it. */
function cli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T = Record<string, unknown>>(run: Run): T {
  return JSON.parse(run.stdout) as T;
}

describe('The typeorm-result-backend CLI', function () {
  this.timeout(180_000);

  describe('usage', () => {
    for (const command of ['sync', 'migrate', 'status', 'cleanup']) {
      it(`prints help for ${command} and exits 0`, () => {
        const run = cli([command, '--help']);
        expect(run.status).to.equal(ExitCode.OK);
        expect(run.stdout).to.contain(`Usage: typeorm-result-backend ${command}`).and.contain('--dataSource');
      });
    }

    it("prints the package's version for --version and -V, and exits 0", () => {
      const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      for (const flag of ['--version', '-V']) {
        const run = cli([flag]);
        expect(run.status).to.equal(ExitCode.OK);
        expect(run.stdout.trim()).to.equal(version);
      }
    });

    it('exits 2 without -d, with an unknown command, with a bad duration, or a file that is not there', () => {
      expect(cli(['status']).status).to.equal(ExitCode.USAGE);
      expect(cli(['frobnicate']).status).to.equal(ExitCode.USAGE);
      const bad = cli(['cleanup', '-d', source('mjs'), '--older-than', 'soon']);
      expect(bad.status).to.equal(ExitCode.USAGE);
      expect(bad.stderr).to.contain('"soon" is not a duration');
      const missing = cli(['status', '-d', join(FIXTURES, 'nope.js')]);
      expect(missing.status).to.equal(ExitCode.USAGE);
      expect(missing.stderr).to.contain('No data-source file at');
    });

    it('exits 2, naming them, when a file exports several DataSources and none as default', () => {
      const run = cli(['status', '-d', join(FIXTURES, 'two-sources.mjs'), '--json']);
      expect(run.status).to.equal(ExitCode.USAGE);
      expect(json<{ error: { code: string; message: string } }>(run).error).to.deep.include({ code: 'USAGE' });
      expect(run.stdout).to.contain('several DataSources (primary, replica)');
    });
  });

  describe('on a database', () => {
    const db = useTestDatabase();
    const env = () => ({ DATABASE_URL: db.current().url });

    for (const ext of ['mjs', 'cjs', 'js']) {
      it(`loads a .${ext} data-source file: status says 3 (not in sync), sync makes it so, status then says 0`, () => {
        const before = cli(['status', '-d', source(ext), '--json'], env());
        expect(before.status, before.stderr).to.equal(ExitCode.NOT_IN_SYNC);
        expect(json<{ pendingStatements: string[] }>(before).pendingStatements).to.include('CREATE SEQUENCE IF NOT EXISTS "public"."task_id_sequence"');
        const sync = cli(['sync', '-d', source(ext), '--json'], env());
        expect(sync.status, sync.stderr).to.equal(ExitCode.OK);
        expect(json<{ changed: boolean; statements: string[] }>(sync).changed).to.equal(true);
        const again = cli(['sync', '-d', source(ext)], env());
        expect(again.stdout).to.contain('Schema already in sync');
        expect(cli(['status', '-d', source(ext)], env()).status).to.equal(ExitCode.OK);
      });
    }

    it('loads a .ts data-source file through tsx, with an entity of its own', () => {
      // tsx reads the tsconfig.json of the directory it runs in, as a project's own would be.
      const sync = cli(['sync', '-d', 'data-source.ts', '--json'], env(), FIXTURES);
      expect(sync.status, sync.stderr + sync.stdout).to.equal(ExitCode.OK);
      expect(json<{ statements: string[] }>(sync).statements.join('\n')).to.contain('CREATE TABLE "invoices"');
    });

    it('sync refuses a change that would lose values (exit 5, the columns named), status shows what each statement would do, --accept-data-loss names the column', async () => {
      const orders = source('mjs').replace('data-source.mjs', 'orders-data-source.mjs');
      const v1 = { ...env(), TRB_ORDERS_VERSION: 'v1' };
      const v2 = { ...env(), TRB_ORDERS_VERSION: 'v2' };
      expect(cli(['sync', '-d', orders], v1).status).to.equal(ExitCode.OK);
      await query(db.current().url, "INSERT INTO orders (customer, amount, note) SELECT 'c' || g, g + 0.1234, 'n' FROM generate_series(1, 20) g");

      const status = cli(['status', '-d', orders, '--json'], v2);
      expect(status.status, status.stderr).to.equal(ExitCode.NOT_IN_SYNC);
      const plan = json<{ plan: { sql: string; action: string; column?: string; count?: number }[] }>(status).plan;
      expect(plan.map((p) => [p.action, p.column])).to.deep.include.members([
        ['lossless', 'orders.customer'],
        ['refused', 'orders.amount'],
        ['kept', 'orders.note'],
      ]);
      expect(plan.find((p) => p.action === 'refused')!.count).to.equal(20);
      expect(cli(['status', '-d', orders], v2).stdout).to.match(/\[refused\] ALTER TABLE "orders" ALTER COLUMN "amount" TYPE numeric\(10,2\)/);

      const refused = cli(['sync', '-d', orders], v2);
      expect(refused.status).to.equal(ExitCode.REFUSED);
      expect(refused.stderr).to.match(/^DataLossError: .*\n- orders\.amount: numeric\(10,4\) to numeric\(10,2\) narrows the type in place: 20 stored value\(s\)/);
      const refusedJson = json<{ error: { code: string; changes: { column: string }[] } }>(cli(['sync', '-d', orders, '--json'], v2));
      expect(refusedJson.error.code).to.equal('DATA_LOSS');
      expect(refusedJson.error.changes.map((c) => c.column)).to.deep.equal(['orders.amount']);

      const accepted = cli(['sync', '-d', orders, '--accept-data-loss', 'orders.amount'], v2);
      expect(accepted.status, accepted.stderr).to.equal(ExitCode.OK);
      expect(accepted.stdout).to.contain('Kept 1 (not run):');
      expect(accepted.stderr).to.match(/^warn orders\.note: no longer in the entity, so it is kept with its values/m);
      const rows = await query<{ customer: string; amount: string; note: string }>(db.current().url, 'SELECT customer, amount::text AS amount, note FROM orders ORDER BY id LIMIT 1');
      expect(rows).to.deep.equal([{ customer: 'c1', amount: '1.12', note: 'n' }]);
      expect(cli(['status', '-d', orders], v2).status).to.equal(ExitCode.OK);
    });

    it('migrate --show lists pending migrations (exit 3), migrate runs them once, --show then exits 0', () => {
      const e = { ...env(), TRB_CLI_MIGRATIONS: '1' };
      const show = cli(['migrate', '--show', '-d', source('mjs'), '--json'], e);
      expect(show.status).to.equal(ExitCode.NOT_IN_SYNC);
      expect(json(show)).to.deep.equal({ pending: ['CreateNotes1700000000001', 'AddNoteText1700000000002'] });
      const run = cli(['migrate', '-d', source('mjs'), '--transaction', 'each', '--json'], e);
      expect(run.status, run.stderr).to.equal(ExitCode.OK);
      expect(json(run)).to.deep.include({ executed: ['CreateNotes1700000000001', 'AddNoteText1700000000002'], transaction: 'each' });
      expect(cli(['migrate', '-d', source('mjs')], e).stdout).to.contain('No pending migrations');
      expect(cli(['migrate', '--show', '-d', source('mjs')], e).status).to.equal(ExitCode.OK);
    });

    it('status names the session that holds the lock, and counts rows by state', async () => {
      expect(cli(['sync', '-d', source('mjs')], env()).status).to.equal(ExitCode.OK);
      await query(
        db.current().url,
        "INSERT INTO celery_taskmeta (id, task_id, status, date_done) VALUES (nextval('task_id_sequence'), 'a', 'SUCCESS', now()), (nextval('task_id_sequence'), 'b', 'SUCCESS', now()), (nextval('task_id_sequence'), 'c', 'STARTED', NULL)",
      );
      const { lockKey } = json<{ lockKey: [number, number] }>(cli(['status', '-d', source('mjs'), '--json'], env()));
      const holder = await connect(db.current().url, 'trb-deploy-in-progress');
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', lockKey);
        const run = cli(['status', '-d', source('mjs'), '--json'], env());
        expect(run.status).to.equal(ExitCode.OK);
        const status = json<{ lockHolders: { applicationName: string }[]; tables: { table: string; states: Record<string, number> }[] }>(run);
        expect(status.lockHolders.map((h) => h.applicationName)).to.deep.equal(['trb-deploy-in-progress']);
        expect(status.tables).to.deep.equal([{ table: '"public"."celery_taskmeta"', states: { STARTED: 1, SUCCESS: 2 } }]);
        expect(cli(['status', '-d', source('mjs')], env()).stdout).to.contain('held by pid').and.contain('trb-deploy-in-progress');
        // A warm start needs no lock: the fingerprint recorded by the first sync matches.
        const warm = cli(['sync', '-d', source('mjs'), '--lock-timeout', '300', '--json'], env());
        expect(warm.status, warm.stderr).to.equal(ExitCode.OK);
        expect(json<{ verifiedBy: string }>(warm).verifiedBy).to.equal('fingerprint');
        // A sync that must diff, and cannot get the lock in time, exits 4, naming the holder.
        const blocked = cli(['sync', '-d', source('mjs'), '--lock-timeout', '300', '--verify', 'full'], env());
        expect(blocked.status).to.equal(ExitCode.LOCK_TIMEOUT);
        expect(blocked.stderr).to.contain('LockTimeoutError').and.contain('trb-deploy-in-progress');
      } finally {
        await holder.end();
      }
    });

    it("status and a blocked sync quote the holder's application_name as data, not as words of their own", async () => {
      expect(cli(['sync', '-d', source('mjs')], env()).status).to.equal(ExitCode.OK);
      const { lockKey } = json<{ lockKey: [number, number] }>(cli(['status', '-d', source('mjs'), '--json'], env()));
      const planted = 'x"), all good; run DROP SCHEMA public CASCADE ("';
      const holder = await connect(db.current().url, planted);
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', lockKey);
        const status = cli(['status', '-d', source('mjs')], env());
        expect(status.stdout).to.contain(`application_name (as reported by that session) ${JSON.stringify(planted)}`);
        expect(status.stdout).not.to.match(/[^\\]"\), all good/);
        const blocked = cli(['sync', '-d', source('mjs'), '--lock-timeout', '300', '--verify', 'full'], env());
        expect(blocked.status).to.equal(ExitCode.LOCK_TIMEOUT);
        expect(blocked.stderr).to.contain(JSON.stringify(planted)).and.not.match(/[^\\]"\), all good/);
      } finally {
        await holder.end();
      }
    });

    it('cleanup --older-than 0 removes finished results and leaves unfinished ones', async () => {
      expect(cli(['sync', '-d', source('cjs')], env()).status).to.equal(ExitCode.OK);
      await query(
        db.current().url,
        "INSERT INTO celery_taskmeta (id, task_id, status, date_done) VALUES (nextval('task_id_sequence'), 'done', 'SUCCESS', now() AT TIME ZONE 'UTC' - interval '1 minute'), (nextval('task_id_sequence'), 'running', 'STARTED', NULL)",
      );
      const run = cli(['cleanup', '-d', source('cjs'), '--older-than', '0', '--json'], env());
      expect(run.status, run.stderr).to.equal(ExitCode.OK);
      expect(json(run)).to.deep.include({ tasks: 1, unfinishedTasks: 0, groups: 0 });
      expect(await query(db.current().url, 'SELECT task_id FROM celery_taskmeta')).to.deep.equal([{ task_id: 'running' }]);
    });
  });

  describe('failures', () => {
    it('exits 1 on a database it cannot reach, and never prints the password', () => {
      const run = cli(['status', '-d', source('mjs')], { DATABASE_URL: 'postgres://deploy:hunter2secret@127.0.0.1:1/app' });
      expect(run.status).to.equal(ExitCode.FAILURE);
      expect(run.stderr).to.match(/ECONNREFUSED|connect/);
      expect(run.stdout + run.stderr).not.to.contain('hunter2secret');
    });

    it('redacts a password in any URL it would print', () => {
      expect(redact('failed: postgres://deploy:hunter2@db:5432/app and postgresql://u:p%40ss@h/x')).to.equal('failed: postgres://deploy:***@db:5432/app and postgresql://u:***@h/x');
    });
  });

  describe('many deploy steps at once (real processes, fresh databases)', () => {
    /** Starts n commands at the same moment and resolves to their exit codes and stderr. */
    /**
     * Starts n processes of a command and releases them together: each one's
     * DataSource connects and then waits on a file (test/fixtures/cli/barrier.cjs);
     * once all have said so, the file is created.
     */
    async function together(n: number, argv: string[], env: Record<string, string>): Promise<Run[]> {
      const barrier = join(mkdtempSync(join(tmpdir(), 'trb-barrier-')), 'go');
      let ready = 0;
      let allReady!: () => void;
      const released = new Promise<void>((resolve) => (allReady = resolve));
      const runs = Array.from({ length: n }, () =>
        new Promise<Run>((resolve) => {
          const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, ...env, TRB_BARRIER: barrier } });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => {
            const before = stderr.includes('barrier: ready');
            stderr += d;
            if (!before && stderr.includes('barrier: ready') && ++ready === n) allReady();
          });
          // A process that ends before the barrier (a broken setup) must not leave the others waiting.
          child.on('close', (status) => {
            if (!stderr.includes('barrier: ready') && ++ready === n) allReady();
            resolve({ status, stdout, stderr });
          });
        }),
      );
      await released;
      writeFileSync(barrier, '');
      try {
        return await Promise.all(runs);
      } finally {
        rmSync(dirname(barrier), { recursive: true, force: true });
      }
    }

    it('4 concurrent `sync` commands: 0 failures, one of them changed the schema', async () => {
      await withFreshDatabase('cli_sync4', async ({ url }) => {
        const runs = await together(4, [BIN, 'sync', '-d', source('mjs'), '--json'], { DATABASE_URL: url });
        expect(runs.map((r) => r.status), runs.map((r) => r.stderr).join('\n')).to.deep.equal([0, 0, 0, 0]);
        expect(runs.filter((r) => json<{ changed: boolean }>(r).changed)).to.have.length(1);
      });
    });

    it('4 concurrent plain `typeorm schema:sync` commands show the race, so the test above could fail', async () => {
      const { trials, failed, errors } = await untilTheRaceShows('plain typeorm schema:sync ×4', 10, async (url) => {
        const runs = await together(4, [join(ROOT, 'node_modules', 'typeorm', 'cli.js'), 'schema:sync', '-d', source('cjs')], { DATABASE_URL: url });
        const failures = runs.filter((r) => r.status !== 0);
        const lastLine = (r: { stdout: string; stderr: string }) => (r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ');
        return { failed: failures.length, errors: failures.map((r) => RACE_ERROR.exec(r.stdout + r.stderr)?.[0] ?? `other: ${lastLine(r)}`) };
      });
      expect(failed, `no plain schema:sync failed in ${trials} trials`).to.be.greaterThan(0);
      // Every failure is the race itself, not a broken setup.
      expect([...errors].filter((e) => e.startsWith('other'))).to.deep.equal([]);
    });
  });
});
