"""The Python side of the worker specs: a Celery client. One JSON command on stdin, one JSON answer on stdout."""
import json
import sys

from celery import chain, chord, group

from proj import add, app, fail, flaky, launch_chain, launch_group, square, xsum


def seed_group(cmd):
    # The seed's scenario: a group as the very first task on a fresh database, saved by the client.
    # With a group_id, the group gets that id (Celery takes a group's task_id as its group id): a Node client may already wait on it.
    g = group(square.s(i) for i in range(cmd['size'])).apply_async(**({'task_id': cmd['group_id']} if cmd.get('group_id') else {}))
    g.save()
    values = g.get(timeout=cmd.get('timeout', 60), propagate=False)
    return {'group_id': g.id, 'task_ids': [r.id for r in g.results], 'values': values}


def flows(cmd):
    timeout = cmd.get('timeout', 60)
    c = chain(add.s(1, 2), add.s(10), add.s(100)).apply_async()
    chain_value = c.get(timeout=timeout)
    links = []
    node = c
    while node is not None:
        links.append(node.id)
        node = node.parent
    ch = chord([square.s(i) for i in range(4)], xsum.s()).apply_async()
    chord_value = ch.get(timeout=timeout)
    header = ch.parent
    header.save()  # the chord's header group, saved by the client so that any process can join it
    failed = fail.delay('boom')
    failed.get(timeout=timeout, propagate=False)
    retried = flaky.delay(1)
    retried_value = retried.get(timeout=timeout)
    launched_chain = launch_chain.delay()
    launched_chain.get(timeout=timeout)
    launched_group = launch_group.delay()
    launched_group.get(timeout=timeout)
    return {
        'launched_chain': launched_chain.id,
        'launched_group': launched_group.id,
        'chain': {'id': c.id, 'links': links, 'value': chain_value},
        'chord': {'id': ch.id, 'header_id': header.id, 'header_task_ids': [r.id for r in header.results], 'value': chord_value},
        'failed': {'id': failed.id, 'state': failed.state},
        'retried': {'id': retried.id, 'value': retried_value},
    }


def await_ids(cmd):
    # Task ids a Python client created, whose results another process (Node) stores.
    results = [app.AsyncResult(t) for t in cmd['task_ids']]
    g = app.GroupResult(cmd['group_id'], results)
    g.save()
    return {'saved': g.id}


def get_ids(cmd):
    values = [app.AsyncResult(t).get(timeout=cmd.get('timeout', 30)) for t in cmd['task_ids']]
    restored = app.GroupResult.restore(cmd['group_id'])
    return {'values': values, 'group_values': restored.get(timeout=cmd.get('timeout', 30))}


def send_ids(cmd):
    # Tasks with the ids Node already waits for: the workers' stores must wake it through the trigger.
    results = [square.apply_async((i,), task_id=t) for i, t in enumerate(cmd['task_ids'])]
    return {'values': [r.get(timeout=cmd.get('timeout', 60)) for r in results]}


def send_named(cmd):
    # Tasks by name, to a queue a celery-node worker consumes: what Python's .get() reads of Node's results.
    import time
    out, took = [], []
    for name, args in cmd['tasks']:
        started = time.perf_counter()
        r = app.send_task(name, args=args, queue=cmd['queue'])
        value = r.get(timeout=cmd.get('timeout', 30), propagate=False, interval=cmd.get('interval', 0.5))
        took.append((time.perf_counter() - started) * 1000)
        if r.state == 'SUCCESS':
            out.append({'state': r.state, 'value': value})
        else:
            out.append({'state': r.state, 'exc_type': type(value).__name__, 'exc_module': type(value).__module__, 'message': str(value)})
    return {'results': out, 'ms': took}


def delete_queue(cmd):
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(cmd['queue'])
    return {'deleted': cmd['queue']}


COMMANDS = {'delete_queue': delete_queue, 'send_ids': send_ids, 'send_named': send_named, 'seed_group': seed_group, 'flows': flows, 'await_ids': await_ids, 'get_ids': get_ids}

if __name__ == '__main__':
    request = json.load(sys.stdin)
    json.dump(COMMANDS[request['command']](request), sys.stdout)
