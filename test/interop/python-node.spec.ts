import { expect } from 'chai';
import { DataSource } from 'typeorm';
import {
  PyDate,
  PyDecimal,
  PyFrozenSet,
  PyTime,
  PyTimedelta,
  PyUUID,
  ResultBackend,
  SafeSynchronizer,
  TaskFailedError,
  TaskMeta,
  TaskSetMeta,
  tuple,
} from '../../lib';
import { runFleet } from '../../examples/support/fleet';
import { openBackend, rejection } from '../support/backend';
import { postgresOptions, useTestDatabase, withFreshDatabase } from '../support/database';
import { query } from '../support/pg-client';
import { celery, celeryWorker } from './peer';
import type { BackendWorkerConfig, BackendWorkerReport } from '../concurrency/backend-worker';
import { join } from 'node:path';

/** The table for the closing note: value type × direction → outcome. */
const outcomes: string[] = [];
after(() => {
  if (outcomes.length) console.log(`\n    interop outcomes:\n${outcomes.map((o) => `      ${o}`).join('\n')}`);
});

/** Python stores `expr`; Node must read `expected`. */
const PYTHON_TO_NODE: [string, string, unknown][] = [
  ['None', 'None', null],
  ['bool', 'True', true],
  ['int', '42', 42],
  ['int beyond 2^53', '2**70', 2n ** 70n],
  ['negative big int', '-2**64', -(2n ** 64n)],
  ['float', '3.14', 3.14],
  ['str (unicode)', "'héllo wörld ✓ 日本語 😀'", 'héllo wörld ✓ 日本語 😀'],
  ['bytes', "b'\\x00\\xffab'", Buffer.from([0, 255, 97, 98])],
  ['bytearray', "bytearray(b'xy')", Buffer.from('xy')],
  ['list', "[1, 'a', None, 2.5, True]", [1, 'a', null, 2.5, true]],
  ['tuple', '(1, 2)', tuple(1, 2)],
  ['dict', "{'a': {'b': [1, 2, {'c': None}]}, 'x': 'y'}", { a: { b: [1, 2, { c: null }] }, x: 'y' }],
  ['dict with int keys', "{1: 'x', 2: 'y'}", new Map([[1, 'x'], [2, 'y']])],
  ['set', '{1, 2, 3}', new Set([1, 2, 3])],
  ['frozenset', "frozenset({'a'})", new PyFrozenSet(['a'])],
  ['datetime', 'datetime.datetime(2026, 1, 2, 3, 4, 5, 678000)', new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678))],
  ['date', 'datetime.date(2026, 1, 2)', new PyDate(2026, 1, 2)],
  ['time', 'datetime.time(13, 14, 15, 16)', new PyTime(13, 14, 15, 16)],
  ['timedelta', 'datetime.timedelta(days=1, seconds=2, microseconds=3)', new PyTimedelta(1, 2, 3)],
  ['Decimal', "decimal.Decimal('1.10')", new PyDecimal('1.10')],
  ['UUID', "uuid.UUID('12345678-1234-5678-1234-567812345678')", new PyUUID('12345678-1234-5678-1234-567812345678')],
];

/** Node stores `value` with the celery codec; Python must read a value equal to `expect`. */
const NODE_TO_PYTHON: [string, unknown, string][] = [
  ['bool', true, 'True'],
  ['int', 42, '42'],
  ['int beyond 2^53 (bigint)', 2n ** 70n, '2**70'],
  ['float', 3.14, '3.14'],
  ['str (unicode)', 'héllo wörld ✓ 日本語 😀', "'héllo wörld ✓ 日本語 😀'"],
  ['bytes', Buffer.from([0, 255, 97, 98]), "b'\\x00\\xffab'"],
  ['list', [1, 'a', null, 2.5, true], "[1, 'a', None, 2.5, True]"],
  ['tuple', tuple(1, 2), '(1, 2)'],
  ['dict', { a: { b: [1, 2, { c: null }] }, x: 'y' }, "{'a': {'b': [1, 2, {'c': None}]}, 'x': 'y'}"],
  ['Map with int keys', new Map([[1, 'x']]), "{1: 'x'}"],
  ['set', new Set([1, 2, 3]), '{1, 2, 3}'],
  ['frozenset', new PyFrozenSet(['a']), "frozenset({'a'})"],
  ['Date → datetime', new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), 'datetime.datetime(2026, 1, 2, 3, 4, 5, 678000)'],
  ['date', new PyDate(2026, 1, 2), 'datetime.date(2026, 1, 2)'],
  ['time', new PyTime(13, 14, 15, 16), 'datetime.time(13, 14, 15, 16)'],
  ['timedelta', new PyTimedelta(1, 2, 3), 'datetime.timedelta(days=1, seconds=2, microseconds=3)'],
  ['Decimal', new PyDecimal('1.10'), "decimal.Decimal('1.10')"],
  ['UUID', new PyUUID('12345678-1234-5678-1234-567812345678'), "uuid.UUID('12345678-1234-5678-1234-567812345678')"],
];

