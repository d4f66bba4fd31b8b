#!/usr/bin/python3
"""A real Celery 5.2.6 peer for MySQL/MariaDB interop, as a small CLI.

The MySQL counterpart of celery_peer.py: it drives Celery's own DatabaseBackend
(SQLAlchemy + PyMySQL) on the database the Node side uses; no broker is needed.
Each run prints one JSON line on stdout and exits 0; on failure it prints
"celery_mysql_peer: <command> failed: <Error>: <message>" on stderr and exits 1
(2 for a usage error). Run it with Debian's /usr/bin/python3.

    celery_mysql_peer.py store <task_id> <state> <json-result|-> [--traceback TEXT] [--exc-type NAME]
                               [--name N] [--args JSON] [--kwargs JSON] [--worker W] [--retries N] [--queue Q] [--extended]
    celery_mysql_peer.py read <task_id>
    celery_mysql_peer.py save-group <group_id> <task_id>... [--app-bound]
    celery_mysql_peer.py restore-group <group_id>
    celery_mysql_peer.py cleanup [--expires-seconds N]

Every command takes --url (default: $TRB_MYSQL_URL), e.g. mysql+pymysql://root@127.0.0.1:3306/test
(mysql:// and mariadb:// mean PyMySQL), and --serializer json|pickle (Celery's result_serializer; default
json, Celery's own default and what celery_peer.py uses). Whatever the serializer, the result column is a
pickle: SQLAlchemy's PickleType pickles the value Celery prepared. The serializer decides how exceptions
are prepared (json: a dict {exc_type, exc_message, exc_module}; pickle: the exception object) and how
args/kwargs are encoded (json: kombu JSON bytes; pickle: pickle bytes).

A json-result of "-" reads the JSON from stdin (for results too big for an argument). With --exc-type the
result is an exception: NAME is a builtin (ValueError) or module.Name, called with the JSON as its
arguments (a list spreads). Any of --name/--args/--kwargs/--worker/--retries/--queue (or --extended) stores
with result_extended on, from a request like a worker's: Context(task=name, args, kwargs, hostname=worker,
retries, delivery_info={'routing_key': queue}). `read` always reads with result_extended on, so the
extended columns come back (null when not stored).

Note: Celery creates its tables (and, on MariaDB >= 10.3, the sequences task_id_sequence and
taskset_id_sequence) the first time a process touches the backend, if the tables do not exist.
"""
import argparse
import builtins
import datetime
import importlib
import json
import os
import sys

USAGE_EXIT = 2


def normalize_url(url):
    for bare in ('mysql://', 'mariadb://'):
        if url.startswith(bare):
            return bare[:-3] + '+pymysql://' + url[len(bare):]
    if not url.startswith(('mysql+', 'mariadb+')):
        raise ValueError(f'not a MySQL/MariaDB SQLAlchemy URL: {url!r}')
    return url


def make_app(opts, extended=False):
    from celery import Celery
    app = Celery('interop-mysql', backend='db+' + normalize_url(opts.url))
    app.conf.result_extended = extended
    app.conf.result_serializer = opts.serializer
    app.conf.result_accept_content = ['json', 'pickle'] if opts.serializer == 'pickle' else ['json']
    return app


def exception_class(name):
    if '.' in name:
        module, _, attr = name.rpartition('.')
        cls = getattr(importlib.import_module(module), attr)
    else:
        cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ValueError(f'--exc-type {name!r} is not an exception class')
    return cls


