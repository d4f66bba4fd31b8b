/*
 * Turns the decoder's internal graph into the public value model. Each node gets its output
 * object ("shell") the first time it is reached, before its children are filled in, so shared
 * references stay shared and cycles (a list that contains itself) come out as cycles. Filling
 * uses an explicit work list rather than recursion, so depth is limited by maxDepth, not by
 * the JS call stack.
 */
import { PickleDecodeError, PickleLimitError, UnsafePickleError } from './errors';
import {
  AsyncResultNode,
  BytearrayNode,
  DictNode,
  ExceptionNode,
  GlobalNode,
  GroupResultNode,
  ListNode,
  type Node,
  NodeBase,
  OpaqueNode,
  SetNode,
  type Slot,
  TupleNode,
  UUIDNode,
} from './nodes';
import {
  CeleryAsyncResult,
  CeleryGroupResult,
  PyException,
  PyFrozenSet,
  type PyDict,
  PyTuple,
  PyUUID,
  type PyValue,
  tupleShell,
} from './values';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isNode(s: Slot): s is Node {
  return s instanceof NodeBase;
}

function refuse(s: OpaqueNode): never {
  throw new UnsafePickleError(s.root.offset, s.root.module, s.root.name);
}

/** A Celery result's id must be a plain str; an unknown global there is refused as such. */
function resultId(s: Slot, offset: number, what: string, nullable: boolean): string | null {
  if (s instanceof OpaqueNode) refuse(s);
  if (typeof s === 'string' || (nullable && s === null)) return s;
  throw new PickleDecodeError(offset, `${what} id is not a str`);
}

function resultRef(s: Slot, offset: number, what: string): void {
  if (s instanceof OpaqueNode) refuse(s);
  if (!(s instanceof AsyncResultNode || s instanceof GroupResultNode)) throw new PickleDecodeError(offset, `${what} is not a Celery result`);
}

function shell(s: Node): PyValue {
  if (s instanceof ListNode) return [];
  if (s instanceof TupleNode) return tupleShell<PyValue>();
  if (s instanceof DictNode) {
    // Decided from the raw keys: only str keys become a plain object; anything else needs a Map.
    return s.keys.every((k) => typeof k === 'string') ? (Object.create(null) as PyDict) : new Map<PyValue, PyValue>();
  }
  if (s instanceof SetNode) return s.frozen ? new PyFrozenSet<PyValue>() : new Set<PyValue>();
  if (s instanceof BytearrayNode) return s.bytes;
  if (s instanceof OpaqueNode) refuse(s);
  if (s instanceof GlobalNode) {
    throw new UnsafePickleError(s.offset, s.module, s.name, `returns global ${s.module}.${s.name} itself (a class or function object), not data built from it`);
  }
  if (s instanceof ExceptionNode) return new PyException(s.name, new PyTuple(), s.module);
  if (s instanceof UUIDNode) {
    if (s.value === null) throw new PickleDecodeError(s.offset, 'uuid.UUID was created but its state was never set (no BUILD)');
    return new PyUUID(s.value);
  }
  if (s instanceof AsyncResultNode) {
    if (s.parent !== null) resultRef(s.parent, s.offset, 'celery.result.AsyncResult parent');
    return new CeleryAsyncResult(resultId(s.id, s.offset, 'celery.result.AsyncResult', false) as string);
  }
  const results = s.results;
  if (results instanceof OpaqueNode) refuse(results);
  if (results !== null && !(results instanceof ListNode)) throw new PickleDecodeError(s.offset, 'celery.result.GroupResult results is not a list');
  for (const r of results?.items ?? []) resultRef(r, s.offset, 'a celery.result.GroupResult member');
  return new CeleryGroupResult(resultId(s.id, s.offset, 'celery.result.GroupResult', true), []);
}

export function finish(root: Slot, maxDepth: number): PyValue {
  const work: { node: Node; out: PyValue; depth: number }[] = [];

  const ref = (s: Slot, depth: number): PyValue => {
    if (!isNode(s)) return s; // already final: primitives, Buffer, Date and the immutable Py* leaves
    if (s.out !== undefined) return s.out;
    if (depth > maxDepth) throw new PickleLimitError(null, 'maxDepth', maxDepth);
    const out = shell(s);
    s.out = out;
    work.push({ node: s, out, depth });
    return out;
  };

  const fill = (s: Node, out: PyValue, depth: number): void => {
    if (s instanceof ListNode || s instanceof TupleNode) {
      const arr = out as PyValue[];
      for (const item of s.items) arr.push(ref(item, depth));
      if (s instanceof TupleNode) Object.freeze(arr);
    } else if (s instanceof DictNode) {
      if (out instanceof Map) {
        for (let i = 0; i < s.keys.length; i++) out.set(ref(s.keys[i], depth), ref(s.values[i], depth));
      } else {
        const obj = out as PyDict;
        for (let i = 0; i < s.keys.length; i++) obj[s.keys[i] as string] = ref(s.values[i], depth);
      }
    } else if (s instanceof SetNode) {
      for (const item of s.items) (out as Set<PyValue>).add(ref(item, depth));
    } else if (s instanceof ExceptionNode) {
      (out as Mutable<PyException>).exc_message = ref(s.args, depth) as PyTuple;
    } else if (s instanceof AsyncResultNode) {
      (out as Mutable<CeleryAsyncResult>).parent = ref(s.parent, depth) as CeleryAsyncResult | CeleryGroupResult | null;
    } else if (s instanceof GroupResultNode) {
      (out as Mutable<CeleryGroupResult>).results = s.results === null ? [] : (ref(s.results, depth) as CeleryAsyncResult[]);
    }
  };

  const result = ref(root, 0);
  for (let task = work.pop(); task !== undefined; task = work.pop()) fill(task.node, task.out, task.depth + 1);
  return result;
}
