"""The Python side of the wake-latency benchmark: real Celery's DatabaseBackend.

Reads one task id per line on stdin, stores a SUCCESS result for it exactly as
a Celery worker does (store_result commits before it returns), and prints the
id with the wall-clock time, in milliseconds, right after the commit.
"""
import sys
import time

from celery import Celery

url = sys.argv[1].replace('postgres://', 'postgresql://', 1)
app = Celery('bench', backend='db+' + url)
backend = app.backend
print('ready', flush=True)
for line in sys.stdin:
    task_id = line.strip()
    if not task_id:
        continue
    backend.store_result(task_id, {'ok': True}, 'SUCCESS')
    print(f'{task_id} {time.time() * 1000:.3f}', flush=True)
