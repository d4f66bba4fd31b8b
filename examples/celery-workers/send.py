"""A Celery client: sends a group and a chord to the workers, saves both groups, prints their ids as JSON."""
import json

from celery import chord, group

from proj import square, xsum

g = group(square.s(i) for i in range(5)).apply_async()
g.save()  # any process can now join it: Node does
c = chord([square.s(i) for i in range(3)], xsum.s()).apply_async()
c.parent.save()
print(json.dumps({'group': g.id, 'chord': c.id, 'header': c.parent.id}))
