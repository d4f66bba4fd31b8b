"""A real Celery 5.2.6 peer for the interop specs.

Reads one JSON command on stdin and writes one JSON answer on stdout. It
drives Celery's DatabaseBackend directly, on the database the Node side uses;
no broker is needed. Run it with Debian's /usr/bin/python3.
"""
import datetime
import decimal
import json
import sys
import uuid

from celery import Celery
from celery import exceptions as celery_exceptions
from celery.app.task import Context
from celery.result import AsyncResult, GroupResult

ENV = {'datetime': datetime, 'decimal': decimal, 'uuid': uuid, 'celery_exceptions': celery_exceptions}


def make_app(url, extended):
    app = Celery('interop', backend='db+' + url.replace('postgres://', 'postgresql://', 1))
    app.conf.result_extended = extended
    return app


def same(a, b):
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        return type(a) is type(b) and a.args == b.args
    return type(a) is type(b) and a == b


def store(cmd):
    app = make_app(cmd['url'], cmd.get('extended', False))
    for item in cmd['items']:
        request = Context(**item['request']) if item.get('request') else None
        app.backend.store_result(item['task_id'], eval(item['expr'], ENV), item['state'], traceback=item.get('traceback'), request=request)
    return {'stored': len(cmd['items'])}


def read(cmd):
    app = make_app(cmd['url'], cmd.get('extended', False))
    out = {}
    for item in cmd['items']:
        meta = app.backend.get_task_meta(item['task_id'])
        answer = {'status': meta['status'], 'repr': repr(meta['result']), 'type': type(meta['result']).__name__}
        if 'expect' in item:
            answer['equal'] = same(meta['result'], eval(item['expect'], ENV))
        if meta['status'] == 'SUCCESS':
            got = AsyncResult(item['task_id'], app=app).get(timeout=10)
            answer['get_equal'] = same(got, eval(item['expect'], ENV)) if 'expect' in item else None
        for key in ('name', 'args', 'kwargs', 'worker', 'retries', 'queue'):
            if key in meta:
                answer[key] = meta[key]
        answer['date_done_naive'] = meta.get('date_done') is not None and meta['date_done'].tzinfo is None
        out[item['task_id']] = answer
    return out


def save_group(cmd):
    app = make_app(cmd['url'], False)
    if cmd.get('app_bound'):
        # What a Celery client saves: group(...).apply_async() returns the app's own GroupResult
        # subclass, which pickles as celery.app.base._unpickle_appattr('GroupResult', ...).
        app.GroupResult(cmd['group_id'], [app.AsyncResult(t) for t in cmd['task_ids']]).save()
    else:
        GroupResult(cmd['group_id'], [AsyncResult(t, app=app) for t in cmd['task_ids']], app=app).save()
    return {'saved': cmd['group_id']}


def restore_group(cmd):
    app = make_app(cmd['url'], False)
    group = GroupResult.restore(cmd['group_id'], app=app)
    if group is None:
        return {'found': False}
    return {'found': True, 'id': group.id, 'task_ids': [r.id for r in group.results], 'values': [repr(v) for v in group.get(timeout=10)]}


def worker(cmd):
    """A cold-start worker: ready, wait for go, then store (Celery creates its tables on first use)."""
    app = make_app(cmd['url'], False)
    print('ready', flush=True)
    sys.stdin.readline()
    report = {'stored': 0, 'errors': []}
    for task_id in cmd['task_ids']:
        try:
            app.backend.store_result(task_id, {'from': 'python', 'id': task_id}, 'SUCCESS')
            report['stored'] += 1
        except Exception as error:  # the report is the point: which errors Celery hits
            report['errors'].append('%s: %s' % (type(error).__name__, str(error).splitlines()[0]))
    return report


def backend_cleanup(cmd):
    # What celery beat's daily celery.backend_cleanup task runs.
    app = make_app(cmd['url'], False)
    app.conf.result_expires = datetime.timedelta(seconds=cmd['expires_seconds'])
    app.backend.cleanup()
    return {'cleaned': True}


COMMANDS = {'backend_cleanup': backend_cleanup, 'store': store, 'read': read, 'save_group': save_group, 'restore_group': restore_group, 'worker': worker}

if __name__ == '__main__':
    command = json.loads(sys.stdin.readline())
    print(json.dumps(COMMANDS[command['command']](command)), flush=True)
