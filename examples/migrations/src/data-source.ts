// The data source the CLI (`typeorm-result-backend migrate -d dist/data-source.js`) and main.ts share.
import 'reflect-metadata';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { TaskMeta, TaskSetMeta } from 'typeorm-result-backend';

export default new DataSource({
  type: 'postgres',
  url: process.env.DATABASE_URL,
  applicationName: 'example-migrations',
  entities: [TaskMeta, TaskSetMeta],
  migrations: [join(__dirname, 'migrations', '*.js')],
  synchronize: false,
});
