import { expect } from 'chai';
import { ChildProcess, execFileSync, fork } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFreshDatabase } from '../support/database';
import { repoRoot } from '../support/fixtures';
import { query } from '../support/pg-client';
import { RACE_ERROR, untilTheRaceShows } from '../support/race';

const ROOT = repoRoot();
const EXAMPLES = ['basic', 'custom-entity', 'migrations', 'nestjs'];
/** What a user installs beside the package, at the versions this repository is tested with. */
const USER_DEPENDENCIES = ['typeorm', 'pg', 'reflect-metadata', 'typescript', '@types/node', '@nestjs/common', '@nestjs/core', '@nestjs/typeorm', '@nestjs/platform-express', 'rxjs'];

/** A copy of each example in a user's project, outside the repository, with the packed tarball installed by npm. */
function installAsAUser(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'trb-user-')));
  // --ignore-scripts: prepack would rebuild dist/ under the running tests; it was just built.
  const tarball = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  // The versions installed here (the CI matrix swaps in TypeORM 0.3 and Nest 11), exactly, and without --legacy-peer-deps: our peer ranges must admit them.
  const versions = Object.fromEntries(USER_DEPENDENCIES.map((d) => [d, (JSON.parse(readFileSync(join(ROOT, 'node_modules', d, 'package.json'), 'utf8')) as { version: string }).version]));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'trb-user-app', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, tarball), ...USER_DEPENDENCIES.map((d) => `${d}@${versions[d]}`)], {
    cwd: dir,
    encoding: 'utf8',
  });
  for (const name of EXAMPLES) {
    cpSync(join(ROOT, 'examples', name), join(dir, name), { recursive: true, filter: (src) => !/[/\\](dist|node_modules)$/.test(src) });
    execFileSync(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, name)], { encoding: 'utf8' });
  }
  return dir;
}

