/** A Node service starting up: SafeSynchronizer on the database the Celery workers are creating at the same moment. */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';

async function main(): Promise<void> {
  const ds = await SafeSynchronizer.initialize(
    new DataSource({ type: 'postgres', url: process.env.TRB_SERVICE_URL, applicationName: 'trb-node-service', entities: [TaskMeta, TaskSetMeta], synchronize: true }),
  );
  const backend = new ResultBackend(ds, { codec: 'celery' });
  await backend.markAsDone(`node-service-${process.pid}`, 'up');
  await backend.close();
  await ds.destroy();
}

main().then(
  () => process.send?.({ ok: true }, () => process.exit(0)),
  (error: unknown) => process.send?.({ ok: false, error: error instanceof Error ? error.message : String(error) }, () => process.exit(1)),
);
