import { NadaError } from '../../errors.ts';
import { NamespaceRecord, newDict, resolveGlobal, type SafeGlobal } from './pickle-globals.ts';

export interface UnpickleOptions {
  /** file name for messages */
  source: string;
  /** resolves a persistent id (torch storages); without it, persistent ids are refused */
  persistentLoad?: (pid: unknown) => unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** byte just after the STOP opcode */
  end: number;
}

const MARK = Symbol('mark');

/**
 * A pickle reader for protocols 2–5 that executes nothing: globals resolve through an
 * allow-list of inert tensor-rebuild helpers, and every other global is refused with
 * `weights.unsafe_pickle`. Dicts become prototype-less objects, lists and tuples arrays,
 * ints numbers (bigint when beyond 2^53), bytes Uint8Array.
 *
 * @example
 * unpickle(bytes, 0, { source: 'x.pt' }).value; // { g_ema: { 'style.1.weight': TensorRef, … } }
 */
export function unpickle(buf: Uint8Array, start: number, opts: UnpickleOptions): UnpickleResult {
  return new PickleMachine(buf, start, opts).run();
}

class PickleMachine {
  private pos: number;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly opts: UnpickleOptions,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  run(): UnpickleResult {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e /* STOP */) return { value: this.pop(), end: this.pos };
      this.step(op, at);
    }
  }

  // ---- one opcode -------------------------------------------------------------------------

  private step(op: number, at: number): void {
    const push = (v: unknown) => this.stack.push(v);
    switch (op) {
      // framing and protocol
      case 0x80:
        this.u8();
        return; // PROTO
      case 0x95:
        this.take(8);
        return; // FRAME (length only)
      // stack structure
      case 0x28:
        this.marks.push(this.stack.length);
        return; // MARK
      case 0x30:
        this.pop();
        return; // POP
      case 0x31:
        this.popMark();
        return; // POP_MARK
      case 0x32:
        push(this.top());
        return; // DUP
      // constants and numbers
      case 0x4e:
        push(null);
        return; // NONE
      case 0x88:
        push(true);
        return; // NEWTRUE
      case 0x89:
        push(false);
        return; // NEWFALSE
      case 0x4a:
        push(this.view.getInt32(this.advance(4), true));
        return; // BININT
      case 0x4b:
        push(this.u8());
        return; // BININT1
      case 0x4d:
        push(this.view.getUint16(this.advance(2), true));
        return; // BININT2
      case 0x8a:
        push(this.long(this.u8()));
        return; // LONG1
      case 0x8b:
        push(this.long(this.u32()));
        return; // LONG4
      case 0x47:
        push(this.view.getFloat64(this.advance(8), false));
        return; // BINFLOAT
      case 0x49:
        push(this.textInt());
        return; // INT
      case 0x4c:
        push(this.textInt());
        return; // LONG
      case 0x46:
        push(Number.parseFloat(this.line()));
        return; // FLOAT
      // strings and bytes
      case 0x58:
        push(this.utf8(this.u32()));
        return; // BINUNICODE
      case 0x8c:
        push(this.utf8(this.u8()));
        return; // SHORT_BINUNICODE
      case 0x8d:
        push(this.utf8(this.u64()));
        return; // BINUNICODE8
      case 0x54:
        push(this.latin1(this.u32()));
        return; // BINSTRING
      case 0x55:
        push(this.latin1(this.u8()));
        return; // SHORT_BINSTRING
      case 0x42:
        push(this.take(this.u32()).slice());
        return; // BINBYTES
      case 0x43:
        push(this.take(this.u8()).slice());
        return; // SHORT_BINBYTES
      case 0x8e:
        push(this.take(this.u64()).slice());
        return; // BINBYTES8
      case 0x96:
        push(this.take(this.u64()).slice());
        return; // BYTEARRAY8
      // containers
      case 0x7d:
        push(newDict());
        return; // EMPTY_DICT
      case 0x5d:
        push([]);
        return; // EMPTY_LIST
      case 0x29:
        push([]);
        return; // EMPTY_TUPLE
      case 0x8f:
        push([]);
        return; // EMPTY_SET (as an array)
      case 0x64:
        push(this.dictFrom(this.popMark()));
        return; // DICT
      case 0x6c:
        push(this.popMark());
        return; // LIST
      case 0x74:
        push(this.popMark());
        return; // TUPLE
      case 0x91:
        push(this.popMark());
        return; // FROZENSET
      case 0x85:
        push([this.pop()]);
        return; // TUPLE1
      case 0x86: {
        const b = this.pop();
        push([this.pop(), b]);
        return;
      } // TUPLE2
      case 0x87: {
        const c = this.pop();
        const b = this.pop();
        push([this.pop(), b, c]);
        return;
      }
      case 0x61: {
        const v = this.pop();
        this.list(this.top()).push(v);
        return;
      } // APPEND
      case 0x65:
        this.appendItems(this.popMark());
        return; // APPENDS
      case 0x90:
        this.appendItems(this.popMark());
        return; // ADDITEMS
      case 0x73: {
        const v = this.pop();
        const k = this.pop();
        this.setItems([k, v]);
        return;
      }
      case 0x75:
        this.setItems(this.popMark());
        return; // SETITEMS
      // memo
      case 0x71:
        this.memo.set(this.u8(), this.top());
        return; // BINPUT
      case 0x72:
        this.memo.set(this.u32(), this.top());
        return; // LONG_BINPUT
      case 0x94:
        this.memo.set(this.memo.size, this.top());
        return; // MEMOIZE
      case 0x70:
        this.memo.set(Number(this.line()), this.top());
        return; // PUT
      case 0x68:
        push(this.recall(this.u8()));
        return; // BINGET
      case 0x6a:
        push(this.recall(this.u32()));
        return; // LONG_BINGET
      case 0x67:
        push(this.recall(Number(this.line())));
        return; // GET
      // globals and objects: only allow-listed, inert helpers
      case 0x63:
        push(this.global(this.line(), this.line()));
        return; // GLOBAL
      case 0x93: {
        const n = this.str(this.pop());
        push(this.global(this.str(this.pop()), n));
        return;
      }
      case 0x52: {
        const args = this.pop();
        push(this.call(this.pop(), args, 'call'));
        return;
      }
      case 0x81: {
        const args = this.pop();
        push(this.call(this.pop(), args, 'construct'));
        return;
      }
      case 0x92: {
        this.pop();
        const args = this.pop();
        push(this.call(this.pop(), args, 'construct'));
        return;
      }
      case 0x62:
        this.build(this.pop());
        return; // BUILD
      case 0x51:
        push(this.persistent(this.pop()));
        return; // BINPERSID
    }
    throw new NadaError(
      'weights.unsafe_pickle',
      `${this.opts.source}: pickle opcode 0x${op.toString(16)} at byte ${at} is not one a ` +
        'weights file needs: refusing to read it',
      { source: this.opts.source, opcode: op, at },
    );
  }

  // ---- objects ----------------------------------------------------------------------------

  private global(module: string, name: string): unknown {
    return resolveGlobal(module, name, this.opts.source);
  }

  private call(fn: unknown, args: unknown, how: 'call' | 'construct'): unknown {
    const g = fn as SafeGlobal;
    const impl = g && typeof g === 'object' ? g[how] : undefined;
    if (!impl || !Array.isArray(args)) {
      throw new NadaError(
        'weights.unsafe_pickle',
        `${this.opts.source}: the pickle applies ${describe(fn)} in a way a weights file never ` +
          'does: refusing to read it',
        { source: this.opts.source },
      );
    }
    return impl(args);
  }

  private build(state: unknown): void {
    const target = this.top();
    if (target instanceof NamespaceRecord && isDict(state)) {
      for (const [k, v] of Object.entries(state)) target.attributes[k] = v;
    }
    // Dicts (OrderedDict state dicts) carry `_metadata` (module versions): not needed, dropped.
    // Anything else cannot be built without running code.
    else if (!isDict(target)) {
      throw new NadaError(
        'weights.unsafe_pickle',
        `${this.opts.source}: the pickle sets the state of ${describe(target)}: refusing to read it`,
        { source: this.opts.source },
      );
    }
  }

  private persistent(pid: unknown): unknown {
    if (!this.opts.persistentLoad) {
      throw new NadaError('weights.corrupt', `${this.opts.source}: unexpected persistent id`);
    }
    return this.opts.persistentLoad(pid);
  }

  private dictFrom(items: unknown[]): Record<string, unknown> {
    const d = newDict();
    for (let i = 0; i + 1 < items.length; i += 2) d[String(items[i])] = items[i + 1];
    return d;
  }

  private setItems(items: unknown[]): void {
    const d = this.top();
    if (!isDict(d)) throw this.corrupt('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) d[String(items[i])] = items[i + 1];
  }

  private appendItems(items: unknown[]): void {
    this.list(this.top()).push(...items);
  }

  private list(v: unknown): unknown[] {
    if (!Array.isArray(v)) throw this.corrupt('APPEND on something that is not a list');
    return v;
  }

  // ---- stack ------------------------------------------------------------------------------

  private pop(): unknown {
    if (this.stack.length === 0) throw this.corrupt('the pickle stack ran empty');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) throw this.corrupt('the pickle stack ran empty');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.corrupt('a pickle MARK is missing');
    return this.stack.splice(m);
  }

  private recall(i: number): unknown {
    if (!this.memo.has(i)) throw this.corrupt(`memo entry ${i} is missing`);
    return this.memo.get(i);
  }

  // ---- bytes ------------------------------------------------------------------------------

  private advance(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.buf.byteLength) {
      throw new NadaError(
        'weights.truncated',
        `${this.opts.source}: the pickle ends at byte ${this.buf.byteLength} but needs ` +
          `${at + n}: the file is incomplete; fetch it again`,
        { source: this.opts.source },
      );
    }
    this.pos += n;
    return at;
  }

  private take(n: number): Uint8Array {
    const at = this.advance(n);
    return this.buf.subarray(at, at + n);
  }

  private u8(): number {
    return this.buf[this.advance(1)];
  }

  private u32(): number {
    return this.view.getUint32(this.advance(4), true);
  }

  private u64(): number {
    return Number(this.view.getBigUint64(this.advance(8), true));
  }

  /** LONG1/LONG4: little-endian two's complement of n bytes. */
  private long(n: number): number | bigint {
    const bytes = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    if (n > 0 && bytes[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  }

  private line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.advance(this.buf.byteLength - this.pos + 1);
    const text = this.latin1(end - this.pos);
    this.pos++;
    return text;
  }

  private textInt(): number | boolean {
    const text = this.line().replace(/L$/, '');
    if (text === '00') return false;
    if (text === '01') return true;
    return Number.parseInt(text, 10);
  }

  private utf8(n: number): string {
    return new TextDecoder('utf-8').decode(this.take(n));
  }

  private latin1(n: number): string {
    return new TextDecoder('latin1').decode(this.take(n));
  }

  private str(v: unknown): string {
    if (typeof v !== 'string') throw this.corrupt('STACK_GLOBAL needs two strings');
    return v;
  }

  private corrupt(what: string): NadaError {
    return new NadaError(
      'weights.corrupt',
      `${this.opts.source}: ${what} at byte ${this.pos}: the file is damaged or not a checkpoint`,
      { source: this.opts.source, at: this.pos },
    );
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === null;
}

function describe(v: unknown): string {
  if (v && typeof v === 'object' && 'name' in v) return String((v as { name: unknown }).name);
  return typeof v;
}
