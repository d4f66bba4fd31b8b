import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { ExitCode } from '../../lib/cli/exit-codes';
import { repoRoot } from '../support/fixtures';
import { requireMySql, useMySqlDatabase } from '../support/mariadb';

const ROOT = repoRoot();
const BIN = join(ROOT, 'dist', 'lib', 'cli', 'bin.js');
const SOURCE = join(ROOT, 'test', 'fixtures', 'cli', 'mariadb-data-source.mjs');

function cli(args: string[], url: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '-d', SOURCE], { cwd: ROOT, env: { ...process.env, MYSQL_DS_URL: url }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('The CLI on MariaDB', function () {
  this.timeout(120_000);
  requireMySql();
  const db = useMySqlDatabase();

  it('status says "not in sync" (exit 3), sync makes it so, and status then names the GET_LOCK and who holds it', async () => {
    const before = cli(['status', '--json'], db.current().url);
    expect(before.status, before.stderr).to.equal(ExitCode.NOT_IN_SYNC);
    expect(JSON.parse(before.stdout)).to.deep.include({ inSync: false, lockKey: null });

    const synced = cli(['sync', '--json'], db.current().url);
    expect(synced.status, synced.stderr).to.equal(ExitCode.OK);
    const sync = JSON.parse(synced.stdout) as { changed: boolean; statements: string[]; lockName: string };
    expect(sync.changed).to.equal(true);
    expect(sync.statements[0]).to.match(/^CREATE SEQUENCE IF NOT EXISTS `task_id_sequence`$/);

    const holder = await createConnection({ uri: db.current().url });
    try {
      const [[{ id }]] = (await holder.query('SELECT CONNECTION_ID() AS id, GET_LOCK(?, 0) AS locked', [sync.lockName])) as unknown as [[{ id: number }]];
      const after = cli(['status'], db.current().url);
      expect(after.status, after.stderr).to.equal(ExitCode.OK);
      expect(after.stdout).to.contain('Schema: in sync.').and.contain(`Lock GET_LOCK('${sync.lockName}'): held by connection ${id}, user@host (as reported by the server) "root@`);
      expect(after.stdout).to.contain('`celery_taskmeta`: no rows');
    } finally {
      await holder.end();
    }

    const cleaned = cli(['cleanup', '--json'], db.current().url);
    expect(cleaned.status, cleaned.stderr).to.equal(ExitCode.OK);
    expect(JSON.parse(cleaned.stdout)).to.deep.include({ tasks: 0, groups: 0, unfinishedTasks: 0 });
  });
});
