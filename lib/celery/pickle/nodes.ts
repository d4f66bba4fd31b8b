/*
 * What the decoder's stack holds while it runs. Containers stay internal until STOP because
 * a dict can only become a plain object or a Map once all its keys are known, and because
 * unknown globals must be tracked until we know whether Celery's result reduce drops them.
 */
import { PyDate, PyDecimal, PyTime, PyTimedelta, PyTimezone, type PyValue } from './values';
import type { GlobalKind } from './globals';

/** Values that are already in their final form (immutable in Python, so sharing them is safe). */
export type Leaf = null | boolean | number | bigint | string | Buffer | Date | PyDate | PyTime | PyTimedelta | PyTimezone | PyDecimal;

/** Common base, so telling internal nodes from finished values is one instanceof check. */
export abstract class NodeBase {
  /** The finished value, once finish() has made it; kept here rather than in a Map to spare a large allocation. */
  out: PyValue | undefined = undefined;
}

export class ListNode extends NodeBase {
  readonly items: Slot[] = [];
}

/** Entries in insertion order; duplicates are resolved in Python's way (last value wins) when finished. */
export class DictNode extends NodeBase {
  readonly keys: Slot[] = [];
  readonly values: Slot[] = [];
}

export class SetNode extends NodeBase {
  readonly items: Slot[] = [];
  constructor(readonly frozen: boolean) {
    super();
  }
}

export class TupleNode extends NodeBase {
  readonly hashable: boolean;
  constructor(readonly items: Slot[]) {
    super();
    // Computed once from children that already know theirs, so deep tuples need no recursion.
    this.hashable = items.every(isHashable);
  }
}

/** Kept apart from bytes only because bytearray is unhashable; it finishes as a Buffer. */
export class BytearrayNode extends NodeBase {
  constructor(readonly bytes: Buffer) {
    super();
  }
}

/** An allowed global (class or function) referenced by the pickle, not yet applied. */
export class GlobalNode extends NodeBase {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: GlobalKind,
    readonly offset: number,
  ) {
    super();
  }
}

/** One reference to a global outside the allow-list. Refused at STOP unless an AsyncResult reduce dropped it. */
export class OpaqueRoot {
  dropped = false;
  constructor(
    readonly module: string,
    readonly name: string,
    readonly offset: number,
  ) {}
}

/** A value built from an unknown global. Never inspected, never part of the output; children are kept only to find nested roots. */
export class OpaqueNode extends NodeBase {
  constructor(
    readonly root: OpaqueRoot,
    readonly children: Slot[],
  ) {
    super();
  }
}

export class ExceptionNode extends NodeBase {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly args: TupleNode,
  ) {
    super();
  }
}

/** Created by NEWOBJ (or copyreg._reconstructor); the value arrives with BUILD. */
export class UUIDNode extends NodeBase {
  value: string | null = null;
  constructor(readonly offset: number) {
    super();
  }
}

export class AsyncResultNode extends NodeBase {
  constructor(
    readonly id: Slot,
    readonly parent: Slot,
    readonly offset: number,
  ) {
    super();
  }
}

export class GroupResultNode extends NodeBase {
  constructor(
    readonly id: Slot,
    readonly results: Slot,
    readonly offset: number,
  ) {
    super();
  }
}

export type Node =
  | ListNode
  | DictNode
  | SetNode
  | TupleNode
  | BytearrayNode
  | GlobalNode
  | OpaqueNode
  | ExceptionNode
  | UUIDNode
  | AsyncResultNode
  | GroupResultNode;

export type Slot = Leaf | Node;

/** Python would raise TypeError for these as dict keys or set members. */
export function isHashable(s: Slot): boolean {
  if (s instanceof TupleNode) return s.hashable;
  if (s instanceof SetNode) return s.frozen;
  return !(s instanceof ListNode || s instanceof DictNode || s instanceof BytearrayNode);
}

/** Python's type name, for messages that must not quote the value itself. */
export function typeName(s: Slot): string {
  if (s === null) return 'NoneType';
  switch (typeof s) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(s) ? 'int or float' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'str';
  }
  if (Buffer.isBuffer(s)) return 'bytes';
  if (s instanceof ListNode) return 'list';
  if (s instanceof DictNode) return 'dict';
  if (s instanceof SetNode) return s.frozen ? 'frozenset' : 'set';
  if (s instanceof TupleNode) return 'tuple';
  if (s instanceof BytearrayNode) return 'bytearray';
  if (s instanceof GlobalNode) return `global ${s.module}.${s.name}`;
  if (s instanceof OpaqueNode) return `${s.root.module}.${s.root.name} object`;
  if (s instanceof ExceptionNode) return `${s.module}.${s.name} exception`;
  if (s instanceof UUIDNode) return 'uuid.UUID';
  if (s instanceof AsyncResultNode) return 'celery.result.AsyncResult';
  if (s instanceof GroupResultNode) return 'celery.result.GroupResult';
  if (s instanceof Date) return 'datetime.datetime';
  if (s instanceof PyDate) return 'datetime.date';
  if (s instanceof PyTime) return 'datetime.time';
  if (s instanceof PyTimedelta) return 'datetime.timedelta';
  if (s instanceof PyTimezone) return 'datetime.timezone';
  return 'decimal.Decimal';
}
