import { DataSource, DataSourceOptions } from 'typeorm';
import { ResultBackend, ResultBackendOptions, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { postgresOptions } from './database';

export interface BackendFixture {
  ds: DataSource;
  backend: ResultBackend;
  close(): Promise<void>;
}

/** A DataSource synced through SafeSynchronizer and a ResultBackend on it. */
export async function openBackend(
  url: string,
  options: ResultBackendOptions = {},
  dsOptions: Partial<DataSourceOptions> = {},
): Promise<BackendFixture> {
  const entities = (dsOptions as { entities?: unknown[] }).entities ?? [TaskMeta, TaskSetMeta];
  const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(url, { synchronize: true, ...dsOptions, entities } as Partial<DataSourceOptions>)));
  const backend = new ResultBackend(ds, options);
  return {
    ds,
    backend,
    close: async () => {
      await backend.close();
      await ds.destroy();
    },
  };
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
