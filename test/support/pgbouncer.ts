import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../examples/support/postgres';

/** Where Debian's package puts it. */
const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

export interface Bouncer {
  /** The same database URL, through the bouncer. */
  url(databaseUrl: string): string;
  stop(): Promise<void>;
}

/** The binary, or why there is none: the specs skip loudly with this. */
export function findPgbouncer(): { path?: string; missing?: string } {
  for (const path of PGBOUNCER) if (spawnSync(path, ['--version']).status === 0) return { path };
  return { missing: 'pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)' };
}

/** The `postgres` OS user's ids (the embedded server creates the user where it is missing). */
function osId(flag: '-u' | '-g'): number {
  const run = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error('pgbouncer refuses to run as root, and there is no postgres OS user to run it as');
  return Number(run.stdout.trim());
}

async function listening(port: number, deadline: number): Promise<void> {
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts Debian's pgbouncer in front of the test server, on a free port, in
 * transaction mode with a small pool, as a non-root user (it refuses root):
 * as root, as the `postgres` OS user that the embedded server also uses.
 */
export async function startPgbouncer(serverUrl: string, options: { poolMode?: 'transaction' | 'session'; poolSize?: number } = {}): Promise<Bouncer> {
  const { path, missing } = findPgbouncer();
  if (!path) throw new Error(missing);
  const server = new URL(serverUrl);
  const dir = mkdtempSync(join(tmpdir(), 'trb-bouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432} user=${user}${password ? ` password=${password}` : ''}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 4}`,
      'max_client_conn = 500',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  for (const file of ['userlist.txt', 'pgbouncer.ini']) chmodSync(join(dir, file), 0o644);
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? { uid: osId('-u'), gid: osId('-g') } : {};
  // Its log file goes in the directory, which the user it runs as must own.
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid!);
  const child: ChildProcess = spawn(path, [join(dir, 'pgbouncer.ini')], { stdio: 'ignore', ...ids });
  await listening(port, Date.now() + 10_000);
  return {
    url: (databaseUrl) => {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.password = '';
      return u.toString();
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
