import { spawnSync } from 'child_process';
import * as path from 'path';
import { celeryFixture, repoRoot } from '../support/fixtures';

/** Debian's interpreter: a python3 earlier on PATH may not see the python3-celery package. */
export const PYTHON = '/usr/bin/python3';

const ROOT = repoRoot();

export interface CeleryRow {
  case: string;
  call: string;
  columns: { result?: string | null; [column: string]: unknown };
  analysis: { result?: { unpickled_repr: string; disassembly: string } };
  read_back: string;
}

/** The rows real Celery 5.2.6 wrote, with the bytea columns as hex (test/fixtures/celery/rows.json). */
export function celeryRows(): CeleryRow[] {
  return (JSON.parse(celeryFixture('rows.json')) as { rows: CeleryRow[] }).rows;
}

export function hex(h: string): Buffer {
  return Buffer.from(h, 'hex');
}

/** Runs a command of test/pickle/oracle.py in real CPython; JSON in, JSON out. */
export function oracle<T>(command: string, request: unknown): T {
  const script = path.join(ROOT, 'test', 'pickle', 'oracle.py');
  const run = spawnSync(PYTHON, [script, command], { input: JSON.stringify(request), encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`could not run ${PYTHON}: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`oracle.py ${command} failed (exit ${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** Pickles Python expressions with each given protocol; returns hex strings in the same order. */
export function pythonDumps(items: { expr: string; protocol: number }[]): string[] {
  return oracle<string[]>('dumps', { items });
}

/** Unpickles each hex in Python and compares it (types included) with the Python expression. */
export function pythonLoads(items: { hex: string; expect: string }[]): { ok: boolean; repr: string }[] {
  return oracle('loads', { items });
}

/**
 * Fails (never skips) when Celery is missing: CI installs python3-celery, and a silently
 * skipped GroupResult test would hide a broken Celery contract.
 */
export function requireCelery(): void {
  const run = spawnSync(PYTHON, ['-c', 'import celery, sqlalchemy'], { encoding: 'utf8' });
  if (run.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import celery/sqlalchemy, which the GroupResult tests need to check the real Celery contract. ` +
        'Install them with: apt-get install -y python3-celery python3-sqlalchemy python3-psycopg2',
    );
  }
}

/**
 * Python's repr() for the decoded values that occur in the Celery fixtures, to compare with the
 * `unpickled_repr` Celery's Python recorded. Not a general repr: integral numbers print as ints.
 */
export function pythonRepr(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = v
      .replace(/\\/g, '\\\\')
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r')
      .replace(/\t/g, '\\t')
      .replace(new RegExp(q, 'g'), `\\${q}`);
    return q + body + q;
  }
  if (Array.isArray(v)) {
    const inner = v.map(pythonRepr).join(', ');
    const isTuple = Object.isFrozen(v) && v.constructor.name === 'PyTuple';
    return isTuple ? `(${inner}${v.length === 1 ? ',' : ''})` : `[${inner}]`;
  }
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pythonRepr(k)}: ${pythonRepr(x)}`)
      .join(', ')}}`;
  }
  throw new Error(`pythonRepr does not model ${typeof v}`);
}
