"""A real Celery app for the worker specs: tasks a worker runs, results in PostgreSQL.

Configured from the environment, so every spec gets its own database and queue:
  TRB_CELERY_DB      postgresql://... (the result backend's database)
  TRB_CELERY_BROKER  amqp://guest:guest@127.0.0.1:5672// by default
  TRB_CELERY_QUEUE   the queue the workers consume and the client sends to
  TRB_CELERY_BACKEND another result backend instead (the bench's Redis baseline)
"""
import os
import time

from celery import Celery

app = Celery(
    'proj',
    broker=os.environ.get('TRB_CELERY_BROKER', 'amqp://guest:guest@127.0.0.1:5672//'),
    # TRB_CELERY_BACKEND (redis://…) for the bench's baseline: celery-node's own result backend.
    backend=os.environ.get('TRB_CELERY_BACKEND') or 'db+' + os.environ['TRB_CELERY_DB'],
)
app.conf.update(
    task_default_queue=os.environ.get('TRB_CELERY_QUEUE', 'trb'),
    result_extended=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task
def square(x):
    return x * x


@app.task
def add(x, y):
    return x + y


@app.task
def xsum(values):
    return sum(values)


@app.task
def fail(message):
    raise ValueError(message)


@app.task(bind=True, max_retries=3, default_retry_delay=0.1)
def flaky(self, succeed_on):
    if self.request.retries < succeed_on:
        raise self.retry(exc=RuntimeError(f'attempt {self.request.retries}'))
    return f'ok after {self.request.retries} retries'


@app.task
def launch_chain():
    # A task whose result is another flow: its AsyncResult, with the chain's parent links, is what gets stored.
    from celery import chain
    return chain(add.s(1, 2), add.s(3), add.s(4)).apply_async()


@app.task
def launch_group():
    from celery import group
    g = group(square.s(i) for i in range(3)).apply_async()
    g.save()
    return g


@app.task(bind=True, max_retries=5)
def retry_later(self):
    # Stays in RETRY for a minute: long enough to record the row Celery wrote for it.
    raise self.retry(exc=RuntimeError('not yet'), countdown=60)


@app.task
def sleepy(seconds):
    time.sleep(seconds)
    return seconds
