import { DataSource, type DataSourceOptions } from 'typeorm';
import { InvalidOptionError } from '../errors';
import { SafeSynchronizer, type SafeInitializeOptions } from '../sync/safe-synchronizer';

/**
 * A `dataSourceFactory` for `TypeOrmModule.forRootAsync`: builds the DataSource
 * and initializes it through {@link SafeSynchronizer.initialize}, so that
 * `migrationsRun` and `synchronize` run under the advisory lock in every
 * replica. Nest then finds it initialized and uses it as it is. On failure the
 * DataSource is destroyed before the error reaches Nest, so Nest's retry
 * (`retryAttempts`, `retryDelay`) starts from a clean one.
 */
export function safeDataSourceFactory(options?: SafeInitializeOptions): (dataSourceOptions?: DataSourceOptions) => Promise<DataSource> {
  return async (dataSourceOptions?: DataSourceOptions) => {
    if (dataSourceOptions === undefined) {
      throw new InvalidOptionError(
        'safeDataSourceFactory was called without DataSource options. Pass it as dataSourceFactory to TypeOrmModule.forRootAsync ' +
          'together with a useFactory (or useClass) that returns the options.',
      );
    }
    return SafeSynchronizer.initialize(new DataSource(dataSourceOptions), options);
  };
}
