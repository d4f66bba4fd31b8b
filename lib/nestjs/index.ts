/**
 * typeorm-result-backend/nestjs: the NestJS integration, a subpath of its own
 * so that the main entry never loads Nest. `@nestjs/common`, `@nestjs/core`
 * and `@nestjs/typeorm` are optional peer dependencies.
 */
export { TaskResultModule } from './task-result.module';
export type { TaskResultModuleOptions, TaskResultModuleExtras, TaskResultModuleForRootOptions, TaskResultModuleForRootAsyncOptions } from './task-result.module';
export { InjectResultBackend, getResultBackendToken } from './tokens';
export { safeDataSourceFactory } from './safe-data-source-factory';
