import { NadaError } from '../../errors.ts';
import { HANDLERS, OP } from './pickle-opcodes.ts';

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

/**
 * A pickle reader for protocols 2–5 that executes nothing: globals resolve through an
 * allow-list of inert tensor-rebuild helpers (`pickle-globals.ts`), and every other global is
 * refused with `weights.unsafe_pickle` the moment it is named. Dicts become prototype-less
 * objects, lists and tuples arrays, ints numbers (bigint beyond 2^53), bytes Uint8Array.
 *
 * @example
 * unpickle(bytes, 0, { source: 'x.pt' }).value; // { g_ema: { 'style.1.weight': TensorRef, … } }
 */
export function unpickle(buf: Uint8Array, start: number, opts: UnpickleOptions): UnpickleResult {
  const m = new PickleMachine(buf, start, opts);
  for (;;) {
    const at = m.pos;
    const op = m.u8();
    if (op === OP.STOP) return { value: m.pop(), end: m.pos };
    const handler = HANDLERS.get(op);
    if (!handler) {
      throw new NadaError(
        'weights.unsafe_pickle',
        `${opts.source}: pickle opcode 0x${op.toString(16)} at byte ${at} is not one a ` +
          'weights file needs: refusing to read it',
        { source: opts.source, opcode: op, at },
      );
    }
    handler(m);
  }
}

// Longest LONG1/LONG4 integer read: far beyond any int a checkpoint holds (all fit in 8 bytes).
const MAX_LONG_BYTES = 64;

/** The pickle machine's state: input cursor, stack, marks and memo. */
export class PickleMachine {
  pos: number;
  readonly source: string;
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
    this.source = opts.source;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  // ---- stack and memo ---------------------------------------------------------------------

  push(v: unknown): void {
    this.stack.push(v);
  }

  pop(): unknown {
    if (this.stack.length === 0) throw this.corrupt('the pickle stack ran empty');
    return this.stack.pop();
  }

  /** The last n items, in stack order. */
  popN(n: number): unknown[] {
    if (this.stack.length < n) throw this.corrupt('the pickle stack ran empty');
    return this.stack.splice(this.stack.length - n);
  }

  /** The item `depth` below the top (0 = top) without popping it. */
  peek(depth: number): unknown {
    if (this.stack.length <= depth) throw this.corrupt('the pickle stack ran empty');
    return this.stack[this.stack.length - 1 - depth];
  }

  top(): unknown {
    return this.peek(0);
  }

  mark(): void {
    this.marks.push(this.stack.length);
  }

  popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.corrupt('a pickle MARK is missing');
    return this.stack.splice(m);
  }

  memoize(i: number): void {
    this.memo.set(i, this.top());
  }

  memoSize(): number {
    return this.memo.size;
  }

  recall(i: number): unknown {
    if (!this.memo.has(i)) throw this.corrupt(`memo entry ${i} is missing`);
    return this.memo.get(i);
  }

  persistentLoad(pid: unknown): unknown {
    if (!this.opts.persistentLoad) throw this.corrupt('unexpected persistent id');
    return this.opts.persistentLoad(pid);
  }

  // ---- input ------------------------------------------------------------------------------

  /** Moves the cursor n bytes on; returns where it was. */
  advance(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.buf.byteLength) {
      throw new NadaError(
        'weights.truncated',
        `${this.source}: the pickle ends at byte ${this.buf.byteLength} but needs ` +
          `${at + n}: the file is incomplete; fetch it again`,
        { source: this.source },
      );
    }
    this.pos += n;
    return at;
  }

  take(n: number): Uint8Array {
    const at = this.advance(n);
    return this.buf.subarray(at, at + n);
  }

  u8(): number {
    return this.buf[this.advance(1)];
  }

  u16(): number {
    return this.view.getUint16(this.advance(2), true);
  }

  i32(): number {
    return this.view.getInt32(this.advance(4), true);
  }

  u32(): number {
    return this.view.getUint32(this.advance(4), true);
  }

  u64(): number {
    return Number(this.view.getBigUint64(this.advance(8), true));
  }

  /** BINFLOAT is big-endian. */
  f64(): number {
    return this.view.getFloat64(this.advance(8), false);
  }

  /** LONG1/LONG4: little-endian two's complement of n bytes. */
  long(n: number): number | bigint {
    // A checkpoint's integers fit in 8 bytes; building a huge one byte by byte is quadratic.
    if (n > MAX_LONG_BYTES) throw this.corrupt(`an integer of ${n} bytes`);
    const bytes = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    if (n > 0 && bytes[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? Number(v) : v;
  }

  /** A newline-terminated text argument (protocol 0 opcodes, GLOBAL). */
  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.advance(this.buf.byteLength - this.pos + 1);
    const text = this.latin1(end - this.pos);
    this.pos++;
    return text;
  }

  textInt(): number | boolean {
    const text = this.line().replace(/L$/, '');
    if (text === '00') return false;
    if (text === '01') return true;
    return Number.parseInt(text, 10);
  }

  utf8(n: number): string {
    return new TextDecoder('utf-8').decode(this.take(n));
  }

  latin1(n: number): string {
    return new TextDecoder('latin1').decode(this.take(n));
  }

  corrupt(what: string): NadaError {
    return new NadaError(
      'weights.corrupt',
      `${this.source}: ${what} at byte ${this.pos}: the file is damaged or not a checkpoint`,
      { source: this.source, at: this.pos },
    );
  }
}
