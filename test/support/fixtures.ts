import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root, found from the compiled file's location (dist/test/…) whatever the working directory. */
export function repoRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'typeorm-result-backend') return dir;
  }
  throw new Error(`no typeorm-result-backend package.json above ${__dirname}`);
}

/** A file of test/fixtures/celery/: what real Celery 5.2.6 made (see its README for how to regenerate). */
export function celeryFixture(name: 'rows.json' | 'schema.sql' | 'flows.json'): string {
  return fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'celery', name), 'utf8');
}
