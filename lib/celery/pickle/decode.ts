/*
 * A pickle virtual machine that only ever builds data. It follows CPython 3.11's C unpickler
 * (Modules/_pickle.c) for what each opcode does to the stack, but globals are looked up in a
 * fixed allow-list (globals.ts) and applied by handlers that build inert values (reduce.ts).
 */
import { InvalidOptionError } from '../../errors';
import { PickleDecodeError, PickleLimitError, UnsafePickleError } from './errors';
import { finish } from './finish';
import { isIdentifierPath, resolveGlobal } from './globals';
import {
  AsyncResultNode,
  BytearrayNode,
  DictNode,
  ExceptionNode,
  GlobalNode,
  GroupResultNode,
  ListNode,
  OpaqueNode,
  OpaqueRoot,
  SetNode,
  type Slot,
  TupleNode,
  isHashable,
  typeName,
} from './nodes';
import { HIGHEST_PROTOCOL, Op, opName } from './opcodes';
import { Reader } from './reader';
import { type ReduceContext, applyBuild, applyNewobj, applyReduce } from './reduce';
import { asciiDecode, escapeDecode, normalizeInt, parseDecimalInt, parseFloatText, rawUnicodeEscapeDecode } from './text';
import type { PyValue } from './values';

/** Limits that bound the work and memory one decode may use. All are counts except `maxInputBytes`. */
export interface DecodeOptions {
  /** Largest input accepted, in bytes. Default 64 MiB. */
  maxInputBytes?: number;
  /**
   * Deepest nesting of containers (and of MARKs). Default 1000, at most 10000: decoding itself does not
   * recurse, but JSON.stringify, util.inspect and most code that walks the result do.
   */
  maxDepth?: number;
  /** Most memo entries. Default 1,000,000. */
  maxMemoEntries?: number;
  /** Most elements in one list, tuple, dict, set, or on the stack. Default 1,000,000. */
  maxContainerElements?: number;
  /**
   * Most containers and objects created (lists, tuples, dicts, sets, bytearrays, results of REDUCE...).
   * Each costs a few hundred bytes while decoding, so this bounds memory for input made of tiny
   * containers (`]` is one byte). Default 1,000,000 (a few hundred MB at worst).
   */
  maxObjects?: number;
}

const DEFAULTS: Required<DecodeOptions> = {
  maxInputBytes: 64 * 1024 * 1024,
  maxDepth: 1000,
  maxMemoEntries: 1_000_000,
  maxContainerElements: 1_000_000,
  maxObjects: 1_000_000,
};

function resolveOptions(options: DecodeOptions | undefined): Required<DecodeOptions> {
  const out = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof DecodeOptions)[]) {
    const v = options?.[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1 || (key === 'maxDepth' && v > 10_000)) {
      throw new InvalidOptionError(
        `decodePickle option ${key} is ${String(v)}; it must be a positive integer${key === 'maxDepth' ? ' up to 10000' : ''}. Pass a valid limit or leave it unset for the default.`,
      );
    }
    out[key] = v;
  }
  return out;
}

class Machine implements ReduceContext {
  private stack: Slot[] = [];
  private readonly marks: Slot[][] = [];
  // An array, not a Map: Python's memo indices are dense in practice; a huge PUT index just makes it sparse.
  private readonly memo: Slot[] = [];
  private memoSize = 0;
  private readonly roots: OpaqueRoot[] = [];
  private readonly dropped = new Set<object>();
  private protocol = 0;
  private budget: number;
  private readonly r: Reader;

  constructor(
    bytes: Uint8Array,
    private readonly o: Required<DecodeOptions>,
  ) {
    this.r = new Reader(bytes);
    this.budget = o.maxObjects;
  }

  get offset(): number {
    return this.r.opStart;
  }

  fail(what: string): never {
    return this.r.fail(what);
  }

  private spend(): void {
    if (--this.budget < 0) throw new PickleLimitError(this.offset, 'maxObjects', this.o.maxObjects);
  }

  private room(length: number): void {
    if (length > this.o.maxContainerElements) throw new PickleLimitError(this.offset, 'maxContainerElements', this.o.maxContainerElements);
  }

