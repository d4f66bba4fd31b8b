import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import { AppModule, type AppOptions } from './app.module.js';

/** Starts the app on a port (0: any free one) and resolves once it serves. */
export async function bootstrap(port: number, options: AppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.register(options), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(port, '127.0.0.1');
  return app;
}
