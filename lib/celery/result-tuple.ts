import { ResultDecodeError } from '../errors';
import { CeleryAsyncResult, CeleryGroupResult } from './pickle';
import { renderValue } from './render';

/**
 * Deepest nesting of results (parents and group members) rebuilt. A real chain is a few dozen
 * tasks deep; the bound keeps the recursion far from the JS stack limit, so a hostile tuple
 * gets a typed error rather than a RangeError.
 */
const MAX_RESULT_DEPTH = 1000;

/** Most distinct tuples rebuilt in one call: the decoder's default maxObjects, so it never refuses what decodes. */
const MAX_RESULT_NODES = 1_000_000;

type Result = CeleryAsyncResult | CeleryGroupResult;

/**
 * A task that returns another flow's result (`return chain(...).apply_async()`,
 * `return group(...).apply_async()`) does not store that object: Celery stores
 * its `as_tuple()`, `((id, parent), None)` for an AsyncResult and
 * `((id, parent), [member tuples])` for a GroupResult. This rebuilds it, as
 * Celery's own `celery.result.result_from_tuple` does. A group's own parent is
 * not kept (CeleryGroupResult has none).
 *
 * Stored tuples are hostile input. A tuple reached twice (pickle shares it through the memo)
 * is rebuilt once and the same result object is used for both, so a DAG costs its size, not
 * the number of paths through it. A tuple that contains itself, nesting deeper than 1000 or
 * more than 1,000,000 distinct tuples are refused with ResultDecodeError.
 */
export function resultFromTuple(value: unknown): Result {
  const built = new Map<object, Result>();
  const building = new Set<object>();

  const rebuild = (v: unknown, depth: number): Result => {
    if (v instanceof CeleryAsyncResult || v instanceof CeleryGroupResult) return v;
    if (v === null || typeof v !== 'object') return refuse(value);
    const done = built.get(v);
    if (done !== undefined) return done;
    if (building.has(v)) return refuseWith(value, 'refers back to itself (a cycle), which no Celery result tuple does');
    if (depth > MAX_RESULT_DEPTH) return refuseWith(value, `nests results deeper than ${MAX_RESULT_DEPTH}`);
    if (built.size + building.size >= MAX_RESULT_NODES) return refuseWith(value, `holds more than ${MAX_RESULT_NODES} result tuples`);
    const pair = asPair(v);
    if (!pair) return refuse(value);
    const [head, nodes] = pair;
    const headPair = asPair(head);
    const [id, parent] = headPair ?? [head, null];
    if (typeof id !== 'string') return refuse(value);
    building.add(v);
    let result: Result;
    if (nodes !== null && nodes !== undefined) {
      if (!Array.isArray(nodes)) return refuse(value);
      const members: Result[] = [];
      for (const n of nodes as unknown[]) members.push(rebuild(n, depth + 1));
      result = new CeleryGroupResult(id, members);
    } else {
      result = new CeleryAsyncResult(id, parent === null || parent === undefined ? null : rebuild(parent, depth + 1));
    }
    building.delete(v);
    built.set(v, result);
    return result;
  };

  return rebuild(value, 0);
}

function asPair(value: unknown): [unknown, unknown] | null {
  return Array.isArray(value) && value.length === 2 ? [value[0], value[1]] : null;
}

function refuse(value: unknown): never {
  return refuseWith(value, 'is not a Celery result tuple ((id, parent), children)');
}

function refuseWith(value: unknown, why: string): never {
  // renderValue, not JSON.stringify: the value may be a DAG (exponential to stringify), a cycle or hold a bigint (both throw).
  throw new ResultDecodeError(
    `${renderValue(value, 120)} ${why}. ` +
      "resultFromTuple reads what Celery stores for a task that returned another task's result; pass that task's result value.",
  );
}
