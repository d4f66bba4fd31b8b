"""The Celery side of examples/celery-workers: a Celery app whose results live in PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/example \
      /usr/bin/python3 -m celery -A proj worker --pool=prefork -c 2 -Q trb-example

The broker is RabbitMQ at 127.0.0.1:5672 unless CELERY_BROKER_URL says otherwise.
"""
import os

from celery import Celery

app = Celery(
    'proj',
    broker=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    backend='db+' + os.environ['DATABASE_URL'].replace('postgres://', 'postgresql://', 1),
)
app.conf.update(task_default_queue=os.environ.get('CELERY_QUEUE', 'trb-example'), result_extended=True)


@app.task
def square(x):
    return x * x


@app.task
def xsum(values):
    return sum(values)