function run(dir: string, args: string[], url: string): string {
  try {
    return execFileSync(process.execPath, args, { cwd: dir, env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`${args.join(' ')} failed:\n${e.stderr ?? ''}\n${e.stdout ?? ''}`);
  }
}

interface ReplicaReport {
  up: boolean;
  url?: string;
  error?: string;
  retries: string[];
}

/** Boots the Nest example in n processes released together; resolves once each is up or has given up. */
async function replicas(dir: string, n: number, url: string, unsafe: boolean): Promise<{ reports: ReplicaReport[]; stop(): Promise<void> }> {
  const launcher = join(dir, 'replica.mjs');
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const reports: Promise<ReplicaReport>[] = [];
  for (let i = 0; i < n; i++) {
    const child = fork(launcher, [], { cwd: dir, env: { ...process.env, DATABASE_URL: url, TRB_UNSAFE: unsafe ? '1' : '' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    child.stdout?.resume();
    child.stderr?.resume();
    children.push(child);
    ready.push(new Promise((resolve, reject) => {
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected ${JSON.stringify(m)}`))));
      child.once('exit', (code) => reject(new Error(`replica exited with ${code} before it was ready`)));
    }));
    reports.push(new Promise((resolve) => {
      child.on('message', (m) => {
        if (typeof m === 'object' && m !== null && 'up' in m) resolve(m as ReplicaReport);
      });
      child.once('exit', (code) => resolve({ up: false, error: `exited with ${code}`, retries: [] }));
    }));
  }
  await Promise.all(ready);
  for (const child of children) child.send('go');
  const settled = await Promise.all(reports);
  return {
    reports: settled,
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.send('stop');
            }),
        ),
      );
    },
  };
}

const REPLICA = `// Loads the Nest example, waits for the test's "go", boots it, reports, and closes on "stop".
import { bootstrap } from './nestjs/dist/bootstrap.js';
const retries = [];
process.send('ready');
await new Promise((resolve) => process.once('message', resolve));
try {
  const app = await bootstrap(0, { unsafe: process.env.TRB_UNSAFE === '1', retryAttempts: 5, retryDelay: 200, onRetry: (e) => retries.push(String(e?.message ?? e)) });
  process.send({ up: true, url: await app.getUrl(), retries });
  process.once('message', async () => { await app.close(); process.exit(0); });
} catch (error) {
  process.send({ up: false, error: String(error?.message ?? error), retries }, () => process.exit(1));
}
`;

describe('The examples, against the packed package installed as a user installs it', function () {
  this.timeout(600_000);
  let dir: string;

  before(() => {
    dir = installAsAUser();
    writeFileSync(join(dir, 'replica.mjs'), REPLICA);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resolve typeorm-result-backend to the installed tarball, outside the repository, from ESM and CommonJS', () => {
    const installed = join(dir, 'node_modules', 'typeorm-result-backend');
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('typeorm-result-backend/nestjs'))"], { cwd: join(dir, 'nestjs'), encoding: 'utf8' }).trim();
    expect(esm).to.equal(`file://${join(installed, 'dist', 'esm', 'nestjs.mjs')}`);
    const cjs = execFileSync(process.execPath, ['-e', "console.log(require.resolve('typeorm-result-backend'))"], { cwd: join(dir, 'custom-entity'), encoding: 'utf8' }).trim();
    expect(cjs).to.equal(join(installed, 'dist', 'lib', 'index.js'));
    expect(dir.startsWith(ROOT)).to.equal(false);
  });

  it('examples/basic (ESM) syncs, stores a group and joins it', async () => {
    await withFreshDatabase('ex_basic', async ({ url }) => {
      const out = run(dir, [join(dir, 'basic', 'dist', 'main.js')], url);
      expect(out).to.match(/schema: \d+ statement\(s\) run/).and.contain('joined 3 results: 0, 2, 4');
      expect(await query(url, 'SELECT count(*)::int AS n FROM celery_taskmeta')).to.deep.equal([{ n: 3 }]);
    });
  });

  it('examples/custom-entity (CommonJS) writes its own column, in its own tables', async () => {
    await withFreshDatabase('ex_custom', async ({ url }) => {
      const out = run(dir, [join(dir, 'custom-entity', 'dist', 'main.js')], url);
      expect(out).to.contain('results.tenant_results: invoice-7 for tenant acme').and.contain('reports.report_taskmeta: report-1 is SUCCESS');
      expect(await query(url, "SELECT to_regclass('results.tenant_results_id_seq') IS NOT NULL AS seq")).to.deep.equal([{ seq: true }]);
    });
  });

  it('examples/migrations (CommonJS): the CLI migrates, status is clean, SafeMigrator then finds nothing to run', async () => {
    await withFreshDatabase('ex_migrations', async ({ url }) => {
      const cli = join(dir, 'node_modules', '.bin', 'typeorm-result-backend');
      const ds = join(dir, 'migrations', 'dist', 'data-source.js');
      const migrated = JSON.parse(execFileSync(cli, ['migrate', '-d', ds, '--json'], { cwd: join(dir, 'migrations'), env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' })) as { executed: string[] };
      expect(migrated.executed).to.deep.equal(['CeleryResultTables1764000000000']);
      // status exits 0 only when nothing is pending: execFileSync throws otherwise.
      execFileSync(cli, ['status', '-d', ds], { cwd: join(dir, 'migrations'), env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' });
      const out = run(dir, [join(dir, 'migrations', 'dist', 'main.js')], url);
      expect(out).to.contain('pending migrations: none').and.contain('ran: nothing').and.contain('statements a sync would still run: 0').and.contain('migrated-1 is SUCCESS');
    });
  });

  describe('examples/nestjs (ESM, NestJS 12): 4 replicas started at once on a fresh database', () => {
    it('all 4 come up on their first attempt and serve; one joins a group another started', async () => {
      await withFreshDatabase('ex_nest_safe', async ({ url }) => {
        const fleet = await replicas(dir, 4, url, false);
        try {
          const retried = fleet.reports.flatMap((r) => r.retries);
          console.log(`    safeDataSourceFactory: ${fleet.reports.filter((r) => r.up).length}/4 up, ${retried.length} failed attempt(s)`);
          expect(fleet.reports.map((r) => r.up), JSON.stringify(fleet.reports)).to.deep.equal([true, true, true, true]);
          expect(retried).to.deep.equal([]);
          const started = (await (await fetch(`${fleet.reports[0].url}/groups?size=4`, { method: 'POST' })).json()) as { groupId: string };
          const joined = (await (await fetch(`${fleet.reports[3].url}/groups/${started.groupId}`)).json()) as { results: number[] };
          expect(joined.results).to.deep.equal([0, 1, 4, 9]);
        } finally {
          await fleet.stop();
        }
        // Every replica closed its backend's LISTEN connection and its pool on shutdown.
        expect(await query(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'example-nestjs'")).to.deep.equal([{ n: 0 }]);
      });
    });

    it('the same 4 replicas with plain synchronize: true hit the race, so the test above could fail', async () => {
      const { trials, failed, errors } = await untilTheRaceShows('plain Nest replicas ×4', 8, async (url) => {
        const fleet = await replicas(dir, 4, url, true);
        try {
          // Nest retries a failing DataSource factory, so a replica may come up in the end: count failed attempts.
          const failures = fleet.reports.flatMap((r) => [...r.retries, ...(r.up ? [] : [r.error ?? 'down'])]);
          return { failed: failures.length, errors: failures.map((e) => RACE_ERROR.exec(e)?.[0] ?? e) };
        } finally {
          await fleet.stop();
        }
      });
      expect(failed, `no plain replica failed in ${trials} trials`).to.be.greaterThan(0);
      for (const e of errors) expect(e).to.match(RACE_ERROR);
    });
  });
});
