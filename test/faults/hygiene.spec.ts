import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { useTestDatabase } from '../support/database';

/**
 * Resolves to whether the process exited by itself within `ms` of saying it
 * was done with its work (however long loading and connecting took); kills it otherwise.
 */
function exitsWithin(args: string[], ms: number): Promise<{ exited: boolean; code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(__dirname, 'exit-worker.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const onOutput = (d: Buffer) => {
      out += d.toString();
      if (!timer && out.includes('\n')) {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve({ exited: false, code: null, out });
        }, ms);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ exited: true, code, out });
    });
  });
}

describe('Resource hygiene: the package’s own handles never keep a process alive', function () {
  this.timeout(60_000);
  const db = useTestDatabase();

  it('a process that destroys its DataSource but forgets backend.close() still exits', async () => {
    const run = await exitsWithin([db.current().url, 'backend'], 10_000);
    expect(run.out).to.contain('destroyed the DataSource');
    expect(run, run.out).to.deep.include({ exited: true, code: 0 });
  });

  it('a process that leaves a plain pg Client open does not exit: the harness above could fail', async () => {
    const run = await exitsWithin([db.current().url, 'raw'], 3_000);
    expect(run.out).to.contain('left a client open');
    expect(run.exited).to.equal(false);
  });
});
