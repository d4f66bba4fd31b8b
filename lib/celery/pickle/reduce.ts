/*
 * What REDUCE, NEWOBJ and BUILD mean for the allow-listed globals. Each handler checks that its
 * arguments have exactly the shape CPython 3.11 writes for that type and builds an inert value;
 * nothing is called. Anything built from an unknown global stays an OpaqueNode.
 */
import { UnsafePickleError } from './errors';
import { APP_RESULT_CLASSES, isIdentifierPath } from './globals';
import {
  AsyncResultNode,
  BytearrayNode,
  DictNode,
  ExceptionNode,
  GlobalNode,
  GroupResultNode,
  ListNode,
  OpaqueNode,
  SetNode,
  type Slot,
  TupleNode,
  UUIDNode,
  isHashable,
  typeName,
} from './nodes';
import { PyDate, PyDecimal, PyTime, PyTimedelta, PyTimezone, dateProblem, timeProblem } from './values';

/** What the handlers need from the running decoder. */
export interface ReduceContext {
  /** Throws PickleDecodeError for the current opcode. */
  fail(what: string): never;
  /** Marks every unknown global reachable from a slot as dropped: it will not be part of the result. */
  drop(slot: Slot): void;
  offset: number;
}

/** An unknown global in a position whose value we would have to use: refuse it now, by name. */
export function refuseOpaque(s: Slot): void {
  if (s instanceof OpaqueNode) throw new UnsafePickleError(s.root.offset, s.root.module, s.root.name);
}

function argTuple(ctx: ReduceContext, g: GlobalNode, args: Slot): Slot[] {
  refuseOpaque(args);
  if (!(args instanceof TupleNode)) ctx.fail(`REDUCE of ${g.module}.${g.name} got a ${typeName(args)} instead of an argument tuple`);
  return args.items;
}

function shape(ctx: ReduceContext, g: GlobalNode, items: Slot[], min: number, max: number): void {
  for (const it of items) refuseOpaque(it);
  if (items.length < min || items.length > max) {
    ctx.fail(`${g.module}.${g.name} was given ${items.length} arguments, not the form Python writes`);
  }
}

function int(ctx: ReduceContext, g: GlobalNode, s: Slot | undefined): number {
  if (s === undefined) return 0;
  if (typeof s === 'number' && Number.isSafeInteger(s)) return s;
  return ctx.fail(`${g.module}.${g.name} expects int arguments, got ${typeName(s ?? null)}`);
}

function bytesArg(ctx: ReduceContext, g: GlobalNode, s: Slot, length: number): Buffer {
  if (!Buffer.isBuffer(s) || s.length !== length) ctx.fail(`${g.module}.${g.name} expects a ${length}-byte state`);
  return s;
}

function tzArg(ctx: ReduceContext, g: GlobalNode, s: Slot | undefined): PyTimezone | null {
  if (s === undefined || s === null) return null;
  if (!(s instanceof PyTimezone)) ctx.fail(`${g.module}.${g.name} expects a datetime.timezone tzinfo, got ${typeName(s)}`);
  return s;
}

function check(ctx: ReduceContext, problem: string | null): void {
  if (problem !== null) ctx.fail(problem);
}

function datetimeFromState(ctx: ReduceContext, g: GlobalNode, items: Slot[]): Date {
  const b = bytesArg(ctx, g, items[0], 10);
  const tz = tzArg(ctx, g, items[1]);
  const year = b[0] * 256 + b[1];
  const [month, day, hour, minute, second] = [b[2] & 0x7f, b[3], b[4], b[5], b[6]];
  const micro = (b[7] << 16) | (b[8] << 8) | b[9];
  check(ctx, dateProblem(year, month, day));
  check(ctx, timeProblem(hour, minute, second, micro));
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  // Naive datetimes are taken as UTC (Celery writes naive UTC); aware ones are moved to the instant they denote.
  const offsetUs = tz ? tz.utcOffset.totalMicroseconds() : 0n;
  const us = BigInt(d.getTime()) * 1000n + BigInt(micro) - offsetUs;
  const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
  return new Date(Number(ms));
}

function timeFromState(ctx: ReduceContext, g: GlobalNode, items: Slot[]): PyTime {
  const b = bytesArg(ctx, g, items[0], 6);
  const tz = tzArg(ctx, g, items[1]);
  const micro = (b[3] << 16) | (b[4] << 8) | b[5];
  check(ctx, timeProblem(b[0] & 0x7f, b[1], b[2], micro));
  return new PyTime(b[0] & 0x7f, b[1], b[2], micro, tz, b[0] & 0x80 ? 1 : 0);
}

