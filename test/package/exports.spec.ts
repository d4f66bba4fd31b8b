import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** Loads the package both ways in one process and reports whether each export is the same object. */
const CHECK = `
import { createRequire } from 'node:module';
import * as esm from 'typeorm-result-backend';
const cjs = createRequire(process.cwd() + '/')('typeorm-result-backend');
const names = ['SafeSynchronizer', 'ResultBackend', 'TaskMeta', 'TaskSetMeta', 'AbstractTaskMeta', 'LockTimeoutError'];
console.log(JSON.stringify(Object.fromEntries(names.map((n) => [n, typeof esm[n] === 'function' && esm[n] === cjs[n]]))));
`;

function check(cwd: string): Record<string, boolean> {
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', CHECK], { cwd, encoding: 'utf8' })) as Record<string, boolean>;
}

const SAME = { SafeSynchronizer: true, ResultBackend: true, TaskMeta: true, TaskSetMeta: true, AbstractTaskMeta: true, LockTimeoutError: true };

describe('The published package', function () {
  this.timeout(120_000);

  it('gives the same class objects to import and require, from the repo root', () => {
    expect(check(ROOT)).to.deep.equal(SAME);
  });

  it('gives the same class objects to import and require, from a packed tarball', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trb-pack-'));
    try {
      // --ignore-scripts: prepack would rebuild dist/ under the running tests; it was just built.
      const tarball = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
      const target = join(dir, 'node_modules', 'typeorm-result-backend');
      mkdirSync(target, { recursive: true });
      execFileSync('tar', ['-xzf', join(dir, tarball), '-C', target, '--strip-components=1']);
      // The peers come from this repo's install, as an application would provide them.
      for (const peer of ['typeorm', 'pg', 'reflect-metadata']) symlinkSync(join(ROOT, 'node_modules', peer), join(dir, 'node_modules', peer));
      // No Nest beside it here: the main entry loads both ways without it...
      expect(check(dir)).to.deep.equal(SAME);
      // ...and only the nestjs subpath asks for it.
      const nest = spawnSync(process.execPath, ['-e', "require('typeorm-result-backend/nestjs')"], { cwd: dir, encoding: 'utf8' });
      expect(nest.status).to.not.equal(0);
      expect(nest.stderr).to.contain("Cannot find module '@nestjs/common'");
      // The celery-node subpath loads without celery-node: it is handed the app the user made.
      const cn = spawnSync(process.execPath, ['-e', "const m = require('typeorm-result-backend/celery-node'); console.log(typeof m.useResultBackend, typeof m.CeleryNodeBackend)"], { cwd: dir, encoding: 'utf8' });
      expect(cn.stderr).to.equal('');
      expect(cn.stdout.trim()).to.equal('function function');
      const files = execFileSync('tar', ['-tzf', join(dir, tarball)], { encoding: 'utf8' });
      expect(files).to.contain('package/dist/esm/index.mjs').and.contain('package/dist/lib/index.d.ts').and.contain('package/dist/esm/celery-node.mjs');
      expect(files, 'tests are not shipped').not.to.contain('dist/test/');
      expect(files).to.contain('package/LICENSE').and.contain('package/README.md').and.contain('package/dist/esm/index.d.mts');
      expect(files, 'no source maps without their sources').not.to.match(/\.map$/m);
      expect(files, 'no TypeScript sources').not.to.match(/^package\/(lib|entities)\//m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
