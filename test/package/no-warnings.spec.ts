import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { useTestDatabase } from '../support/database';
import { repoRoot } from '../support/fixtures';

const ROOT = repoRoot();
const BIN = join(ROOT, 'dist', 'lib', 'cli', 'bin.js');
const SOURCE = join(ROOT, 'test', 'fixtures', 'cli', 'data-source.mjs');

/** Anything Node prints as a process warning: `(node:123) DeprecationWarning: …`, `Warning: …`. */
const WARNING = /\(node:\d+\) \w*Warning|^\w*Warning: /m;

function run(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * pg 8 warns when a client is given a query while it runs one (pg 9 makes it
 * an error); TypeORM and Node have deprecations of their own. A start, a
 * sync, a migration, a wait and each CLI command must print none of them, on
 * whichever TypeORM line is installed (CI runs this on 0.3 and 1.x).
 */
describe('No process warnings: not a DeprecationWarning, on either TypeORM line', function () {
  this.timeout(180_000);
  const db = useTestDatabase();

  it('the harness sees a warning when there is one (so the checks below could fail)', () => {
    const r = run(['-e', "process.emitWarning('planted', 'DeprecationWarning'); setTimeout(() => {}, 10)"], {});
    expect(r.stderr).to.match(WARNING);
  });

  it('a cold start that syncs and migrates, a warm start, stores, a pushed wait, a group and a cleanup', () => {
    const r = run([join(__dirname, 'warnings-worker.js')], { TRB_URL: db.current().url });
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ warnings: [] });
    expect(r.stderr).not.to.match(WARNING);
  });

  it('every CLI command: status, sync, migrate --show, migrate, cleanup, --version', () => {
    const env = { DATABASE_URL: db.current().url, TRB_CLI_MIGRATIONS: '1' };
    const commands = [['status'], ['sync'], ['status'], ['migrate', '--show'], ['migrate'], ['cleanup', '--older-than', '0']].map((c) => [...c, '-d', SOURCE]);
    for (const args of [...commands, ['--version']]) {
      const r = run([BIN, ...args], env);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.be.oneOf([0, 3]);
      expect(r.stderr, args.join(' ')).not.to.match(WARNING);
    }
  });
});
