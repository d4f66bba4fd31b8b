"""The Python side of the celery-interop example.

`python3 tasks.py store <db-url> <task-id>`    stores a result the way a Celery worker does.
`python3 tasks.py read <db-url> <task-id>`     reads a result that Node stored, with AsyncResult.get().
Use Debian's /usr/bin/python3 with python3-celery, python3-sqlalchemy and python3-psycopg2.
"""
import datetime
import decimal
import sys

from celery import Celery
from celery.result import AsyncResult

command, url, task_id = sys.argv[1:4]
app = Celery('interop', backend='db+' + url.replace('postgres://', 'postgresql://', 1))

if command == 'store':
    value = {'total': decimal.Decimal('12.50'), 'at': datetime.datetime(2026, 11, 24, 12, 0), 'items': ('apple', 'pear')}
    app.backend.store_result(task_id, value, 'SUCCESS')
    print('python stored', repr(value))
elif command == 'read':
    print('python read  ', repr(AsyncResult(task_id, app=app).get(timeout=10)))
