import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TaskResultModule, safeDataSourceFactory } from 'typeorm-result-backend/nestjs';
import { GroupsController } from './groups.controller.js';

export interface AppOptions {
  /** Plain TypeORM instead of safeDataSourceFactory: only to show the race it prevents. */
  unsafe?: boolean;
  /** Nest's own retry of a failing DataSource factory; `onRetry` sees each error it retries. */
  retryAttempts?: number;
  retryDelay?: number;
  onRetry?: (error: unknown) => void;
}

@Module({})
export class AppModule {
  static register(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            type: 'postgres',
            url: process.env.DATABASE_URL,
            applicationName: 'example-nestjs',
            autoLoadEntities: true, // TaskResultModule registers TaskMeta and TaskSetMeta
            synchronize: true, // run under the advisory lock by safeDataSourceFactory
            retryAttempts: options.retryAttempts ?? 10,
            retryDelay: options.retryDelay ?? 3000,
            toRetry: (error: unknown) => {
              options.onRetry?.(error);
              return true;
            },
          }),
          ...(options.unsafe ? {} : { dataSourceFactory: safeDataSourceFactory({ lockTimeoutMs: 30_000 }) }),
        }),
        TaskResultModule.forRoot({ recheckIntervalMs: 1000 }),
      ],
      controllers: [GroupsController],
    };
  }
}
