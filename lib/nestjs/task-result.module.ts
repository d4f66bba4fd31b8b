import { BeforeApplicationShutdown, ConfigurableModuleBuilder, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { ResultBackend } from '../backend/result-backend';
import { resolveEntities } from '../backend/tables';
import type { ResultBackendOptions } from '../options';
import { getResultBackendToken } from './tokens';

/** The backend's own options; everything ResultBackend takes except `entities`, which is fixed when the module is defined. */
export type TaskResultModuleOptions = Omit<ResultBackendOptions, 'entities'>;

/**
 * What must be known when the module is defined, for `forRoot` and
 * `forRootAsync` alike: the entities are registered with
 * `TypeOrmModule.forFeature` then (so `autoLoadEntities` finds them).
 */
export interface TaskResultModuleExtras {
  /** `{ task, group }`, or what `defineCeleryEntities()` returns. @defaultValue TaskMeta and TaskSetMeta */
  entities?: ResultBackendOptions['entities'];
  /** A name for apps with several backends; inject it with `@InjectResultBackend(name)`. @defaultValue the default backend */
  name?: string;
  /** The TypeORM data source to use: its name, options or instance, as `TypeOrmModule.forFeature` takes it. @defaultValue the default one */
  dataSource?: DataSource | DataSourceOptions | string;
  /** Make the backend injectable everywhere without importing the module again. @defaultValue false */
  isGlobal?: boolean;
}

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<TaskResultModuleOptions>({
  moduleName: 'TaskResult',
})
  .setClassMethodName('forRoot')
  .setExtras<TaskResultModuleExtras>({}, (definition, extras) => withBackend(definition, extras))
  .build();

/** Closes a backend's LISTEN connection before TypeORM destroys the DataSource (onApplicationShutdown). */
class BackendCloser implements BeforeApplicationShutdown {
  constructor(private readonly backend: ResultBackend) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.backend.close();
  }
}

function withBackend(definition: DynamicModule, extras: TaskResultModuleExtras): DynamicModule {
  const { task, group } = resolveEntities(extras.entities);
  const token = getResultBackendToken(extras.name);
  const backend: Provider = {
    provide: token,
    inject: [MODULE_OPTIONS_TOKEN, getDataSourceToken(extras.dataSource)],
    useFactory: (options: TaskResultModuleOptions & TaskResultModuleExtras, dataSource: DataSource) => {
      const { entities: _e, name: _n, dataSource: _d, isGlobal: _g, ...backendOptions } = options ?? {};
      return new ResultBackend(dataSource, { ...backendOptions, entities: { task, group } });
    },
  };
  const closer: Provider = { provide: BackendCloser, inject: [token], useFactory: (b: ResultBackend) => new BackendCloser(b) };
  return {
    ...definition,
    global: extras.isGlobal,
    imports: [...(definition.imports ?? []), TypeOrmModule.forFeature([task, group], extras.dataSource)],
    providers: [...(definition.providers ?? []), backend, closer],
    exports: [...(definition.exports ?? []), token],
  };
}

/**
 * Registers Celery's result tables with TypeORM (`forFeature`) and provides
 * an injectable {@link ResultBackend} on the app's DataSource, closed on
 * application shutdown.
 *
 * ```ts
 * TaskResultModule.forRoot({ expiresMs: 86_400_000 })
 * TaskResultModule.forRootAsync({ inject: [ConfigService], useFactory: (c: ConfigService) => ({ codec: c.get('CODEC') }) })
 * ```
 */
@Module({})
export class TaskResultModule extends ConfigurableModuleClass {}

export type TaskResultModuleForRootOptions = typeof OPTIONS_TYPE;
export type TaskResultModuleForRootAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
