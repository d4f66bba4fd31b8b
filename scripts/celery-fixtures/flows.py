#!/usr/bin/python3
"""
Records what real Celery 5.2.6 workers write for whole flows, into
test/fixtures/celery/flows.json: delay, apply_async, a group saved by the
client, a chain, a chord, a failure, a retry, a revoked task, result_extended.
The rows come from real `celery worker --pool=prefork` processes on a broker,
not from classes built by hand. Run it with Debian's interpreter:

    /usr/bin/python3 scripts/celery-fixtures/flows.py postgresql://postgres@127.0.0.1:5432/postgres [amqp://guest:guest@127.0.0.1:5672//]

It makes a throwaway database and queue, starts two workers with the app in
test/interop/celery_app/proj.py, drops both at the end.
"""
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
APP_DIR = os.path.join(ROOT, 'test', 'interop', 'celery_app')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'celery', 'flows.json')
sys.path.insert(0, HERE)
from generate import GROUP_COLUMNS, row_reader, with_database  # noqa: E402


def main(server_url, broker):
    import psycopg2
    db = f'trb_flows_{uuid.uuid4().hex[:8]}'
    queue = f'trb_flows_{uuid.uuid4().hex[:8]}'
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {db}')
    env = dict(os.environ, TRB_CELERY_DB=with_database(server_url, db, password='fx_plain'), TRB_CELERY_QUEUE=queue,
               TRB_CELERY_BROKER=broker, PYTHONPATH=APP_DIR)
    os.environ.update(env)
    workers = [subprocess.Popen([sys.executable, '-m', 'celery', '-A', 'proj', 'worker', '--pool=prefork', '-c', '2', '-n', f'fx{i}-{queue}@%h',
                                 '-Q', queue, '--without-mingle', '--without-gossip', '--loglevel=WARNING'], cwd=APP_DIR, env=env)
               for i in range(2)]
    try:
        run(with_database(server_url, db), queue)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
        sys.path.insert(0, APP_DIR)
        from proj import app
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {db} WITH (FORCE)')
        admin.close()


def run(plain_url, queue):
    import psycopg2
    sys.path.insert(0, APP_DIR)
    from celery import chain, chord, group
    from proj import add, app, fail, flaky, launch_chain, launch_group, retry_later, sleepy, square, xsum

    conn = psycopg2.connect(plain_url)
    conn.autocommit = True

    row = row_reader(conn)

    flows = []

    def record(case, call, tasks, groups=(), python=None):
        flows.append({
            'case': case, 'call': call,
            'tasks': {t: row(t) for t in tasks},
            'groups': {g: row(g, 'celery_tasksetmeta', 'taskset_id', GROUP_COLUMNS) for g in groups},
            'python': python,
        })

    r = square.delay(7)
    record('delay', 'square.delay(7)', [r.id], python=repr(r.get(timeout=60)))

    r = add.apply_async((2, 3), countdown=0.1)
    record('apply_async', 'add.apply_async((2, 3), countdown=0.1)', [r.id], python=repr(r.get(timeout=60)))

    g = group(square.s(i) for i in range(3)).apply_async()
    g.save()
    values = g.get(timeout=60)
    record('group_saved_by_client', 'g = group(square.s(i) for i in range(3)).apply_async(); g.save()', [x.id for x in g.results], [g.id], repr(values))

    c = chain(add.s(1, 2), add.s(10), add.s(100)).apply_async()
    value_ = c.get(timeout=60)
    links, node = [], c
    while node is not None:
        links.append(node.id)
        node = node.parent
    record('chain', 'chain(add.s(1, 2), add.s(10), add.s(100)).apply_async()', links, python=repr(value_))

    ch = chord([square.s(i) for i in range(3)], xsum.s()).apply_async()
    value_ = ch.get(timeout=60)
    ch.parent.save()
    record('chord', 'chord([square.s(i) for i in range(3)], xsum.s()).apply_async(); its header group saved by the client',
           [ch.id] + [x.id for x in ch.parent.results], [ch.parent.id], repr(value_))

    r = launch_chain.delay()
    returned = r.get(timeout=60)
    record('task_returned_chain', 'launch_chain.delay(): the task returns chain(add.s(1, 2), add.s(3), add.s(4)).apply_async()',
           [r.id], python=repr(returned))

    r = launch_group.delay()
    returned = r.get(timeout=60)
    record('task_returned_group', 'launch_group.delay(): the task returns a saved group(square.s(i) for i in range(3)).apply_async()',
           [r.id], python=repr(returned))

    r = fail.delay('boom')
    r.get(timeout=60, propagate=False)
    record('failure', "fail.delay('boom')", [r.id], python=repr(r.result))

    r = flaky.delay(1)
    record('retried_then_succeeded', 'flaky.delay(1)', [r.id], python=repr(r.get(timeout=60)))

    r = retry_later.delay()
    deadline = time.time() + 30
    while r.state != 'RETRY' and time.time() < deadline:
        time.sleep(0.1)
    record('retrying', 'retry_later.delay(), recorded while it waits to retry', [r.id], python=r.state)
    r.revoke()

    r = sleepy.apply_async((1,), countdown=3)
    r.revoke()
    deadline = time.time() + 30
    while r.state != 'REVOKED' and time.time() < deadline:
        time.sleep(0.1)
    record('revoked', 'sleepy.apply_async((1,), countdown=3).revoke()', [r.id], python=r.state)

    made_with = {'celery': __import__('celery').__version__, 'pickle.HIGHEST_PROTOCOL': pickle.HIGHEST_PROTOCOL,
                 'workers': '2 × celery worker --pool=prefork -c 2', 'result_extended': True}
    conn.close()
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump({'made_with': made_with, 'flows': flows}, f, indent=1, ensure_ascii=False)
        f.write('\n')
    print(f'wrote {len(flows)} flows to {os.path.relpath(OUT, ROOT)}')


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: flows.py postgresql://user@host:port/maintenance_db [amqp://broker]')
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else 'amqp://guest:guest@127.0.0.1:5672//')
