import { ChildProcess, fork } from 'node:child_process';

export interface FleetRun<R> {
  reports: R[];
  /** From the release of the barrier until the last process finished its initialization. */
  allReadyMs: number;
}

/**
 * Starts one OS process per config, waits until every one has loaded and built
 * its DataSource, then releases them all at once, like replicas that start
 * together against a new database.
 */
export async function runFleet<C, R>(
  configs: C[],
  script: string,
  onReleased?: () => void,
  /** Every other message a worker sends (progress, samples), with the worker's index. */
  onMessage?: (worker: number, message: unknown) => void,
  /** Runs once every worker is ready, before they are released. */
  beforeRelease?: () => Promise<void>,
): Promise<FleetRun<R>> {
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<R>[] = [];
  for (const [index, config] of configs.entries()) {
    const child = fork(script, [], { env: { ...process.env, TRB_WORKER_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    ready.push(new Promise((resolve, reject) => {
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected first message ${JSON.stringify(m)}`))));
      child.once('close', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    }));
    done.push(new Promise((resolve, reject) => {
      child.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && 'report' in m) resolve((m as { report: R }).report);
        else if (m !== 'ready') onMessage?.(index, m);
      });
      // 'close', not 'exit': only by then have all of its IPC messages been delivered.
      child.once('close', (code) => reject(new Error(`worker exited with ${code} without a report`)));
    }));
  }
  // A worker that dies early rejects both of its promises; only the first is awaited.
  for (const p of [...ready, ...done]) p.catch(() => undefined);
  try {
    await Promise.all(ready);
    await beforeRelease?.();
    const released = performance.now();
    for (const child of children) child.send('go');
    onReleased?.();
    const reports = await Promise.all(done);
    return { reports, allReadyMs: performance.now() - released };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}
