#!/usr/bin/python3
"""
Regenerates test/fixtures/celery/ from a real Celery: the schema its database
backend creates (schema.sql) and the rows it writes for a set of cases
(rows.json). Run it with Debian's interpreter, which sees python3-celery:

    /usr/bin/python3 scripts/celery-fixtures/generate.py postgresql://postgres@127.0.0.1:5432/postgres

It creates a throwaway database on that server, drops it at the end, and needs
pg_dump of the server's major version on PATH. The URL it gives Celery carries
a password on purpose ("fx_plain"): Celery pickles the backend, URL included,
into saved groups, and the specs check that the reader drops it.
"""
import json
import os
import pickle
import pickletools
import platform
import subprocess
import sys
import uuid
from io import StringIO
from urllib.parse import urlsplit, urlunsplit

import celery
import psycopg2
import sqlalchemy
from celery import Celery
from celery.app.task import Context
from celery.result import AsyncResult, GroupResult

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'celery')
COLUMNS = ['id', 'task_id', 'status', 'result', 'date_done', 'traceback', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue']
GROUP_COLUMNS = ['id', 'taskset_id', 'result', 'date_done']


def with_database(url, name, password=None):
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        user_host = netloc.rsplit('@', 1)
        user = user_host[0].split(':')[0] if len(user_host) == 2 else 'postgres'
        netloc = f'{user}:{password}@{user_host[-1]}'
    return urlunsplit((parts.scheme, netloc, '/' + name, '', ''))


def value(v):
    if isinstance(v, memoryview):
        return bytes(v).hex()
    if isinstance(v, bytes):
        return v.hex()
    if hasattr(v, 'isoformat'):
        return v.isoformat(sep=' ')
    return v


def row_reader(conn):
    """Reads one row raw: every column, bytea as hex, dates as text."""
    def row(key, table='celery_taskmeta', column='task_id', cols=COLUMNS):
        cur = conn.cursor()
        cur.execute(f'SELECT {", ".join(cols)} FROM {table} WHERE {column} = %s', (key,))
        r = cur.fetchone()
        return None if r is None else {c: value(v) for c, v in zip(cols, r)}
    return row


def analysis(columns):
    """How each bytea column is encoded, so a reader can see what the bytes mean."""
    out = {'_bytea_columns': [c for c in ('result', 'args', 'kwargs') if columns.get(c)]}
    raw = columns.get('result')
    if raw:
        data = bytes.fromhex(raw)
        text = StringIO()
        pickletools.dis(data, out=text)
        out['result'] = {
            'encoding': 'python pickle (SQLAlchemy PickleType, pickle.HIGHEST_PROTOCOL)',
            'pickle_protocol': data[1],
            'unpickled_repr': repr(pickle.loads(data)),
            'disassembly': text.getvalue(),
        }
    for c in ('args', 'kwargs'):
        if columns.get(c):
            out[c] = {'encoding': 'kombu json, utf-8', 'text': bytes.fromhex(columns[c]).decode('utf-8')}
    return out


def main(server_url):
    db = f'trb_fixtures_{uuid.uuid4().hex[:8]}'
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {db}')
    try:
        run(with_database(server_url, db, password='fx_plain'), with_database(server_url, db), db)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {db} WITH (FORCE)')
        admin.close()


def run(celery_url, plain_url, db):
    def app(**settings):
        a = Celery('fixtures', backend='db+' + celery_url)
        a.conf.update(**settings)
        return a

    conn = psycopg2.connect(plain_url)
    conn.autocommit = True

    row = row_reader(conn)

    rows = []

    def record(case, settings, call, columns, read_back):
        rows.append({'case': case, 'settings': settings, 'call': call, 'columns': columns or {},
                     'analysis': analysis(columns or {}), 'read_back': repr(read_back)})

    plain = {'result_serializer': 'json', 'result_extended': False}
    backend = app(**plain).backend
    simple = [
        ('int', 42), ('str', 'hello'), ('unicode_str', 'héllo wörld ✓ 日本語 😀'), ('float', 3.14), ('none', None),
        ('bool_true', True), ('list', [1, 'a', None, 2.5, True]),
        ('nested_dict', {'a': {'b': [1, 2, {'c': None}]}, 'x': 'y', 'n': 1.5}),
    ]
    for case, v in simple:
        task_id = f'task-{case}'
        backend.store_result(task_id, v, 'SUCCESS')
        record(case, plain, f'backend.store_result({task_id!r}, {v!r}, {"SUCCESS"!r})', row(task_id), backend._get_task_meta_for(task_id))

    try:
        raise ValueError('boom')
    except ValueError as exc:
        import traceback
        tb = traceback.format_exc()
        backend.store_result('task-failure', exc, 'FAILURE', traceback=tb)
    record('failure_valueerror', {'result_serializer': 'json'}, "backend.store_result('task-failure', ValueError('boom'), 'FAILURE', traceback=tb)",
           row('task-failure'), backend._get_task_meta_for('task-failure'))

    backend.store_result('task-started', {'pid': 123, 'hostname': 'w1@h'}, 'STARTED')
    record('started_state', {}, "backend.store_result('task-started', {'pid': 123, 'hostname': 'w1@h'}, 'STARTED')",
           row('task-started'), backend._get_task_meta_for('task-started'))

    backend.store_result('task-started2', {'pid': 1}, 'STARTED')
    backend.store_result('task-started2', 7, 'SUCCESS')
    record('started_then_success_same_row', {}, "store_result('task-started2', ..., 'STARTED'); store_result('task-started2', 7, 'SUCCESS')",
           row('task-started2'), backend._get_task_meta_for('task-started2'))

    record('unknown_task_read', {}, "backend._get_task_meta_for('does-not-exist')", row('does-not-exist'), backend._get_task_meta_for('does-not-exist'))

    group = GroupResult('group-1', [AsyncResult('task-int', backend=backend), AsyncResult('task-str', backend=backend)])
    backend.save_group('group-1', group)
    record('group_save_group', {}, "backend.save_group('group-1', GroupResult('group-1', [AsyncResult('task-int'), AsyncResult('task-str')]))",
           row('group-1', 'celery_tasksetmeta', 'taskset_id', GROUP_COLUMNS), backend._restore_group('group-1'))

    extended = {'result_extended': True, 'result_serializer': 'json'}
    ext = app(**extended).backend
    request = Context(task='proj.tasks.add', args=[2, 'x', {'k': [1, 2]}], kwargs={'flag': True, 'name': 'café'}, hostname='celery@worker1',
                      retries=1, delivery_info={'routing_key': 'default'}, group='group-9', parent_id='parent-1')
    ext.store_result('task-ext', {'sum': 3}, 'SUCCESS', request=request)
    record('extended_success', extended, "backend.store_result('task-ext', {'sum': 3}, 'SUCCESS', request=Context(task='proj.tasks.add', args=[2,'x',{'k':[1,2]}], "
           "kwargs={'flag':True,'name':'caf\\u00e9'}, hostname='celery@worker1', retries=1, delivery_info={'routing_key':'default'}, group='group-9', parent_id='parent-1'))",
           row('task-ext'), ext._get_task_meta_for('task-ext'))

    cur = conn.cursor()
    cur.execute('SHOW server_version')
    made_with = {
        'celery': celery.__version__, 'sqlalchemy': sqlalchemy.__version__, 'psycopg2': psycopg2.__version__,
        'python': platform.python_version(), 'pickle.HIGHEST_PROTOCOL': pickle.HIGHEST_PROTOCOL, 'postgresql': cur.fetchone()[0],
    }
    conn.close()

    with open(os.path.join(OUT, 'rows.json'), 'w', encoding='utf-8') as f:
        json.dump({'made_with': made_with, 'rows': rows}, f, indent=1, ensure_ascii=False)
        f.write('\n')
    schema = subprocess.run(['pg_dump', '--schema-only', '--no-owner', '--no-privileges', plain_url], check=True, capture_output=True, text=True).stdout
    # Drop comments (they name the pg_dump build) and psql's \\restrict guard lines (a random key
    # per dump, and not SQL), so the file loads as plain SQL and changes only when Celery's DDL does.
    lines = [l for l in schema.splitlines() if not l.startswith('--') and not l.startswith('\\')]
    schema = '\n'.join(lines)
    while '\n\n\n' in schema:
        schema = schema.replace('\n\n\n', '\n\n')
    schema = schema.strip() + '\n'
    with open(os.path.join(OUT, 'schema.sql'), 'w', encoding='utf-8') as f:
        f.write(schema)
    print(f'wrote {len(rows)} rows and the schema to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: generate.py postgresql://user@host:port/maintenance_db')
    main(sys.argv[1])