def encode(value):
    """JSON for whatever Celery hands back: exceptions, dates, bytes and other objects made explicit."""
    if isinstance(value, BaseException):
        return {'exc_type': type(value).__name__, 'exc_module': type(value).__module__, 'exc_args': [encode(a) for a in value.args]}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {'bytes_hex': bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return {'repr': repr(value), 'type': f'{type(value).__module__}.{type(value).__qualname__}'}


def cmd_store(opts):
    from celery.app.task import Context
    text = sys.stdin.read() if opts.result == '-' else opts.result
    result = json.loads(text)
    if opts.exc_type:
        result = exception_class(opts.exc_type)(*(result if isinstance(result, list) else [result]))
    fields = {'task': opts.name, 'args': opts.args, 'kwargs': opts.kwargs, 'hostname': opts.worker, 'retries': opts.retries}
    extended = opts.extended or opts.queue is not None or any(v is not None for v in fields.values())
    request = None
    if extended:
        request = Context(**{k: v for k, v in fields.items() if v is not None},
                          delivery_info={'routing_key': opts.queue} if opts.queue is not None else None)
    app = make_app(opts, extended)
    app.backend.store_result(opts.task_id, result, opts.state, traceback=opts.traceback, request=request)
    return {'stored': opts.task_id, 'state': opts.state, 'extended': extended, 'serializer': opts.serializer}


def cmd_read(opts):
    app = make_app(opts, extended=True)
    meta = app.backend.get_task_meta(opts.task_id)
    date_done = meta.get('date_done')
    return {
        'task_id': opts.task_id,
        'status': meta['status'],
        'result': encode(meta['result']),
        'result_type': type(meta['result']).__name__,
        'result_repr': repr(meta['result']),
        'date_done': date_done.isoformat() if date_done is not None else None,
        'date_done_naive': None if date_done is None else date_done.tzinfo is None,
        'traceback': meta.get('traceback'),
        **{key: encode(meta.get(key)) for key in ('name', 'args', 'kwargs', 'worker', 'retries', 'queue')},
    }


def cmd_save_group(opts):
    from celery.result import AsyncResult, GroupResult
    app = make_app(opts)
    if opts.app_bound:
        # What a Celery client saves: group(...).apply_async() returns the app's own GroupResult
        # subclass, which pickles as celery.app.base._unpickle_appattr('GroupResult', ...).
        app.GroupResult(opts.group_id, [app.AsyncResult(t) for t in opts.task_ids]).save()
    else:
        GroupResult(opts.group_id, [AsyncResult(t, app=app) for t in opts.task_ids], app=app).save()
    return {'saved': opts.group_id, 'task_ids': opts.task_ids}


def cmd_restore_group(opts):
    from celery.result import GroupResult
    app = make_app(opts)
    group = GroupResult.restore(opts.group_id, app=app)
    if group is None:
        return {'found': False, 'id': opts.group_id, 'task_ids': []}
    return {'found': True, 'id': group.id, 'task_ids': [r.id for r in group.results]}


def cmd_cleanup(opts):
    # What celery beat's daily celery.backend_cleanup task runs: delete rows with date_done < now - result_expires.
    app = make_app(opts)
    if opts.expires_seconds is not None:
        app.conf.result_expires = datetime.timedelta(seconds=opts.expires_seconds)
    app.backend.cleanup()
    return {'cleaned': True, 'expires_seconds': app.backend.expires.total_seconds()}


def parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--url', default=os.environ.get('TRB_MYSQL_URL'),
                        help='SQLAlchemy URL, e.g. mysql+pymysql://root@127.0.0.1:3306/test (default: $TRB_MYSQL_URL)')
    common.add_argument('--serializer', choices=['json', 'pickle'], default='json', help="Celery's result_serializer (default json)")

    p = argparse.ArgumentParser(prog='celery_mysql_peer.py', description='Celery 5.2.6 DatabaseBackend on MySQL/MariaDB, one JSON line out.')
    sub = p.add_subparsers(dest='command', required=True)

    s = sub.add_parser('store', parents=[common], help='backend.store_result(task_id, result, state, ...)')
    s.add_argument('task_id')
    s.add_argument('state')
    s.add_argument('result', help='the result as JSON, or - to read it from stdin')
    s.add_argument('--traceback')
    s.add_argument('--exc-type', help='store an exception of this class, called with the JSON as arguments')
    s.add_argument('--extended', action='store_true', help='result_extended on even without request fields')
    s.add_argument('--name')
    s.add_argument('--args', type=json.loads, help='JSON list')
    s.add_argument('--kwargs', type=json.loads, help='JSON object')
    s.add_argument('--worker')
    s.add_argument('--retries', type=int)
    s.add_argument('--queue')
    s.set_defaults(run=cmd_store)

    r = sub.add_parser('read', parents=[common], help='backend.get_task_meta(task_id)')
    r.add_argument('task_id')
    r.set_defaults(run=cmd_read)

    g = sub.add_parser('save-group', parents=[common], help='GroupResult(group_id, [AsyncResult(id), ...]).save()')
    g.add_argument('group_id')
    g.add_argument('task_ids', nargs='+')
    g.add_argument('--app-bound', action='store_true', help="save app.GroupResult, as group(...).apply_async() returns")
    g.set_defaults(run=cmd_save_group)

    rg = sub.add_parser('restore-group', parents=[common], help='GroupResult.restore(group_id)')
    rg.add_argument('group_id')
    rg.set_defaults(run=cmd_restore_group)

    c = sub.add_parser('cleanup', parents=[common], help='backend.cleanup()')
    c.add_argument('--expires-seconds', type=float, help='result_expires for this run (default: Celery\'s, 1 day)')
    c.set_defaults(run=cmd_cleanup)
    return p


def main(argv):
    p = parser()
    opts = p.parse_args(argv)
    if not opts.url:
        p.error('no database: give --url or set TRB_MYSQL_URL')
    try:
        answer = opts.run(opts)
        line = json.dumps(answer, ensure_ascii=False)
    except Exception as error:  # one line for the caller; Celery's own retry warnings are already on stderr
        message = str(error).splitlines()[0] if str(error) else ''
        print(f'celery_mysql_peer: {opts.command} failed: {type(error).__module__}.{type(error).__name__}: {message}', file=sys.stderr, flush=True)
        return 1
    print(line, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
