import { NadaError } from '../../errors.ts';
import { NamespaceRecord, newDict, resolveGlobal, type SafeGlobal } from './pickle-globals.ts';
import type { PickleMachine } from './pickle.ts';

/** The opcodes a torch checkpoint can contain (protocols 2–5), by their pickletools names. */
export const OP = {
  PROTO: 0x80, FRAME: 0x95, STOP: 0x2e,
  MARK: 0x28, POP: 0x30, POP_MARK: 0x31, DUP: 0x32,
  NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, LONG4: 0x8b,
  INT: 0x49, LONG: 0x4c, BINFLOAT: 0x47, FLOAT: 0x46,
  BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d,
  BINSTRING: 0x54, SHORT_BINSTRING: 0x55,
  BINBYTES: 0x42, SHORT_BINBYTES: 0x43, BINBYTES8: 0x8e, BYTEARRAY8: 0x96,
  EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29, EMPTY_SET: 0x8f,
  DICT: 0x64, LIST: 0x6c, TUPLE: 0x74, FROZENSET: 0x91,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  APPEND: 0x61, APPENDS: 0x65, ADDITEMS: 0x90, SETITEM: 0x73, SETITEMS: 0x75,
  BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, PUT: 0x70,
  BINGET: 0x68, LONG_BINGET: 0x6a, GET: 0x67,
  GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, NEWOBJ: 0x81, NEWOBJ_EX: 0x92,
  BUILD: 0x62, BINPERSID: 0x51,
} as const; // prettier-ignore

type Handler = (m: PickleMachine) => void;

/**
 * What each opcode does. Opcodes missing here (INST, OBJ, EXT*, PERSID, out-of-band buffers)
 * are refused: weights files never need them.
 */
export const HANDLERS = new Map<number, Handler>([
  // framing
  [OP.PROTO, (m) => m.u8()],
  [OP.FRAME, (m) => m.take(8)],

  // stack structure
  [OP.MARK, (m) => m.mark()],
  [OP.POP, (m) => m.pop()],
  [OP.POP_MARK, (m) => m.popMark()],
  [OP.DUP, (m) => m.push(m.top())],

  // constants and numbers
  [OP.NONE, (m) => m.push(null)],
  [OP.NEWTRUE, (m) => m.push(true)],
  [OP.NEWFALSE, (m) => m.push(false)],
  [OP.BININT, (m) => m.push(m.i32())],
  [OP.BININT1, (m) => m.push(m.u8())],
  [OP.BININT2, (m) => m.push(m.u16())],
  [OP.LONG1, (m) => m.push(m.long(m.u8()))],
  [OP.LONG4, (m) => m.push(m.long(m.u32()))],
  [OP.INT, (m) => m.push(m.textInt())],
  [OP.LONG, (m) => m.push(m.textInt())],
  [OP.BINFLOAT, (m) => m.push(m.f64())],
  [OP.FLOAT, (m) => m.push(Number.parseFloat(m.line()))],

  // strings and bytes
  [OP.BINUNICODE, (m) => m.push(m.utf8(m.u32()))],
  [OP.SHORT_BINUNICODE, (m) => m.push(m.utf8(m.u8()))],
  [OP.BINUNICODE8, (m) => m.push(m.utf8(m.u64()))],
  [OP.BINSTRING, (m) => m.push(m.latin1(m.u32()))],
  [OP.SHORT_BINSTRING, (m) => m.push(m.latin1(m.u8()))],
  [OP.BINBYTES, (m) => m.push(m.take(m.u32()).slice())],
  [OP.SHORT_BINBYTES, (m) => m.push(m.take(m.u8()).slice())],
  [OP.BINBYTES8, (m) => m.push(m.take(m.u64()).slice())],
  [OP.BYTEARRAY8, (m) => m.push(m.take(m.u64()).slice())],

  // containers: dicts → prototype-less objects; lists, tuples and sets → arrays
  [OP.EMPTY_DICT, (m) => m.push(newDict())],
  [OP.EMPTY_LIST, (m) => m.push([])],
  [OP.EMPTY_TUPLE, (m) => m.push([])],
  [OP.EMPTY_SET, (m) => m.push([])],
  [OP.DICT, (m) => m.push(dictFrom(m, newDict(), m.popMark()))],
  [OP.LIST, (m) => m.push(m.popMark())],
  [OP.TUPLE, (m) => m.push(m.popMark())],
  [OP.FROZENSET, (m) => m.push(m.popMark())],
  [OP.TUPLE1, (m) => m.push(m.popN(1))],
  [OP.TUPLE2, (m) => m.push(m.popN(2))],
  [OP.TUPLE3, (m) => m.push(m.popN(3))],
  [OP.APPEND, (m) => listOf(m, m.peek(1)).push(m.pop())],
  [OP.APPENDS, (m) => appendItems(m, m.popMark())],
  [OP.ADDITEMS, (m) => appendItems(m, m.popMark())],
  [OP.SETITEM, (m) => setItems(m, m.popN(2))],
  [OP.SETITEMS, (m) => setItems(m, m.popMark())],

  // memo
  [OP.BINPUT, (m) => m.memoize(m.u8())],
  [OP.LONG_BINPUT, (m) => m.memoize(m.u32())],
  [OP.MEMOIZE, (m) => m.memoize(m.memoSize())],
  [OP.PUT, (m) => m.memoize(Number(m.line()))],
  [OP.BINGET, (m) => m.push(m.recall(m.u8()))],
  [OP.LONG_BINGET, (m) => m.push(m.recall(m.u32()))],
  [OP.GET, (m) => m.push(m.recall(Number(m.line())))],

  // globals and objects: only allow-listed, inert helpers
  [OP.GLOBAL, (m) => m.push(resolveGlobal(m.line(), m.line(), m.source))],
  [OP.STACK_GLOBAL, (m) => m.push(stackGlobal(m))],
  [OP.REDUCE, (m) => m.push(apply(m, 'call', m.popN(2)))],
  [OP.NEWOBJ, (m) => m.push(apply(m, 'construct', m.popN(2)))],
  [OP.NEWOBJ_EX, (m) => m.push(apply(m, 'construct', m.popN(3)))],
  [OP.BUILD, (m) => build(m, m.pop())],
  [OP.BINPERSID, (m) => m.push(m.persistentLoad(m.pop()))],
]);