function timedelta(ctx: ReduceContext, g: GlobalNode, items: Slot[]): PyTimedelta {
  const [days, seconds, micro] = [int(ctx, g, items[0]), int(ctx, g, items[1]), int(ctx, g, items[2])];
  const perDay = 86_400_000_000n;
  const total = BigInt(days) * perDay + BigInt(seconds) * 1_000_000n + BigInt(micro);
  // Python's range after normalization: -999999999 <= days <= 999999999.
  if (total < -999_999_999n * perDay || total >= 1_000_000_000n * perDay) ctx.fail('datetime.timedelta is out of range');
  return new PyTimedelta(days, seconds, micro);
}

function timezone(ctx: ReduceContext, g: GlobalNode, items: Slot[]): PyTimezone {
  const [offset, name] = items;
  if (!(offset instanceof PyTimedelta)) return ctx.fail('datetime.timezone expects a timedelta offset');
  if (name !== undefined && typeof name !== 'string') ctx.fail('datetime.timezone expects a str name');
  const us = offset.totalMicroseconds();
  if (us <= -86_400_000_000n || us >= 86_400_000_000n) ctx.fail('datetime.timezone offset is not strictly within 24 hours');
  return new PyTimezone(offset, name ?? null);
}

function collection(ctx: ReduceContext, g: GlobalNode, items: Slot[], frozen: boolean): SetNode {
  const set = new SetNode(frozen);
  if (items.length === 0) return set;
  const src = items[0];
  if (!(src instanceof ListNode || src instanceof TupleNode)) return ctx.fail(`${g.module}.${g.name} expects a list of items`);
  for (const it of src.items) {
    if (!isHashable(it)) ctx.fail(`${g.module}.${g.name} got an unhashable ${typeName(it)} item`);
    set.items.push(it);
  }
  return set;
}

function latin1(ctx: ReduceContext, items: Slot[]): Buffer {
  const [text, encoding] = items;
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    return ctx.fail("_codecs.encode is only decoded as Python writes bytes: encode(str, 'latin1')");
  }
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) ctx.fail('_codecs.encode text is not latin-1');
  return Buffer.from(text, 'latin1');
}

/** REDUCE: `callable(*args)` for an allowed callable, or a new opaque value for an unknown one. */
export function applyReduce(ctx: ReduceContext, callable: Slot, args: Slot): Slot {
  if (callable instanceof OpaqueNode) return new OpaqueNode(callable.root, [callable, args]);
  if (!(callable instanceof GlobalNode)) return ctx.fail(`REDUCE applies a ${typeName(callable)}, which is not a callable global`);
  const g = callable;
  const items = argTuple(ctx, g, args);
  switch (g.kind) {
    case 'datetime':
      shape(ctx, g, items, 1, 2);
      return datetimeFromState(ctx, g, items);
    case 'date': {
      shape(ctx, g, items, 1, 1);
      const b = bytesArg(ctx, g, items[0], 4);
      check(ctx, dateProblem(b[0] * 256 + b[1], b[2], b[3]));
      return new PyDate(b[0] * 256 + b[1], b[2], b[3]);
    }
    case 'time':
      shape(ctx, g, items, 1, 2);
      return timeFromState(ctx, g, items);
    case 'timedelta':
      shape(ctx, g, items, 0, 3);
      return timedelta(ctx, g, items);
    case 'timezone':
      shape(ctx, g, items, 1, 2);
      return timezone(ctx, g, items);
    case 'decimal': {
      shape(ctx, g, items, 1, 1);
      const v = items[0];
      if (typeof v !== 'string' || !PyDecimal.isValid(v)) return ctx.fail('decimal.Decimal expects a decimal literal str');
      return new PyDecimal(v);
    }
    case 'exception':
      // The args may hold anything; they are checked when the result is finished.
      return new ExceptionNode(g.module, g.name, args as TupleNode);
    case 'async_result':
      if (items.length < 1 || items.length > 5) ctx.fail('celery.result.AsyncResult was given an unexpected number of arguments');
      // (id, backend, task_name, app, parent): the backend and app embed configuration, the
      // database URL with its password included, so they are dropped unseen.
      for (const i of [1, 2, 3]) if (i < items.length) ctx.drop(items[i]);
      return new AsyncResultNode(items[0], items[4] ?? null, ctx.offset);
    case 'app_attr': {
      // _unpickle_appattr(name, args) calls app.<name>(*args): for the result classes, the same
      // (inert) value as celery.result.<name>(*args); for anything else, a refusal naming it.
      const [name, inner] = items;
      if (items.length !== 2 || typeof name !== 'string' || !isIdentifierPath(name)) ctx.fail('celery.app.base._unpickle_appattr expects (attribute name, argument tuple)');
      const kind = APP_RESULT_CLASSES.get(name);
      if (kind === undefined) throw new UnsafePickleError(g.offset, g.module, `${g.name}('${name}')`);
      return applyReduce(ctx, new GlobalNode('celery.result', name, kind, g.offset), inner);
    }
    case 'group_result':
      if (items.length < 1 || items.length > 2) ctx.fail('celery.result.GroupResult was given an unexpected number of arguments');
      return new GroupResultNode(items[0], items[1] ?? null, ctx.offset);
    case 'codecs_encode':
      shape(ctx, g, items, 2, 2);
      return latin1(ctx, items);
    case 'set':
    case 'frozenset':
      shape(ctx, g, items, 0, 1);
      return collection(ctx, g, items, g.kind === 'frozenset');
    case 'bytes':
      shape(ctx, g, items, 0, 0);
      return Buffer.alloc(0);
    case 'bytearray': {
      shape(ctx, g, items, 0, 1);
      const src = items[0] ?? Buffer.alloc(0);
      if (!Buffer.isBuffer(src)) return ctx.fail('builtins.bytearray expects bytes');
      return new BytearrayNode(Buffer.from(src));
    }
    case 'reconstructor': {
      shape(ctx, g, items, 3, 3);
      const [cls, base, state] = items;
      const isUuid = cls instanceof GlobalNode && cls.kind === 'uuid';
      if (!isUuid || !(base instanceof GlobalNode && base.kind === 'object') || state !== null) {
        return ctx.fail('copyreg._reconstructor is only decoded for uuid.UUID');
      }
      return new UUIDNode(ctx.offset);
    }
    default:
      throw new UnsafePickleError(ctx.offset, g.module, g.name, `calls global ${g.module}.${g.name} in a form this decoder does not model`);
  }
}

