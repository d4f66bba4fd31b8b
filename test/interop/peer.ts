import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export { PYTHON } from '../pickle/support';
import { PYTHON } from '../pickle/support';
const SCRIPT = join(__dirname, '..', '..', '..', 'test', 'interop', 'celery_peer.py');

/** Runs one command in a fresh Python process with real Celery, and returns its JSON answer. */
export function celery<T>(command: Record<string, unknown>): T {
  const run = spawnSync(PYTHON, [SCRIPT], { input: `${JSON.stringify(command)}\n`, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`celery_peer ${String(command.command)} failed (${run.status}): ${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** A Celery worker process for a cold start: resolves `ready` once it waits for go. */
export function celeryWorker(url: string, taskIds: string[]): { ready: Promise<void>; go(): void; report: Promise<{ stored: number; errors: string[] }> } {
  const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${JSON.stringify({ command: 'worker', url, task_ids: taskIds })}\n`);
  let out = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const report = new Promise<{ stored: number; errors: string[] }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith('ready\n')) markReady();
    });
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as { stored: number; errors: string[] });
      } catch {
        reject(new Error(`celery worker exited with ${code} without a report: ${out}`));
      }
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), report };
}
