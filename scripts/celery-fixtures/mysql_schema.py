#!/usr/bin/python3
"""
Shows what Celery 5.2.6's database backend makes on a MySQL/MariaDB server: the
tables it creates on first use (SQLAlchemy create_all through Celery's own
SessionManager, as a worker does on its first store), their columns and
indexes, any sequences, and the rows it writes for a few cases. Prints one JSON
document on stdout; test/fixtures/celery-mysql/schema.json is its output:

    /usr/bin/python3 scripts/celery-fixtures/mysql_schema.py mysql+pymysql://root@127.0.0.1:3306 > test/fixtures/celery-mysql/schema.json

    usage: mysql_schema.py <server-url> [database] [--keep]

The database (default trb_celery_mysql_schema) must not exist yet; it is created
with the server's default charset and collation, and dropped at the end unless
--keep is given. Run it with Debian's interpreter, which sees python3-celery.

Deterministic by design: fixed ids, a fixed traceback text, a fixed database name
(Celery pickles the backend URL into saved groups), and date_done values replaced
by a placeholder once `checks` has recorded what they looked like.
"""
import json
import logging
import os
import pickle
import platform
import re
import sys
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import celery  # noqa: E402
import pymysql  # noqa: E402
import sqlalchemy  # noqa: E402
from celery import Celery  # noqa: E402
from celery.app.task import Context  # noqa: E402
from celery.result import AsyncResult, GroupResult  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.dialects import mysql  # noqa: E402
from sqlalchemy.engine import URL, Engine, make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from sqlalchemy.schema import CreateSequence, CreateTable  # noqa: E402

from generate import COLUMNS, GROUP_COLUMNS, analysis, value  # noqa: E402

DEFAULT_DB = 'trb_celery_mysql_schema'
TABLES = ('celery_taskmeta', 'celery_tasksetmeta')
DATE_PLACEHOLDER = '<naive UTC, whole seconds: see checks.date_done>'
TRACEBACK = 'Traceback (most recent call last):\n  File "tasks.py", line 3, in fail\n    raise ValueError(\'boom\')\nValueError: boom\n'
COLUMN_FIELDS = ['ORDINAL_POSITION', 'COLUMN_NAME', 'COLUMN_TYPE', 'DATA_TYPE', 'IS_NULLABLE', 'COLUMN_KEY', 'EXTRA', 'COLUMN_DEFAULT',
                 'CHARACTER_MAXIMUM_LENGTH', 'CHARACTER_SET_NAME', 'COLLATION_NAME', 'DATETIME_PRECISION']
INDEX_FIELDS = ['INDEX_NAME', 'NON_UNIQUE', 'SEQ_IN_INDEX', 'COLUMN_NAME', 'SUB_PART', 'NULLABLE', 'INDEX_TYPE']
VARIABLES = ['version', 'character_set_server', 'collation_server', 'sql_mode', 'explicit_defaults_for_timestamp', 'default_storage_engine',
             'innodb_default_row_format', 'innodb_strict_mode', 'max_allowed_packet', 'lower_case_table_names', 'time_zone', 'system_time_zone']


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def server_url(url):
    """mysql:// and mariadb:// (no driver) mean PyMySQL here, like the peer."""
    for bare in ('mysql://', 'mariadb://'):
        if url.startswith(bare):
            url = bare[:-3] + '+pymysql://' + url[len(bare):]
    u = make_url(url)
    return URL.create(u.drivername, u.username, u.password, u.host, u.port, None, u.query)  # URL.set(database=None) would keep it