  /** `fresh`: the value was just created here, rather than fetched again by GET or DUP. */
  private push(v: Slot, fresh = true): void {
    if (fresh && v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) this.spend();
    this.room(this.stack.length + 1);
    this.stack.push(v);
  }

  private pop(): Slot {
    if (this.stack.length === 0) this.fail(`${opName(this.r.bytes[this.offset])} found the stack empty (stack underflow)`);
    return this.stack.pop() as Slot;
  }

  private top(): Slot {
    if (this.stack.length === 0) this.fail(`${opName(this.r.bytes[this.offset])} found the stack empty (stack underflow)`);
    return this.stack[this.stack.length - 1];
  }

  private popMark(): Slot[] {
    const items = this.stack;
    const outer = this.marks.pop();
    if (outer === undefined) this.fail(`${opName(this.r.bytes[this.offset])} found no MARK`);
    this.stack = outer;
    return items;
  }

  private memoPut(index: number): void {
    const value = this.top();
    if (this.memo[index] === undefined) {
      if (this.memoSize >= this.o.maxMemoEntries) throw new PickleLimitError(this.offset, 'maxMemoEntries', this.o.maxMemoEntries);
      this.memoSize++;
    }
    this.memo[index] = value;
  }

  private memoGet(index: number): void {
    const v = this.memo[index];
    if (v === undefined) this.fail(`memo index ${index} was never stored`);
    this.push(v, false);
  }

  private text(what: string): string {
    return this.r.textLine(what);
  }

  private str(s: string | null): string {
    if (s === null) this.fail('string is not valid UTF-8');
    return s;
  }

