"""Real CPython as the reference for the TypeScript pickle codec tests.

Usage: python3 oracle.py COMMAND < request.json > response.json

Expressions in requests are test fixtures written in the spec files (trusted), evaluated
with the stdlib types below in scope. Only the celery_* commands import Celery.
"""
import datetime
import decimal
import json
import math
import pickle
import sys
import tempfile
import uuid

NAMESPACE = {
    'datetime': datetime,
    'Decimal': decimal.Decimal,
    'UUID': uuid.UUID,
    'timezone': datetime.timezone,
    'timedelta': datetime.timedelta,
    'uuid': uuid,
}


def same(a, b):
    """Equality that also requires the same types (1 is not 1.0 or True), NaN == NaN, and -0.0 != 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(same(x, y) and same(a[x], b[y]) for x, y in zip(a, b))
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)  # exact digits: Decimal('1.10') == Decimal('1.1') numerically
    if isinstance(a, BaseException):
        return same(a.args, b.args)
    if isinstance(a, (datetime.datetime, datetime.time)):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold
    return a == b


def dumps(req):
    out = []
    for item in req['items']:
        value = eval(item['expr'], dict(NAMESPACE))  # noqa: S307 - fixtures from the spec files
        out.append(pickle.dumps(value, item['protocol']).hex())
    return out


def loads(req):
    out = []
    for item in req['items']:
        try:
            got = pickle.loads(bytes.fromhex(item['hex']))
        except Exception as exc:  # reported to the test, which fails with it
            out.append({'ok': False, 'repr': f'{type(exc).__name__}: {exc}'})
            continue
        expected = eval(item['expect'], dict(NAMESPACE))  # noqa: S307
        out.append({'ok': same(got, expected), 'repr': repr(got)})
    return out


def reencode(req):
    """pickle.loads each hex, then pickle.dumps the result again with the given protocol."""
    return [pickle.dumps(pickle.loads(bytes.fromhex(item['hex'])), item['protocol']).hex() for item in req['items']]


def celery_dumps(req):
    """Pickles GroupResult/AsyncResult exactly as Celery's DatabaseBackend.save_group would."""
    import billiard.exceptions
    import celery.exceptions
    from celery import Celery
    from celery.result import AsyncResult, GroupResult

    app = Celery(backend=req['backend_url'])
    ns = dict(
        NAMESPACE,
        app=app,
        AsyncResult=AsyncResult,
        GroupResult=GroupResult,
        celery_exceptions=celery.exceptions,
        billiard_exceptions=billiard.exceptions,
    )
    return [pickle.dumps(eval(expr, ns), 5).hex() for expr in req['exprs']]  # noqa: S307


def describe(r):
    from celery.result import GroupResult

    if isinstance(r, GroupResult):
        return {'type': 'GroupResult', 'id': r.id, 'results': [describe(x) for x in r.results]}
    return {
        'type': type(r).__name__,
        'id': r.id,
        'parent': describe(r.parent) if r.parent is not None else None,
        'uses_app_backend': r.backend is r.app.backend,
    }


def celery_restore(req):
    """Stores our bytes in celery_tasksetmeta.result (SQLite) and reads them with GroupResult.restore."""
    from celery import Celery
    from celery.result import GroupResult
    from sqlalchemy import text

    with tempfile.TemporaryDirectory() as tmp:
        app = Celery(backend=f'db+sqlite:///{tmp}/results.sqlite')
        app.set_current()
        # save_group creates the tables; then the pickled column is replaced by ours, as a Node writer would.
        app.backend.save_group(req['group_id'], GroupResult(req['group_id'], [], app=app))
        session = app.backend.ResultSession()
        # Raw SQL, because the ORM column is a PickleType and would pickle our bytes a second time.
        session.execute(
            text('UPDATE celery_tasksetmeta SET result = :result WHERE taskset_id = :gid'),
            {'result': bytes.fromhex(req['hex']), 'gid': req['group_id']},
        )
        session.commit()
        session.close()
        app.backend._cache.clear()
        restored = GroupResult.restore(req['group_id'], app=app)
        return describe(restored) if restored is not None else None


COMMANDS = {'dumps': dumps, 'loads': loads, 'reencode': reencode, 'celery_dumps': celery_dumps, 'celery_restore': celery_restore}

if __name__ == '__main__':
    json.dump(COMMANDS[sys.argv[1]](json.load(sys.stdin)), sys.stdout)
