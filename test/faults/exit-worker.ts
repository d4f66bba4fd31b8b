/**
 * A process that opens a ResultBackend, lets it open its LISTEN connection,
 * then destroys the DataSource without closing the backend, and returns from
 * main: it should exit by itself. With `raw`, it leaves a plain pg Client open
 * instead: the control, which keeps a process alive.
 */
import 'reflect-metadata';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

async function main(): Promise<void> {
  const [url, mode] = process.argv.slice(2);
  if (mode === 'raw') {
    const client = new Client({ connectionString: url });
    await client.connect();
    process.stdout.write('left a client open\n');
    return;
  }
  const ds = await SafeSynchronizer.initialize(new DataSource({ type: 'postgres', url, entities: [TaskMeta, TaskSetMeta], synchronize: true }));
  const backend = new ResultBackend(ds);
  // Not ready: the wait opens the LISTEN connection, then times out.
  await backend.waitForResult('never', { timeoutMs: 200 }).catch(() => undefined);
  await ds.destroy();
  process.stdout.write('destroyed the DataSource, never closed the backend\n');
}

main().catch((error) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