function stackGlobal(m: PickleMachine): unknown {
  const [module, name] = m.popN(2);
  if (typeof module !== 'string' || typeof name !== 'string') {
    throw m.corrupt('STACK_GLOBAL needs two strings');
  }
  return resolveGlobal(module, name, m.source);
}

/** REDUCE / NEWOBJ: only an allow-listed helper with a tuple of arguments. */
function apply(m: PickleMachine, how: 'call' | 'construct', [fn, args]: unknown[]): unknown {
  const impl = isSafeGlobal(fn) ? fn[how] : undefined;
  if (!impl || !Array.isArray(args)) {
    throw new NadaError(
      'weights.unsafe_pickle',
      `${m.source}: the pickle applies ${describe(fn)} in a way a weights file never does: ` +
        'refusing to read it',
      { source: m.source },
    );
  }
  return impl(args);
}

/** BUILD: fills a Namespace record; a dict's state (`_metadata` of state dicts) is dropped. */
function build(m: PickleMachine, state: unknown): void {
  const target = m.top();
  if (target instanceof NamespaceRecord && isDict(state)) {
    Object.assign(target.attributes, state);
  } else if (!isDict(target)) {
    throw new NadaError(
      'weights.unsafe_pickle',
      `${m.source}: the pickle sets the state of ${describe(target)}: refusing to read it`,
      { source: m.source },
    );
  }
}

function dictFrom(m: PickleMachine, d: Record<string, unknown>, items: unknown[]) {
  if (items.length % 2 !== 0) throw m.corrupt('a dict has a key without a value');
  for (let i = 0; i < items.length; i += 2) d[String(items[i])] = items[i + 1];
  return d;
}

function setItems(m: PickleMachine, items: unknown[]): void {
  const d = m.top();
  if (!isDict(d)) throw m.corrupt('SETITEM(S) on something that is not a dict');
  dictFrom(m, d, items);
}

function appendItems(m: PickleMachine, items: unknown[]): void {
  listOf(m, m.top()).push(...items);
}

function listOf(m: PickleMachine, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw m.corrupt('APPEND on something that is not a list');
  return v;
}

function isDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === null;
}

function isSafeGlobal(v: unknown): v is SafeGlobal {
  return v !== null && typeof v === 'object' && 'name' in v && ('call' in v || 'construct' in v);
}

function describe(v: unknown): string {
  if (v && typeof v === 'object' && 'name' in v) return String((v as { name: unknown }).name);
  return typeof v;
}
