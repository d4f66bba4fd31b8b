import { ResultDecodeError } from '../errors';
import { CeleryAsyncResult, CeleryGroupResult } from './pickle';

/**
 * A task that returns another flow's result (`return chain(...).apply_async()`,
 * `return group(...).apply_async()`) does not store that object: Celery stores
 * its `as_tuple()`, `((id, parent), None)` for an AsyncResult and
 * `((id, parent), [member tuples])` for a GroupResult. This rebuilds it, as
 * Celery's own `celery.result.result_from_tuple` does. A group's own parent is
 * not kept (CeleryGroupResult has none).
 */
export function resultFromTuple(value: unknown): CeleryAsyncResult | CeleryGroupResult {
  if (value instanceof CeleryAsyncResult || value instanceof CeleryGroupResult) return value;
  const pair = asPair(value);
  if (!pair) return refuse(value);
  const [head, nodes] = pair;
  const headPair = asPair(head);
  const [id, parent] = headPair ?? [head, null];
  if (typeof id !== 'string') return refuse(value);
  if (nodes !== null && nodes !== undefined) {
    if (!Array.isArray(nodes)) return refuse(value);
    return new CeleryGroupResult(id, nodes.map((n) => resultFromTuple(n)));
  }
  return new CeleryAsyncResult(id, parent === null || parent === undefined ? null : resultFromTuple(parent));
}

function asPair(value: unknown): [unknown, unknown] | null {
  return Array.isArray(value) && value.length === 2 ? [value[0], value[1]] : null;
}

function refuse(value: unknown): never {
  throw new ResultDecodeError(
    `${JSON.stringify(value)?.slice(0, 120) ?? String(value)} is not a Celery result tuple ((id, parent), children). ` +
      "resultFromTuple reads what Celery stores for a task that returned another task's result; pass that task's result value.",
  );
}