/** NEWOBJ: `cls.__new__(cls, *args)`. Python 3.11 uses it, among our types, only for uuid.UUID. */
export function applyNewobj(ctx: ReduceContext, cls: Slot, args: Slot): Slot {
  if (cls instanceof OpaqueNode) return new OpaqueNode(cls.root, [cls, args]);
  if (!(cls instanceof GlobalNode)) return ctx.fail(`NEWOBJ instantiates a ${typeName(cls)}, which is not a class`);
  if (cls.kind === 'uuid') {
    refuseOpaque(args);
    if (!(args instanceof TupleNode) || args.items.length !== 0) ctx.fail('uuid.UUID is created with an empty argument tuple');
    return new UUIDNode(ctx.offset);
  }
  throw new UnsafePickleError(ctx.offset, cls.module, cls.name, `instantiates global ${cls.module}.${cls.name} with NEWOBJ, a form this decoder does not model`);
}

function uuidState(ctx: ReduceContext, node: UUIDNode, state: Slot): void {
  refuseOpaque(state);
  if (!(state instanceof DictNode)) return ctx.fail('uuid.UUID state must be a dict');
  let value: string | null = null;
  for (let i = 0; i < state.keys.length; i++) {
    const [k, v] = [state.keys[i], state.values[i]];
    refuseOpaque(v);
    if (k === 'int') {
      const n = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
      if (typeof n !== 'bigint' || n < 0n || n >= 1n << 128n) return ctx.fail('uuid.UUID int is not in 0..2**128-1');
      value = n.toString(16).padStart(32, '0');
    } else if (k === 'is_safe') {
      if (v !== null && typeof v !== 'number') ctx.fail('uuid.UUID is_safe must be an int or None');
    } else {
      ctx.fail('uuid.UUID state has an unexpected key');
    }
  }
  if (value === null) ctx.fail('uuid.UUID state has no int');
  node.value = value;
}

/** BUILD: `inst.__setstate__(state)`. */
export function applyBuild(ctx: ReduceContext, inst: Slot, state: Slot): void {
  if (inst instanceof OpaqueNode) {
    inst.children.push(state);
  } else if (inst instanceof UUIDNode) {
    uuidState(ctx, inst, state);
  } else if (inst instanceof ExceptionNode) {
    // Attributes assigned to an exception are not part of the model; any unknown global among
    // them still counts as used (it was not dropped), so it is refused at STOP.
    refuseOpaque(state);
    if (state !== null && !(state instanceof DictNode)) ctx.fail('exception state must be a dict');
  } else {
    ctx.fail(`BUILD sets state on a ${typeName(inst)}, which has none to set`);
  }
}
