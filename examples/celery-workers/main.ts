/**
 * Real Celery workers compute; Node syncs the schema first (the deploy step),
 * then joins the results the workers store. Needs Debian's python3-celery,
 * python3-sqlalchemy and python3-psycopg2, and RabbitMQ at 127.0.0.1:5672;
 * see README.md for the workers. With no DATABASE_URL it starts an embedded
 * PostgreSQL and its own two workers.
 *
 *   npm run build && node dist/examples/celery-workers/main.js
 */
import 'reflect-metadata';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ResultBackend, SafeSynchronizer, TaskMeta, TaskSetMeta } from '../../lib';
import { createDatabase, dropDatabase, startPostgres } from '../support/postgres';

const PYTHON = '/usr/bin/python3';
const HERE = join(__dirname, '..', '..', '..', 'examples', 'celery-workers');

function startWorkers(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const worker = spawn(PYTHON, ['-m', 'celery', '-A', 'proj', 'worker', '--pool=prefork', '-c', '2', '-n', `example-${process.pid}@%h`, '--without-mingle', '--without-gossip', '--loglevel=INFO'], {
    cwd: HERE,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const seen = (d: Buffer) => {
      log += d.toString();
      if (/ ready\./.test(log)) resolve(worker);
    };
    worker.stdout!.on('data', seen);
    worker.stderr!.on('data', seen);
    worker.once('exit', (code) => reject(new Error(`the worker exited with ${code}:\n${log.slice(-1500)}`)));
  });
}

async function main(): Promise<void> {
  const server = await startPostgres();
  const name = `trb_workers_${process.pid}`;
  const url = await createDatabase(server.url, name);
  const env = { ...process.env, DATABASE_URL: url, CELERY_QUEUE: `trb-example-${process.pid}`, PYTHONPATH: HERE };
  let worker: ChildProcess | undefined;
  try {
    // The deploy step: the schema exists before any worker stores its first result,
    // so the workers' own create_all finds it and never races.
    const dataSource = await SafeSynchronizer.initialize(
      new DataSource({ type: 'postgres', url, applicationName: 'celery-workers-example', entities: [TaskMeta, TaskSetMeta], synchronize: true }),
      { onSynchronized: (r) => console.log(`node: schema ready (${r.statements.length} statement(s))`) },
    );
    worker = await startWorkers(env);
    console.log('python: a prefork worker is ready');
    const sent = JSON.parse(execFileSync(PYTHON, [join(HERE, 'send.py')], { cwd: HERE, env, encoding: 'utf8' })) as { group: string; chord: string; header: string };
    console.log('python: sent a group of 5 squares and a chord of 3 squares summed, and saved both groups');
    const backend = new ResultBackend(dataSource, { codec: 'celery', recheckIntervalMs: 200 }); // Celery never NOTIFYs: re-read often
    try {
      console.log(`node: group joined ${JSON.stringify(await backend.joinGroup<number>(sent.group, { timeoutMs: 30_000 }))}`);
      console.log(`node: chord header ${JSON.stringify(await backend.joinGroup<number>(sent.header, { timeoutMs: 30_000 }))}, body ${await backend.waitForResult<number>(sent.chord, { timeoutMs: 30_000 })}`);
    } finally {
      await backend.close();
      await dataSource.destroy();
    }
  } finally {
    worker?.kill('SIGTERM');
    if (worker && worker.exitCode === null) await new Promise((resolve) => worker!.once('exit', resolve));
    execFileSync(PYTHON, ['-c', `from proj import app\nwith app.connection_for_write() as c: c.default_channel.queue_delete('${env.CELERY_QUEUE}')`], { cwd: HERE, env });
    await dropDatabase(server.url, name);
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