interface PyRead {
  status: string;
  repr: string;
  equal?: boolean;
  get_equal?: boolean | null;
  name?: string | null;
  args?: unknown;
  kwargs?: unknown;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  date_done_naive: boolean;
}

describe('Sharing the tables with real Python Celery 5.2.6', function () {
  this.timeout(180_000);
  const db = useTestDatabase();

  describe('Python stores, Node reads', () => {
    it('every value type', async () => {
      const url = db.current().url;
      celery({ command: 'store', url, items: PYTHON_TO_NODE.map(([label, expr]) => ({ task_id: `py-${label}`, expr, state: 'SUCCESS' })) });
      const f = await openBackend(url);
      try {
        for (const [label, , expected] of PYTHON_TO_NODE) {
          const meta = await f.backend.getTaskMeta(`py-${label}`);
          expect(meta.status, label).to.equal('SUCCESS');
          expect(meta.result, label).to.deep.equal(expected);
          expect(await f.backend.waitForResult(`py-${label}`, { timeoutMs: 5000 }), label).to.deep.equal(expected);
          outcomes.push(`Python → Node  ${label.padEnd(26)} equal`);
        }
      } finally {
        await f.close();
      }
    });

    it('FAILURE with an exception, as TaskFailedError', async () => {
      const url = db.current().url;
      celery({ command: 'store', url, items: [
        { task_id: 'py-fail', expr: "ValueError('boom', 2)", state: 'FAILURE', traceback: 'Traceback (most recent call last):\nValueError: boom' },
        { task_id: 'py-timeout', expr: "celery_exceptions.TimeLimitExceeded(30)", state: 'FAILURE' },
      ] });
      const f = await openBackend(url);
      try {
        const error = await rejection(f.backend.waitForResult('py-fail', { timeoutMs: 5000 }));
        expect(error).to.be.instanceOf(TaskFailedError);
        expect(error).to.deep.include({ excType: 'ValueError', excModule: 'builtins', traceback: 'Traceback (most recent call last):\nValueError: boom' });
        expect([...(error as TaskFailedError).excMessage]).to.deep.equal(['boom', 2]);
        const timeout = await f.backend.getTaskMeta('py-timeout');
        expect(timeout.result).to.deep.include({ exc_type: 'TimeLimitExceeded', exc_module: 'billiard.exceptions' });
        outcomes.push('Python → Node  FAILURE (ValueError, TimeLimitExceeded) TaskFailedError with exc_type/exc_message/exc_module');
      } finally {
        await f.close();
      }
    });

    it('STARTED, RETRY and custom states, and the result_extended columns', async () => {
      const url = db.current().url;
      const request = { task: 'proj.tasks.add', args: [2, 'x', { k: [1, 2] }], kwargs: { flag: true, name: 'café' }, hostname: 'celery@worker1', retries: 1, delivery_info: { routing_key: 'default' } };
      celery({ command: 'store', url, extended: true, items: [
        { task_id: 'py-started', expr: "{'pid': 123, 'hostname': 'w1@h'}", state: 'STARTED' },
        { task_id: 'py-retry', expr: "KeyError('later')", state: 'RETRY' },
        { task_id: 'py-progress', expr: "{'done': 3, 'total': 10}", state: 'PROGRESS' },
        { task_id: 'py-ext', expr: "{'sum': 3}", state: 'SUCCESS', request },
      ] });
      const f = await openBackend(url, { customStates: ['PROGRESS'] });
      try {
        expect(await f.backend.getTaskMeta('py-started')).to.deep.include({ status: 'STARTED', result: { pid: 123, hostname: 'w1@h' }, dateDone: null });
        expect((await f.backend.getTaskMeta('py-retry')).result).to.deep.include({ exc_type: 'KeyError', exc_module: 'builtins' });
        expect(await f.backend.getTaskMeta('py-progress')).to.deep.include({ status: 'PROGRESS', result: { done: 3, total: 10 } });
        expect(await f.backend.getTaskMeta('py-ext')).to.deep.include({
          status: 'SUCCESS', result: { sum: 3 }, name: 'proj.tasks.add', args: [2, 'x', { k: [1, 2] }], kwargs: { flag: true, name: 'café' }, worker: 'celery@worker1', retries: 1, queue: 'default',
        });
        // A late STARTED from Node does not overwrite Python's SUCCESS.
        expect(await f.backend.markAsStarted('py-ext')).to.deep.equal({ applied: false });
        outcomes.push('Python → Node  STARTED / RETRY / custom state / extended columns  equal');
      } finally {
        await f.close();
      }
    });

    it("cleanup: Celery's backend_cleanup and the package's cleanup(), in either order, expire only what each should", async () => {
      const url = db.current().url;
      const f = await openBackend(url, { codec: 'celery', expiresMs: 86_400_000, unfinishedExpiresMs: 7 * 86_400_000 });
      try {
        for (const order of [['node', 'celery'], ['celery', 'node']]) {
          await query(url, 'TRUNCATE celery_taskmeta');
          celery({ command: 'store', url, items: [{ task_id: 'py-old', expr: "'old'", state: 'SUCCESS' }, { task_id: 'py-running', expr: 'None', state: 'STARTED' }] });
          await f.backend.markAsDone('node-old', 'old');
          await f.backend.markAsStarted('node-running');
          await f.backend.markAsDone('node-new', 'new');
          const [first, second] = order;
          const clean = async (side: string) => (side === 'node' ? f.backend.cleanup() : celery({ command: 'backend_cleanup', url, expires_seconds: 86_400 }));
          await clean(first);
          // Two days pass, for every date either side keeps (naive UTC): past Celery's one-day result_expires,
          // short of the package's seven-day horizon for unfinished rows.
          await query(url, "UPDATE celery_taskmeta SET date_done = date_done - interval '2 days'");
          await query(url, "DO $$ BEGIN IF to_regclass('celery_taskmeta_first_seen') IS NOT NULL THEN UPDATE celery_taskmeta_first_seen SET first_seen = first_seen - interval '2 days'; END IF; END $$");
          await clean(second);
          const left = (await query<{ task_id: string; status: string; date_done: Date | null }>(url, 'SELECT task_id, status, date_done FROM celery_taskmeta ORDER BY task_id'))
            .map((r) => `${r.task_id} ${r.status} ${r.date_done ? 'dated' : 'undated'}`);
          // Every finished row is gone, whoever removed it; both running tasks, Python's and Node's, are kept.
          expect(left, order.join(' then ')).to.deep.equal(['node-running STARTED undated', 'py-running STARTED undated']);
          // And Python still reads a running task as running, with no date.
          const read = celery<Record<string, { status: string; date_done_naive: boolean }>>({ command: 'read', url, items: [{ task_id: 'node-running' }] });
          expect(read['node-running']).to.deep.include({ status: 'STARTED', date_done_naive: false });
        }
      } finally {
        await f.close();
      }
      outcomes.push('cleanup        backend_cleanup + cleanup() either order   running rows kept, expired ones gone');
    });

    it('groups: Node joins a group a Celery app saved (app.GroupResult, pickled as _unpickle_appattr)', async () => {
      const url = db.current().url;
      celery({ command: 'store', url, items: [{ task_id: 'ag-a', expr: "'A'", state: 'SUCCESS' }, { task_id: 'ag-b', expr: "'B'", state: 'SUCCESS' }] });
      celery({ command: 'save_group', url, group_id: 'app-group', task_ids: ['ag-a', 'ag-b'], app_bound: true });
      const [{ result }] = await query<{ result: Buffer }>(url, "SELECT result FROM celery_tasksetmeta WHERE taskset_id = 'app-group'");
      expect(result.toString('latin1'), 'the app-bound form').to.contain('_unpickle_appattr').and.contain('postgresql');
      const f = await openBackend(url, { codec: 'celery' });
      try {
        expect(await f.backend.joinGroup('app-group', { timeoutMs: 5000 })).to.deep.equal(['A', 'B']);
        expect(JSON.stringify(await f.backend.restoreGroup('app-group'))).not.to.contain('postgres');
        outcomes.push('Python → Node  group (app.GroupResult)  _unpickle_appattr read; ids and values joined');
      } finally {
        await f.close();
      }
    });

    it('groups: Node restores and joins a group that Python saved', async () => {
      const url = db.current().url;
      celery({ command: 'store', url, items: [{ task_id: 'g-a', expr: "'A'", state: 'SUCCESS' }, { task_id: 'g-b', expr: "'B'", state: 'SUCCESS' }] });
      celery({ command: 'save_group', url, group_id: 'py-group', task_ids: ['g-a', 'g-b'] });
      const f = await openBackend(url);
      try {
        expect(await f.backend.restoreGroup('py-group')).to.deep.include({ groupId: 'py-group', taskIds: ['g-a', 'g-b'] });
        expect(await f.backend.joinGroup('py-group', { timeoutMs: 5000 })).to.deep.equal(['A', 'B']);
        const [{ result }] = await query<{ result: Buffer }>(url, "SELECT result FROM celery_tasksetmeta WHERE taskset_id = 'py-group'");
        expect(JSON.stringify(await f.backend.restoreGroup('py-group'))).not.to.contain('postgres');
        expect(result.toString('latin1'), 'Celery did embed the URL').to.contain('postgresql');
        outcomes.push('Python → Node  group (GroupResult)      ids and values joined; embedded URL dropped');
      } finally {
        await f.close();
      }
    });
  });

  describe('Node stores with the celery codec, Python reads', () => {
    it('every value type, through get_task_meta and AsyncResult.get()', async () => {
      const url = db.current().url;
      const f = await openBackend(url, { codec: 'celery' });
      try {
        for (const [label, value] of NODE_TO_PYTHON) await f.backend.markAsDone(`node-${label}`, value);
        await f.backend.markAsDone('node-None', null);
      } finally {
        await f.close();
      }
      const read = celery<Record<string, PyRead>>({ command: 'read', url, items: [...NODE_TO_PYTHON.map(([label, , expect]) => ({ task_id: `node-${label}`, expect })), { task_id: 'node-None', expect: 'None' }] });
      for (const [label] of [...NODE_TO_PYTHON, ['None']]) {
        const r = read[`node-${label}`];
        expect(r, label).to.include({ status: 'SUCCESS', equal: true, get_equal: true, date_done_naive: true });
        outcomes.push(`Node → Python  ${String(label).padEnd(26)} equal (${r.repr.slice(0, 40)})`);
      }
    });

    it('FAILURE as the Python exception, STARTED and custom states, and the extended columns', async () => {
      const url = db.current().url;
      const f = await openBackend(url, { codec: 'celery', customStates: ['PROGRESS'] });
      try {
        await f.backend.markAsFailure('node-fail', new TypeError('boom'));
        await f.backend.markAsStarted('node-started', { pid: 7 });
        await f.backend.storeResult('node-progress', { done: 1 }, 'PROGRESS');
        await f.backend.storeResult('node-ext', { sum: 3 }, 'SUCCESS', { name: 'proj.add', args: [2, 'x'], kwargs: { name: 'café' }, worker: 'node@w1', retries: 2, queue: 'q1' });
      } finally {
        await f.close();
      }
      const read = celery<Record<string, PyRead>>({ command: 'read', url, extended: true, items: [
        { task_id: 'node-fail', expect: "TypeError('boom')" },
        { task_id: 'node-started', expect: "{'pid': 7}" },
        { task_id: 'node-progress', expect: "{'done': 1}" },
        { task_id: 'node-ext', expect: "{'sum': 3}" },
      ] });
      expect(read['node-fail']).to.include({ status: 'FAILURE', equal: true });
      expect(read['node-started']).to.include({ status: 'STARTED', equal: true });
      expect(read['node-progress']).to.include({ status: 'PROGRESS', equal: true });
      expect(read['node-ext']).to.deep.include({ status: 'SUCCESS', equal: true, name: 'proj.add', args: [2, 'x'], kwargs: { name: 'café' }, worker: 'node@w1', retries: 2, queue: 'q1' });
      outcomes.push('Node → Python  FAILURE / STARTED / custom state / extended columns  equal (TypeError rebuilt by Celery)');
    });

    it('groups: GroupResult.restore works on a group saved from Node', async () => {
      const url = db.current().url;
      const f = await openBackend(url, { codec: 'celery' });
      try {
        await f.backend.markAsDone('n-a', 1);
        await f.backend.markAsDone('n-b', { two: 2 });
        await f.backend.saveGroup('node-group', ['n-a', 'n-b']);
      } finally {
        await f.close();
      }
      const restored = celery<{ found: boolean; id: string; task_ids: string[]; values: string[] }>({ command: 'restore_group', url, group_id: 'node-group' });
      expect(restored).to.deep.equal({ found: true, id: 'node-group', task_ids: ['n-a', 'n-b'], values: ['1', "{'two': 2}"] });
      outcomes.push('Node → Python  group                    GroupResult.restore + get() equal');
    });
  });

  it('mixed cold start: Python workers (create_all) and Node workers (SafeSynchronizer) start together on a fresh database', async () => {
    const tally = { trials: 0, nodeErrors: 0, pythonErrors: [] as string[], rows: 0 };
    for (let trial = 0; trial < 3; trial++) {
      await withFreshDatabase('mixed_celery', async (fresh) => {
        const pyIds = (w: number) => Array.from({ length: 3 }, (_, i) => `py-${trial}-${w}-${i}`);
        const nodeIds = (w: number) => Array.from({ length: 3 }, (_, i) => `node-${trial}-${w}-${i}`);
        const pythons = Array.from({ length: 3 }, (_, w) => celeryWorker(fresh.url, pyIds(w)));
        await Promise.all(pythons.map((p) => p.ready));
        const nodeConfigs = Array.from({ length: 3 }, (_, w): BackendWorkerConfig => ({ url: fresh.url, syncAfterGo: true, codec: 'celery', writes: nodeIds(w).map((id) => [id, 'SUCCESS', { from: 'node', id }]) }));
        const run = await runFleet<BackendWorkerConfig, BackendWorkerReport>(nodeConfigs, join(__dirname, '..', 'concurrency', 'backend-worker.js'), () => pythons.forEach((p) => p.go()));
        const reports = await Promise.all(pythons.map((p) => p.report));
        tally.trials++;
        tally.nodeErrors += run.reports.reduce((n, r) => n + r.errors.length, 0);
        tally.pythonErrors.push(...reports.flatMap((r) => r.errors));
        expect(run.reports.flatMap((r) => r.errors), 'Node errors').to.deep.equal([]);
        // The schema works for both: Node reads Python's rows, Python reads Node's.
        const ds = await SafeSynchronizer.initialize(new DataSource(postgresOptions(fresh.url, { entities: [TaskMeta, TaskSetMeta], synchronize: true })));
        const backend = new ResultBackend(ds);
        try {
          const storedByPython = (await query<{ task_id: string }>(fresh.url, "SELECT task_id FROM celery_taskmeta WHERE task_id LIKE 'py-%'")).map((r) => r.task_id);
          for (const id of storedByPython) expect(await backend.getTaskMeta(id)).to.deep.include({ status: 'SUCCESS', result: { from: 'python', id } });
          tally.rows += storedByPython.length;
        } finally {
          await backend.close();
          await ds.destroy();
        }
        const read = celery<Record<string, PyRead>>({ command: 'read', url: fresh.url, items: [0, 1, 2].flatMap((w) => nodeIds(w)).map((id) => ({ task_id: id, expect: `{'from': 'node', 'id': '${id}'}` })) });
        for (const r of Object.values(read)) expect(r).to.include({ status: 'SUCCESS', equal: true });
      });
    }
    console.log(`    mixed cold start: ${tally.trials} trials × (3 Python + 3 Node workers): Node errors ${tally.nodeErrors}, Python errors ${tally.pythonErrors.length}${tally.pythonErrors.length ? ` (${[...new Set(tally.pythonErrors)].slice(0, 2).join('; ')})` : ''}, Python rows read by Node ${tally.rows}`);
    outcomes.push(`mixed cold start: ${tally.trials} trials, Node errors ${tally.nodeErrors}, Python errors ${tally.pythonErrors.length}`);
  });
});