  private long(bytes: Uint8Array): number | bigint {
    if (bytes.length === 0) return 0;
    let v = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
    if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8);
    return normalizeInt(v);
  }

  private global(module: string, name: string): void {
    if (!isIdentifierPath(module) || !isIdentifierPath(name)) {
      this.fail('a global reference does not name a module and attribute');
    }
    const g = resolveGlobal(module, name, this.protocol);
    if (g.kind !== null) {
      this.push(new GlobalNode(g.module, g.name, g.kind, this.offset));
    } else {
      // Not refused yet: Celery's AsyncResult pickles its backend this way, and that sub-tree is dropped.
      const root = new OpaqueRoot(g.module, g.name, this.offset);
      this.roots.push(root);
      this.push(new OpaqueNode(root, []));
    }
  }

  /** Marks every unknown global reachable from a slot as dropped. Each node is walked once per decode. */
  drop(slot: Slot): void {
    const todo: Slot[] = [slot];
    while (todo.length) {
      const s = todo.pop() as Slot;
      if (s === null || typeof s !== 'object' || this.dropped.has(s)) continue;
      this.dropped.add(s);
      if (s instanceof OpaqueNode) {
        s.root.dropped = true;
        for (const it of s.children) todo.push(it);
      } else if (s instanceof ListNode || s instanceof SetNode || s instanceof TupleNode) {
        for (const it of s.items) todo.push(it);
      } else if (s instanceof DictNode) {
        for (const it of s.keys) todo.push(it);
        for (const it of s.values) todo.push(it);
      } else if (s instanceof ExceptionNode) {
        todo.push(s.args);
      } else if (s instanceof AsyncResultNode) {
        todo.push(s.id, s.parent);
      } else if (s instanceof GroupResultNode) {
        todo.push(s.id, s.results);
      }
    }
  }

  /** Items given to an unknown object are kept (never used) only so a drop walk can reach what they reference. */
  private adopt(target: OpaqueNode, items: Slot[]): void {
    this.room(target.children.length + items.length);
    // A loop, not push(...items): spreading a large batch would overflow the argument limit.
    for (const it of items) target.children.push(it);
  }

  private append(target: Slot, items: Slot[]): void {
    if (target instanceof OpaqueNode) {
      this.adopt(target, items);
    } else if (target instanceof ListNode) {
      this.room(target.items.length + items.length);
      for (const it of items) target.items.push(it);
    } else {
      this.fail(`APPEND to a ${typeName(target)}, which is not a list`);
    }
  }

  private setItems(target: Slot, items: Slot[]): void {
    if (items.length % 2 !== 0) this.fail('SETITEMS has an odd number of items');
    if (target instanceof OpaqueNode) {
      this.adopt(target, items);
      return;
    }
    if (!(target instanceof DictNode)) this.fail(`SETITEM on a ${typeName(target)}, which is not a dict`);
    this.room(target.keys.length + items.length / 2);
    for (let i = 0; i < items.length; i += 2) {
      if (!isHashable(items[i])) this.fail(`dict key is an unhashable ${typeName(items[i])}`);
      target.keys.push(items[i]);
      target.values.push(items[i + 1]);
    }
  }

  private addItems(target: SetNode | OpaqueNode, items: Slot[]): void {
    if (target instanceof OpaqueNode) {
      this.adopt(target, items);
      return;
    }
    this.room(target.items.length + items.length);
    for (const it of items) {
      if (!isHashable(it)) this.fail(`set member is an unhashable ${typeName(it)}`);
      target.items.push(it);
    }
  }

  private tuple(items: Slot[]): void {
    this.room(items.length);
    this.push(new TupleNode(items));
  }

  private refuse(found: string, module: string | null = null, name: string | null = null): never {
    throw new UnsafePickleError(this.offset, module, name, found);
  }

  run(): PyValue {
    const r = this.r;
    for (;;) {
      r.opStart = r.pos;
      const op = r.u8('opcode');
      switch (op) {
        case Op.PROTO: {
          const p = r.u8('PROTO');
          if (p > HIGHEST_PROTOCOL) this.fail(`unsupported pickle protocol ${p}`);
          this.protocol = p;
          break;
        }
        case Op.FRAME: {
          // CPython only checks that the whole frame is present; frames carry no meaning for decoding.
          const n = r.u64('FRAME');
          if (n > r.remaining) this.fail(`FRAME declares ${n} bytes but only ${r.remaining} remain (truncated)`);
          break;
        }
        case Op.STOP:
          return this.stop();

        case Op.MARK:
          if (this.marks.length >= this.o.maxDepth) throw new PickleLimitError(this.offset, 'maxDepth', this.o.maxDepth);
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case Op.POP:
          if (this.stack.length) this.stack.pop();
          else if (this.marks.length) this.popMark(); // CPython: POP with nothing above the mark discards the mark
          else this.fail('POP found the stack empty (stack underflow)');
          break;
        case Op.POP_MARK:
          this.popMark();
          break;
        case Op.DUP:
          this.push(this.top(), false);
          break;

        case Op.NONE:
          this.push(null);
          break;
        case Op.NEWTRUE:
          this.push(true);
          break;
        case Op.NEWFALSE:
          this.push(false);
          break;
        case Op.INT: {
          const t = this.text('INT');
          if (t === '00' || t === '01') {
            this.push(t === '01');
            break;
          }
          const v = parseDecimalInt(t);
          if (v === null) this.fail('INT argument is not a decimal integer (of at most 4300 digits)');
          this.push(v);
          break;
        }
        case Op.LONG: {
          const v = parseDecimalInt(this.text('LONG').replace(/L$/, ''));
          if (v === null) this.fail('LONG argument is not a decimal integer (of at most 4300 digits)');
          this.push(v);
          break;
        }
        case Op.BININT:
          this.push(r.i32('BININT'));
          break;
        case Op.BININT1:
          this.push(r.u8('BININT1'));
          break;
        case Op.BININT2:
          this.push(r.u16('BININT2'));
          break;
        case Op.LONG1:
          this.push(this.long(r.take(r.u8('LONG1'), 'LONG1')));
          break;
        case Op.LONG4: {
          const n = r.i32('LONG4');
          if (n < 0) this.fail('LONG4 has a negative byte count');
          this.push(this.long(r.take(n, 'LONG4')));
          break;
        }
        case Op.FLOAT: {
          const v = parseFloatText(this.text('FLOAT'));
          if (v === null) this.fail('FLOAT argument is not a number');
          this.push(v);
          break;
        }
        case Op.BINFLOAT:
          this.push(r.f64be('BINFLOAT'));
          break;

        case Op.STRING: {
          const line = r.line('STRING');
          const q = line[0];
          if (line.length < 2 || line[line.length - 1] !== q || (q !== 0x22 && q !== 0x27)) this.fail('STRING argument is not quoted');
          const raw = escapeDecode(line.subarray(1, line.length - 1));
          if (raw === null) this.fail('STRING argument has an invalid escape');
          this.pushAscii(raw);
          break;
        }
        case Op.BINSTRING: {
          const n = r.i32('BINSTRING');
          if (n < 0) this.fail('BINSTRING has a negative byte count');
          this.pushAscii(r.take(n, 'BINSTRING'));
          break;
        }
        case Op.SHORT_BINSTRING:
          this.pushAscii(r.take(r.u8('SHORT_BINSTRING'), 'SHORT_BINSTRING'));
          break;
        case Op.UNICODE: {
          const s = rawUnicodeEscapeDecode(r.line('UNICODE'));
          if (s === null) this.fail('UNICODE argument has an invalid \\u escape');
          this.push(s);
          break;
        }
        case Op.SHORT_BINUNICODE:
          this.push(this.str(r.utf8(r.u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE')));
          break;
        case Op.BINUNICODE:
          this.push(this.str(r.utf8(r.u32('BINUNICODE'), 'BINUNICODE')));
          break;
        case Op.BINUNICODE8:
          this.push(this.str(r.utf8(r.u64('BINUNICODE8'), 'BINUNICODE8')));
          break;
        case Op.SHORT_BINBYTES:
          this.push(r.copy(r.u8('SHORT_BINBYTES'), 'SHORT_BINBYTES'));
          break;
        case Op.BINBYTES:
          this.push(r.copy(r.u32('BINBYTES'), 'BINBYTES'));
          break;
        case Op.BINBYTES8:
          this.push(r.copy(r.u64('BINBYTES8'), 'BINBYTES8'));
          break;
        case Op.BYTEARRAY8:
          this.push(new BytearrayNode(r.copy(r.u64('BYTEARRAY8'), 'BYTEARRAY8')));
          break;
        case Op.NEXT_BUFFER:
          this.fail('NEXT_BUFFER asks for an out-of-band buffer, and none can be supplied here');
          break;
        case Op.READONLY_BUFFER: {
          const t = this.top();
          if (!Buffer.isBuffer(t) && !(t instanceof BytearrayNode)) this.fail('READONLY_BUFFER applies to a non-buffer');
          break;
        }

        case Op.EMPTY_LIST:
          this.push(new ListNode());
          break;
        case Op.LIST: {
          const items = this.popMark();
          const list = new ListNode();
          this.append(list, items);
          this.push(list);
          break;
        }
        case Op.APPEND: {
          const v = this.pop();
          this.append(this.top(), [v]);
          break;
        }
        case Op.APPENDS: {
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case Op.EMPTY_TUPLE:
          this.tuple([]);
          break;
        case Op.TUPLE:
          this.tuple(this.popMark());
          break;
        case Op.TUPLE1:
        case Op.TUPLE2:
        case Op.TUPLE3: {
          const n = op - Op.TUPLE1 + 1;
          if (this.stack.length < n) this.fail(`${opName(op)} found the stack empty (stack underflow)`);
          this.tuple(this.stack.splice(this.stack.length - n, n));
          break;
        }
        case Op.EMPTY_DICT:
          this.push(new DictNode());
          break;
        case Op.DICT: {
          const items = this.popMark();
          const d = new DictNode();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case Op.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case Op.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case Op.EMPTY_SET:
          this.push(new SetNode(false));
          break;
        case Op.ADDITEMS: {
          const items = this.popMark();
          const t = this.top();
          if (!(t instanceof OpaqueNode) && !(t instanceof SetNode && !t.frozen)) this.fail(`ADDITEMS to a ${typeName(t)}, which is not a set`);
          this.addItems(t, items);
          break;
        }
        case Op.FROZENSET: {
          const items = this.popMark();
          const s = new SetNode(true);
          this.addItems(s, items);
          this.push(s);
          break;
        }

        case Op.GET: {
          const v = parseDecimalInt(this.text('GET'));
          if (typeof v !== 'number' || v < 0) this.fail('GET argument is not a memo index');
          this.memoGet(v);
          break;
        }
        case Op.BINGET:
          this.memoGet(r.u8('BINGET'));
          break;
        case Op.LONG_BINGET:
          this.memoGet(r.u32('LONG_BINGET'));
          break;
        case Op.PUT: {
          const v = parseDecimalInt(this.text('PUT'));
          if (typeof v !== 'number' || v < 0) this.fail('PUT argument is not a memo index');
          this.memoPut(v);
          break;
        }
        case Op.BINPUT:
          this.memoPut(r.u8('BINPUT'));
          break;
        case Op.LONG_BINPUT:
          this.memoPut(r.u32('LONG_BINPUT'));
          break;
        case Op.MEMOIZE:
          this.memoPut(this.memoSize); // Python: memo[len(memo)]
          break;

        case Op.GLOBAL: {
          const module = this.text('GLOBAL module');
          this.global(module, this.text('GLOBAL name'));
          break;
        }
        case Op.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL operands are not two str');
          this.global(module, name);
          break;
        }
        case Op.REDUCE: {
          const args = this.pop();
          const callable = this.pop();
          this.push(applyReduce(this, callable, args));
          break;
        }
        case Op.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(applyNewobj(this, cls, args));
          break;
        }
        case Op.BUILD: {
          const state = this.pop();
          applyBuild(this, this.top(), state);
          break;
        }
        case Op.NEWOBJ_EX: {
          const cls = this.stack[this.stack.length - 3];
          this.refuseClass('instantiates', cls, 'NEWOBJ_EX');
          break;
        }
        case Op.OBJ: {
          const cls = this.stack[0];
          this.refuseClass('instantiates', cls, 'OBJ');
          break;
        }
        case Op.INST: {
          const module = this.text('INST module');
          const name = this.text('INST name');
          if (!isIdentifierPath(module) || !isIdentifierPath(name)) this.fail('INST does not name a module and class');
          this.refuse(`instantiates global ${module}.${name} with INST`, module, name);
          break;
        }
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4:
          this.refuse(`uses ${opName(op)}, which loads a global from the copyreg extension registry`);
          break;
        case Op.PERSID:
        case Op.BINPERSID:
          this.refuse(`uses ${opName(op)}, which asks the application to load an external object`);
          break;
        default:
          this.fail(`unknown opcode ${opName(op)}`);
      }
    }
  }

  private pushAscii(bytes: Uint8Array): void {
    const s = asciiDecode(bytes);
    if (s === null) this.fail('Python 2 str is not ASCII (Python 3 reads it as ASCII by default)');
    this.push(s);
  }

  private refuseClass(verb: string, cls: Slot | undefined, op: string): never {
    const named = cls instanceof GlobalNode ? cls : cls instanceof OpaqueNode ? cls.root : null;
    if (named) this.refuse(`${verb} global ${named.module}.${named.name} with ${op}`, named.module, named.name);
    return this.refuse(`uses ${op}, which instantiates a class`);
  }

  private stop(): PyValue {
    const value = this.pop();
    // An unknown global that was not dropped by an AsyncResult reduce counts as used, even if
    // it is not in the value returned: Python would have imported and possibly called it.
    for (const root of this.roots) if (!root.dropped) throw new UnsafePickleError(root.offset, root.module, root.name);
    return finish(value, this.o.maxDepth);
  }
}

/**
 * Decodes Python pickle bytes (protocols 0-5) into the value model of `values.ts` without
 * executing anything. Whatever the bytes, it throws only {@link UnsafePickleError} (a global
 * outside the allow-list) or {@link PickleDecodeError} / {@link PickleLimitError} (malformed
 * input or a limit hit); `InvalidOptionError` means the call itself was wrong (bad options, or
 * input that is not a Uint8Array).
 */
export function decodePickle(bytes: Uint8Array, options?: DecodeOptions): PyValue {
  const o = resolveOptions(options);
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidOptionError(`decodePickle was given a ${typeof bytes}, not bytes. Pass the bytea column as a Buffer or Uint8Array.`);
  }
  if (bytes.length > o.maxInputBytes) throw new PickleLimitError(null, 'maxInputBytes', o.maxInputBytes);
  try {
    return new Machine(bytes, o).run();
  } catch (err) {
    if (err instanceof PickleDecodeError || err instanceof UnsafePickleError) throw err;
    // A last line of defence (e.g. the JS stack running out): callers are promised typed errors only.
    throw new PickleDecodeError(null, `the decoder failed unexpectedly (${err instanceof Error ? err.name : 'non-error thrown'})`, { cause: err });
  }
}
