import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { withFreshDatabase } from '../support/database';
import { mysqlUnavailable, withFreshMySqlDatabase } from '../support/mariadb';

const ROOT = join(__dirname, '..', '..', '..');

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.connect(port, '127.0.0.1');
  });
}

/** Every ```ts block of the README, with the heading it stands under. */
export function readmeSnippets(markdown: string): { heading: string; code: string }[] {
  const snippets: { heading: string; code: string }[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)/.exec(lines[i]);
    if (h) heading = h[1];
    if (lines[i].trim() !== '```ts') continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
    snippets.push({ heading, code: body.join('\n') });
  }
  return snippets;
}

/**
 * The README's TypeScript snippets are what users copy: each one must compile
 * under `strict` and run as written, on a database of its own. They compile as
 * ES modules (they use top-level await) below the repository, where
 * `typeorm-result-backend` resolves to this package by its own name.
 */
describe('The README', function () {
  this.timeout(300_000);
  const dir = join(ROOT, '.tmp', 'readme-snippets');
  const snippets = readmeSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  before(() => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    snippets.forEach((s, i) => writeFileSync(join(dir, `snippet-${i}.mts`), s.code + '\n'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          outDir: 'out',
        },
        include: ['*.mts'],
      }),
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has TypeScript snippets to check', () => {
    expect(snippets.length).to.be.greaterThan(3);
  });

  it('has snippets that all compile under strict', () => {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr, 'tsc output').to.equal('');
    expect(tsc.status).to.equal(0);
  });

  snippets.forEach((snippet, i) => {
    // Snippets under a MySQL heading get a fresh MariaDB database as MYSQL_URL as well.
    const mysql = /MySQL/.test(snippet.heading);
    it(`runs snippet ${i + 1} (under "${snippet.heading}") as written`, async function () {
      // Snippets under the celery-node heading send tasks through RabbitMQ.
      const broker = /celery-node/.test(snippet.heading);
      const missing = mysql ? await mysqlUnavailable() : broker && !(await answers(5672)) ? 'RabbitMQ at 127.0.0.1:5672 does not answer (apt-get install rabbitmq-server)' : null;
      if (missing && broker && process.env.CI) throw new Error(`CI must have a broker, but ${missing}`);
      if (missing) {
        if (mysql && process.env.TRB_REQUIRE_MYSQL === '1') throw new Error(`TRB_REQUIRE_MYSQL=1, but ${missing}`);
        console.warn(`    SKIPPED (${mysql ? 'a MySQL' : 'a celery-node'} snippet): ${missing}`);
        this.skip();
      }
      const withMySql = <T>(fn: (url: string | undefined) => Promise<T>) => (mysql ? withFreshMySqlDatabase(`readme_${i}`, (m) => fn(m.url)) : fn(undefined));
      await withMySql((mysqlUrl) => withFreshDatabase(`readme_${i}`, async ({ url }) => {
        try {
          execFileSync(process.execPath, [join(dir, 'out', `snippet-${i}.mjs`)], {
            env: { ...process.env, DATABASE_URL: url, ...(mysqlUrl ? { MYSQL_URL: mysqlUrl } : {}) },
            encoding: 'utf8',
            timeout: 60_000,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (error) {
          const e = error as { stdout?: string; stderr?: string; message: string };
          throw new Error(`snippet ${i + 1} failed:\n${snippet.code}\n--- stderr:\n${e.stderr ?? ''}\n--- stdout:\n${e.stdout ?? ''}`);
        }
      }));
    });
  });
});
