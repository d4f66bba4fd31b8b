import { expect } from 'chai';
import {
  InvalidArgumentError,
  InvalidOptionError,
  InvalidTaskIdError,
  PayloadTooLargeError,
  ResultDecodeError,
  ResultBackend,
  ResultBackendOptions,
  SafeMigrator,
  SafeMigratorOptions,
  SafeSynchronizer,
  SafeSynchronizerOptions,
  TaskFailedError,
  UnencodableResultError,
  UnknownStateError,
} from '../../lib';
import { BackendFixture, openBackend, rejection } from '../support/backend';
import { useTestDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { dagFailurePickle, hugeIntPickle } from '../pickle/hostile';

describe('ResultBackend refuses bad input with a typed error and writes nothing', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  beforeEach(async () => {
    f = await openBackend(db.current().url, { customStates: ['PROGRESS'], maxPayloadBytes: 1024 });
  });
  afterEach(async () => f.close());

  const cases: [string, (b: ResultBackend) => Promise<unknown>, Function, RegExp][] = [
    ['an empty task id', (b) => b.storeResult('', 1, 'SUCCESS'), InvalidTaskIdError, /task id is an empty string.*1 to 155/],
    ['a task id over 155 characters', (b) => b.storeResult('x'.repeat(156), 1, 'SUCCESS'), InvalidTaskIdError, /156 characters long/],
    ['a task id that is not a string', (b) => b.storeResult(42 as unknown as string, 1, 'SUCCESS'), InvalidTaskIdError, /task id is 42/],
    ['an unknown state', (b) => b.storeResult('t', 1, 'SUCESS'), UnknownStateError, /"SUCESS" is not one of Celery's.*customStates/],
    ['a result with a BigInt', (b) => b.storeResult('t', { n: 10n }, 'SUCCESS'), UnencodableResultError, /BigInt 10n at result\.n/],
    ['a circular result', (b) => { const o: Record<string, unknown> = {}; o.self = o; return b.storeResult('t', o, 'SUCCESS'); }, UnencodableResultError, /circular reference at result\.self/],
    ['a function in the result', (b) => b.storeResult('t', [() => 1], 'SUCCESS'), UnencodableResultError, /a function at result\[0\]/],
    ['NaN in the result', (b) => b.storeResult('t', { x: NaN }, 'SUCCESS'), UnencodableResultError, /number NaN/],
    ['a Map in the result', (b) => b.storeResult('t', new Map([[1, 2]]), 'SUCCESS'), UnencodableResultError, /instance of Map/],
    ['a payload over maxPayloadBytes', (b) => b.storeResult('t', 'x'.repeat(2000), 'SUCCESS'), PayloadTooLargeError, /2002 bytes, over the limit of 1024/],
    ['args over maxPayloadBytes', (b) => b.storeResult('t', 1, 'SUCCESS', { args: ['y'.repeat(2000)] }), PayloadTooLargeError, /encoded args/],
    ['a traceback that is not a string', (b) => b.storeResult('t', 1, 'FAILURE', { traceback: 12 as unknown as string }), InvalidArgumentError, /traceback is 12/],
    ['a worker name over 155 characters', (b) => b.storeResult('t', 1, 'SUCCESS', { worker: 'w'.repeat(200) }), InvalidArgumentError, /worker .*200 characters/],
    ['negative retries', (b) => b.storeResult('t', 1, 'RETRY', { retries: -1 }), InvalidArgumentError, /retries is -1/],
    ['an extra field the entity does not have', (b) => b.storeResult('t', 1, 'SUCCESS', { extra: { tenant: 'a' } }), InvalidArgumentError, /extra\.tenant names no column/],
    ['a negative wait timeout', (b) => b.waitForResult('t', { timeoutMs: -5 }), InvalidArgumentError, /timeoutMs is -5/],
    ['a task id with a NUL character', (b) => b.storeResult('a\0b', 1, 'SUCCESS'), InvalidTaskIdError, /contains a NUL character/],
    ['a task id with a lone surrogate', (b) => b.storeResult('a\uD800b', 1, 'SUCCESS'), InvalidTaskIdError, /lone UTF-16 surrogate/],
    ['a wait on a task id with a lone low surrogate', (b) => b.waitForResult('\uDC00'), InvalidTaskIdError, /lone UTF-16 surrogate/],
    ['a group id that is empty', (b) => b.saveGroup('', ['a']), InvalidTaskIdError, /group id is an empty string/],
    ['a group member id that is too long', (b) => b.saveGroup('g', ['z'.repeat(300)]), InvalidTaskIdError, /300 characters long/],
  ];

  for (const [label, call, type, message] of cases) {
    it(label, async () => {
      const error = await rejection(call(f.backend));
      expect(error).to.be.instanceOf(type);
      expect((error as Error).message).to.match(message);
      expect(await query(db.current().url, 'SELECT count(*)::int AS n FROM celery_taskmeta'), 'rows written').to.deep.equal([{ n: 0 }]);
    });
  }

  it('accepts ids of 155 characters however many UTF-16 units they take, unicode and emoji included, and reads them back', async () => {
    const emoji = '😀'.repeat(155);
    for (const id of ['ü'.repeat(155), emoji, 'tâche-Ωμέγα-任务']) {
      await f.backend.markAsDone(id, id.length);
      expect((await f.backend.getTaskMeta(id)).result).to.equal(id.length);
    }
    expect(await rejection(f.backend.storeResult(`${emoji}x`, 1, 'SUCCESS'))).to.be.instanceOf(InvalidTaskIdError);
  });

  it('accepts a registered custom state, which is never ready', async () => {
    await f.backend.storeResult('t', { done: 3 }, 'PROGRESS');
    expect((await f.backend.getTaskMeta('t')).status).to.equal('PROGRESS');
    expect(await f.backend.forget('t')).to.equal(true);
  });

  it('refuses bad options when the backend is built', () => {
    expect(() => new ResultBackend(f.ds, { maxPayloadBytes: -1 })).to.throw(InvalidOptionError, /maxPayloadBytes/);
    expect(() => new ResultBackend(f.ds, { customStates: ['SUCCESS'] })).to.throw(InvalidOptionError, /customStates/);
    expect(() => new ResultBackend(f.ds, { codec: 'yaml' as unknown as 'json' })).to.throw(InvalidOptionError, /codec is "yaml"/);
    expect(() => new ResultBackend(f.ds, { listen: 'yes' as unknown as boolean })).to.throw(InvalidOptionError, /listen/);
  });

  it('refuses an option it does not know, naming the nearest one it does, instead of ignoring a typo', () => {
    const typo = { recheckIntervalMS: 0 } as unknown as ResultBackendOptions;
    expect(() => new ResultBackend(f.ds, typo))
      .to.throw(InvalidOptionError)
      .with.property('message')
      .that.contains('"recheckIntervalMS"')
      .and.contains('Did you mean "recheckIntervalMs"?');
    const unrelated = { colour: 'blue' } as unknown as ResultBackendOptions;
    expect(() => new ResultBackend(f.ds, unrelated)).to.throw(InvalidOptionError).with.property('message').that.does.not.contain('Did you mean');
  });

  it('the synchronizer and the migrator refuse unknown options too, and accept everything initialize() passes them', () => {
    expect(() => new SafeSynchronizer(f.ds, { lockTimeOutMs: 5 } as unknown as SafeSynchronizerOptions)).to.throw(InvalidOptionError, /Did you mean "lockTimeoutMs"/);
    expect(() => new SafeMigrator(f.ds, { transation: 'all' } as unknown as SafeMigratorOptions)).to.throw(InvalidOptionError, /Did you mean "transaction"/);
    const all = { lockTimeoutMs: 1, maxAttempts: 2, retryDelayMs: 3, verify: 'full', transaction: 'each', onSynchronized() {}, onMigrated() {} } as const;
    expect(() => new SafeSynchronizer(f.ds, all)).not.to.throw();
    expect(() => new SafeMigrator(f.ds, all)).not.to.throw();
  });
});

describe('a hostile stored row cannot stall the reader', () => {
  const db = useTestDatabase();
  let f: BackendFixture;
  beforeEach(async () => {
    f = await openBackend(db.current().url);
  });
  afterEach(async () => f.close());

  const storeFailure = (taskId: string, pickle: Buffer) =>
    query(db.current().url, "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), $1, 'FAILURE', $2, now())", [taskId, pickle]);

  it('waitForResult on a FAILURE row whose exc_message is a 40-level [a, a] DAG rejects with a short TaskFailedError', async () => {
    await storeFailure('dag', dagFailurePickle(40));
    const error = await rejection(f.backend.waitForResult('dag', { timeoutMs: 5000 }));
    expect(error).to.be.instanceOf(TaskFailedError);
    expect((error as TaskFailedError).message).to.match(/^Task dag failed with ValueError: \[/);
    expect((error as TaskFailedError).message.length).to.be.below(3000);
  });

  it('waitForResult on a FAILURE row whose exc_message is an 8 MB int (three times) names its size instead of printing it', async () => {
    await storeFailure('big', hugeIntPickle(8 * 1024 * 1024, true, 3, 'failure'));
    const error = await rejection(f.backend.waitForResult('big', { timeoutMs: 5000 }));
    expect(error).to.be.instanceOf(TaskFailedError);
    expect((error as TaskFailedError).message).to.match(/<negative int of (\d+|more than 1024) bits>/);
    expect((error as TaskFailedError).message.length).to.be.below(3000);
  });
  it('a wait reads only the outcome: args nobody can decode fail getTaskMeta, not waitForResult or joinGroup', async () => {
    // Celery with result_extended stores args; a wait returns only the value, so it neither reads nor decodes them.
    await query(
      db.current().url,
      "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done, args) VALUES (nextval('task_id_sequence'), 'x', 'SUCCESS', $1, now(), $2)",
      [Buffer.from('42'), Buffer.from([0x80, 0x05, 0xff, 0xfe])],
    );
    expect(await rejection(f.backend.getTaskMeta('x'))).to.be.instanceOf(ResultDecodeError).and.to.have.property('row').that.deep.equals({ kind: 'task', id: 'x', column: 'args' });
    expect(await f.backend.waitForResult('x', { timeoutMs: 5000 })).to.equal(42);
    await f.backend.saveGroup('g', ['x']);
    expect(await f.backend.joinGroup('g', { timeoutMs: 5000 })).to.deep.equal([42]);
  });
});