class Statements:
    """Every SQL statement a SQLAlchemy engine sends, so the JSON can show Celery's own DDL and inserts."""

    def __init__(self):
        self.seen = []
        event.listen(Engine, 'before_cursor_execute', self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(' '.join(statement.split()))

    def take(self):
        out, self.seen = self.seen, []
        return out


class RetryCount(logging.Handler):
    """Counts Celery's 'Failed operation ... Retrying' warnings (celery.backends.database.retry)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        if record.getMessage().startswith('Failed operation'):
            self.count += 1


def rows(conn, table, cols):
    result = conn.execute(text(f'SELECT {", ".join(cols)} FROM {table} ORDER BY id'))
    return [{c: value(v) for c, v in zip(cols, r)} for r in result]


def info(conn, db):
    def query(sql, fields):
        return [dict(zip(fields, [value(v) for v in r])) for r in conn.execute(text(sql), {'db': db})]

    create = {}
    for (name, kind) in conn.execute(text('SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db ORDER BY TABLE_NAME'), {'db': db}):
        stmt = 'SHOW CREATE SEQUENCE' if kind == 'SEQUENCE' else 'SHOW CREATE TABLE'
        create[name] = conn.execute(text(f'{stmt} `{name}`')).fetchone()[1]
    return {
        'database': query('SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db',
                          ['DEFAULT_CHARACTER_SET_NAME', 'DEFAULT_COLLATION_NAME'])[0],
        'tables': query('SELECT TABLE_NAME, TABLE_TYPE, ENGINE, ROW_FORMAT, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db '
                        'ORDER BY TABLE_NAME', ['TABLE_NAME', 'TABLE_TYPE', 'ENGINE', 'ROW_FORMAT', 'TABLE_COLLATION']),
        'show_create': create,
        'columns': {t: query(f'SELECT {", ".join(COLUMN_FIELDS)} FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = :db AND TABLE_NAME = \'{t}\' '
                             'ORDER BY ORDINAL_POSITION', COLUMN_FIELDS) for t in TABLES},
        'indexes': {t: query(f'SELECT {", ".join(INDEX_FIELDS)} FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = :db AND TABLE_NAME = \'{t}\' '
                             'ORDER BY INDEX_NAME, SEQ_IN_INDEX', INDEX_FIELDS) for t in TABLES},
    }


def offline_ddl():
    """The DDL SQLAlchemy compiles for Celery's models without a server: MySQL proper vs MariaDB >= 10.3 (sequences)."""
    from celery.backends.database.session import ResultModelBase
    out = {}
    for label, sequences in (('mysql', False), ('mariadb>=10.3', True)):
        dialect = mysql.dialect()
        dialect.supports_sequences = sequences
        stmts = []
        for table in ResultModelBase.metadata.sorted_tables:
            if sequences:
                stmts += [str(CreateSequence(c.default).compile(dialect=dialect)).strip() for c in table.columns
                          if isinstance(c.default, sqlalchemy.Sequence)]
            stmts.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        out[label] = stmts
    return out


def main(argv):
    args = [a for a in argv if a != '--keep']
    if len(args) not in (1, 2):
        sys.exit('usage: mysql_schema.py mysql+pymysql://user@host:port [database] [--keep]')
    keep = '--keep' in argv
    server = server_url(args[0])
    db = args[1] if len(args) == 2 else DEFAULT_DB
    admin = create_engine(server, poolclass=NullPool)
    with admin.begin() as conn:
        if conn.execute(text('SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db'), {'db': db}).scalar():
            sys.exit(f'database {db} exists already; drop it first (DROP DATABASE `{db}`)')
        conn.execute(text(f'CREATE DATABASE `{db}`'))
    log(f'created database {db}')
    try:
        doc = run(server.set(database=db), db)
    finally:
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS `{db}`'))
            log(f'dropped database {db}')
        else:
            log(f'kept database {db}')
    print(json.dumps(doc, indent=1, ensure_ascii=False))


def run(url, db):
    # Render the password in: Celery gets the URL as text (and pickles it into saved groups).
    url_text = url.render_as_string(hide_password=False)
    statements = Statements()
    retries = RetryCount()
    logging.getLogger('celery.backends.database').addHandler(retries)
    logging.getLogger('celery.backends.database').propagate = False  # the retry tracebacks would flood stderr

    def app(**settings):
        a = Celery('fixtures', backend='db+' + url_text)
        a.conf.update(**settings)
        return a

    checks = {}
    calls = []
    sql = {}

    # 1. First store: Celery's SessionManager.prepare_models runs ResultModelBase.metadata.create_all(engine).
    extended = {'result_extended': True, 'result_serializer': 'json'}
    ext = app(**extended).backend
    request = Context(task='proj.tasks.add', args=[2, 'x', {'k': [1, 2]}], kwargs={'flag': True, 'name': 'café'}, hostname='celery@worker1',
                      retries=1, delivery_info={'routing_key': 'default'}, group='group-9', parent_id='parent-1')
    before = datetime.utcnow()
    ext.store_result('task-ext', {'sum': 3}, 'SUCCESS', request=request)
    after = datetime.utcnow()
    sql['first_store'] = statements.take()
    calls.append({'task_id': 'task-ext', 'settings': extended,
                  'call': "backend.store_result('task-ext', {'sum': 3}, 'SUCCESS', request=Context(task='proj.tasks.add', args=[2, 'x', {'k': [1, 2]}], "
                          "kwargs={'flag': True, 'name': 'caf\\u00e9'}, hostname='celery@worker1', retries=1, delivery_info={'routing_key': 'default'}, "
                          "group='group-9', parent_id='parent-1'))",
                  'read_back': repr(ext._get_task_meta_for('task-ext'))})

    plain = {'result_extended': False, 'result_serializer': 'json'}
    backend = app(**plain).backend
    backend.store_result('task-failure', ValueError('boom'), 'FAILURE', traceback=TRACEBACK)
    calls.append({'task_id': 'task-failure', 'settings': plain, 'call': "backend.store_result('task-failure', ValueError('boom'), 'FAILURE', traceback=TRACEBACK)",
                  'read_back': repr(backend._get_task_meta_for('task-failure'))})

    backend.store_result('task-started', {'pid': 123, 'hostname': 'w1@h'}, 'STARTED')
    calls.append({'task_id': 'task-started', 'settings': plain, 'call': "backend.store_result('task-started', {'pid': 123, 'hostname': 'w1@h'}, 'STARTED')",
                  'read_back': repr(backend._get_task_meta_for('task-started'))})

    group = GroupResult('group-1', [AsyncResult('task-ext', backend=backend), AsyncResult('task-failure', backend=backend)])
    backend.save_group('group-1', group)
    calls.append({'taskset_id': 'group-1', 'settings': plain,
                  'call': "backend.save_group('group-1', GroupResult('group-1', [AsyncResult('task-ext'), AsyncResult('task-failure')]))",
                  'read_back': repr(backend._restore_group('group-1'))})
    statements.take()

    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        task_rows = rows(conn, 'celery_taskmeta', COLUMNS)
        group_rows = rows(conn, 'celery_tasksetmeta', GROUP_COLUMNS)
        raw_dates = [r[0] for r in conn.execute(text('SELECT date_done FROM celery_taskmeta UNION ALL SELECT date_done FROM celery_tasksetmeta'))]
        conn.execute(text('CREATE TEMPORARY TABLE trb_fraction (v DATETIME)'))
        conn.execute(text("INSERT INTO trb_fraction VALUES ('2024-01-01 12:00:00.999999')"))
        fraction = value(conn.execute(text('SELECT v FROM trb_fraction')).scalar())
        first_date = conn.execute(text("SELECT date_done FROM celery_taskmeta WHERE task_id = 'task-ext'")).scalar()
        schema = info(conn, db)
        variables = {k: v for k, v in conn.execute(text('SHOW VARIABLES WHERE Variable_name IN :names').bindparams(
            sqlalchemy.bindparam('names', expanding=True)), {'names': VARIABLES})}
        session = dict(zip(['character_set_client', 'character_set_connection', 'collation_connection', 'sql_mode', 'time_zone'],
                           conn.execute(text('SELECT @@character_set_client, @@character_set_connection, @@collation_connection, '
                                             '@@session.sql_mode, @@session.time_zone')).fetchone()))
    statements.take()

    dates = [d for d in raw_dates if d is not None]
    checks['date_done'] = {
        'python_type': sorted({type(d).__name__ for d in dates}),
        'tzinfo_none': all(d.tzinfo is None for d in dates),
        'microsecond_all_zero': all(d.microsecond == 0 for d in dates),
        'first_store_within_utcnow_window': before.replace(microsecond=0) <= first_date <= after,
        'datetime_column_given_12:00:00.999999_keeps': fraction,
        'null_for': [r['task_id'] for r in task_rows if r['date_done'] is None],
        'note': 'Celery sends datetime.utcnow() with microseconds; the DATETIME column (precision 0) keeps whole seconds (truncated, not rounded: see the 12:00:00.999999 probe).',
    }
    for r in task_rows + group_rows:
        if r['date_done'] is not None:
            r['date_done'] = DATE_PLACEHOLDER
    for c in calls:
        c['read_back'] = re.sub(r'datetime\.datetime\([0-9, ]+\)', 'datetime.datetime(<date_done>)', c['read_back'])
    for r in task_rows:
        r['analysis'] = analysis(r)
    for r in group_rows:
        r['analysis'] = analysis({'result': r['result']})
    checks['sequences_created'] = [t['TABLE_NAME'] for t in schema['tables'] if t['TABLE_TYPE'] == 'SEQUENCE']
    checks['id_auto_increment'] = {t: any(c['EXTRA'] and 'auto_increment' in c['EXTRA'] for c in schema['columns'][t] if c['COLUMN_NAME'] == 'id')
                                   for t in TABLES}

    limits = oversize(app, url, retries, statements)

    return {
        'made_with': {'celery': celery.__version__, 'sqlalchemy': sqlalchemy.__version__, 'pymysql': pymysql.__version__,
                      'python': platform.python_version(), 'pickle.HIGHEST_PROTOCOL': pickle.HIGHEST_PROTOCOL, 'server': variables.get('version'),
                      'celery_url': 'db+' + url_text},
        'server_variables': variables,
        'pymysql_session': session,
        'ddl_emitted_by_celery': [s for s in sql['first_store'] if s.startswith('CREATE')],
        'first_store_statements': sql['first_store'],
        **schema,
        'ddl_compiled_offline': offline_ddl(),
        'checks': checks,
        'calls': calls,
        'rows': {'celery_taskmeta': task_rows, 'celery_tasksetmeta': group_rows},
        'limits': limits,
    }


def oversize(app, url, retries, statements):
    """A pickled result over BLOB's 65,535 bytes, on the server's sql_mode and on a non-strict session."""
    big = 'x' * 100_000
    size = len(pickle.dumps(big, pickle.HIGHEST_PROTOCOL))
    out = {'value': "'x' * 100_000", 'pickled_bytes': size, 'blob_max_bytes': 65535}
    engine = create_engine(url, poolclass=NullPool)

    def attempt(label, backend, task_id):
        retries.count = 0
        case = {'task_id': task_id}
        try:
            backend.store_result(task_id, big, 'SUCCESS')
            case['store'] = 'no error'
        except Exception as error:
            case['store'] = f'{type(error).__module__}.{type(error).__name__}: {str(error).splitlines()[0]}'
        case['celery_retry_warnings'] = retries.count
        with engine.begin() as conn:
            r = conn.execute(text('SELECT status, LENGTH(result) FROM celery_taskmeta WHERE task_id = :t'), {'t': task_id}).fetchone()
        case['row'] = None if r is None else {'status': r[0], 'length_result': r[1]}
        try:
            meta = backend._get_task_meta_for(task_id)
            case['read'] = {'status': meta['status'], 'result_equal': meta['result'] == big}
        except Exception as error:
            case['read'] = f'{type(error).__module__}.{type(error).__name__}: {error}'
        case['statements'] = [s for s in statements.take() if 'celery_taskmeta' in s or 'nextval' in s]
        out[label] = case

    attempt('server_sql_mode', app().backend, 'task-oversize')
    lax = app(database_engine_options={'connect_args': {'sql_mode': ''}}).backend
    attempt('session_sql_mode_empty', lax, 'task-oversize-lax')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
