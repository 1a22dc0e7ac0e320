/**
 * The protobuf wire format, just as much as `aialgs.data.Record` needs: varints (up to 64 bits,
 * held as two 32-bit halves so no BigInt is needed), fixed32/fixed64 floats, length-delimited
 * fields, and skipping unknown fields. No schema, no reflection, no I/O.
 *
 * ProtoReader works on a window of a Buffer and reports malformed input through the `fail`
 * callback it is given (the caller adds which record and where). ProtoWriter writes into a
 * buffer of exactly the size its caller computed with the *Size helpers: messages are sized
 * first and written once, so no nested message is ever copied.
 */

export const WIRE = Object.freeze({ VARINT: 0, FIXED64: 1, LENGTH: 2, FIXED32: 5 });

/** Largest unsigned 64-bit value this codec represents exactly as a JS number. */
const MAX_UINT53_HIGH = 2 ** 21;

export type Fail = (problem: string, position: number) => never;

export class ProtoReader {
  readonly buf: Buffer;
  pos: number;
  end: number;
  readonly #fail: Fail;
  /** High 32 bits of the last varint64() (its return value is the low 32, unsigned). */
  high = 0;

  constructor(buf: Buffer, start: number, end: number, fail: Fail) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.#fail = fail;
  }

  fail(problem: string, position = this.pos): never {
    return this.#fail(problem, position);
  }

  /** A varint of up to 10 bytes: returns its low 32 bits (unsigned) and sets `high`. */
  varint64(): number {
    const buf = this.buf;
    const start = this.pos;
    let lo = 0;
    let pos = start;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= this.end) this.fail('truncated varint', start);
      const b = buf[pos++] as number;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.high = 0;
        return lo >>> 0;
      }
    }
    if (pos >= this.end) this.fail('truncated varint', start);
    let b = buf[pos++] as number;
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >>> 4;
    for (let shift = 3; b >= 0x80; shift += 7) {
      if (shift > 31) this.fail('varint longer than 10 bytes', start);
      if (pos >= this.end) this.fail('truncated varint', start);
      b = buf[pos++] as number;
      hi |= (b & 0x7f) << shift;
    }
    this.pos = pos;
    this.high = hi >>> 0;
    return lo >>> 0;
  }

  /** A varint read as a uint32 (tags, lengths): values of 2^32 or more are malformed here. */
  uint32(): number {
    const buf = this.buf;
    if (this.pos < this.end && (buf[this.pos] as number) < 0x80) return buf[this.pos++] as number;
    const start = this.pos;
    const lo = this.varint64();
    if (this.high !== 0) this.fail('varint exceeds 32 bits', start);
    return lo;
  }

  /** A uint64 varint as a JS number; values above 2^53 - 1 are refused. */
  uint53(): number {
    const start = this.pos;
    const lo = this.varint64();
    if (this.high >= MAX_UINT53_HIGH) this.fail('uint64 value above 2^53 - 1 (not representable exactly)', start);
    return this.high * 2 ** 32 + lo;
  }

  /** An int32 varint (negative values are sign-extended to 10 bytes on the wire). */
  int32(): number {
    return this.varint64() | 0;
  }

  float(): number {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.fail('truncated fixed64');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-delimited field's payload: returns its end and leaves `pos` at its start. */
  delimited(): number {
    const start = this.pos;
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.end) this.fail(`length-delimited field of ${length} bytes runs past the end of its message`, start);
    return end;
  }

  /** Skips the value of a field of wire type `wireType`. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE.VARINT: this.varint64(); return;
      case WIRE.FIXED64: if (this.pos + 8 > this.end) this.fail('truncated fixed64'); this.pos += 8; return;
      case WIRE.LENGTH: this.pos = this.delimited(); return;
      case WIRE.FIXED32: if (this.pos + 4 > this.end) this.fail('truncated fixed32'); this.pos += 4; return;
      default: this.fail(`unsupported wire type ${wireType} (groups are not used by aialgs.data.Record)`);
    }
  }
}

/** Bytes of the varint of an unsigned integer below 2^53. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  for (let rest = Math.floor(n / 0x10000000); rest > 0; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

/** Bytes of an int32 varint: negative values take 10. */
export function int32Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

/** Bytes of a length-delimited field with a one-byte tag (field numbers below 16) and `length` bytes of payload. */
export function delimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

export class ProtoWriter {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** A tag of a field number below 16 (one byte). */
  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType;
  }

  /** An unsigned integer below 2^53. */
  varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80000000) {
      buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    while (n >= 0x80) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  /** An int32: negative values as 10-byte two's-complement varints, as protobuf requires. */
  int32(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    let lo = n >>> 0;
    let hi = 0xffffffff;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo & 0x7f;
  }

  float(v: number): void {
    this.pos = this.buf.writeFloatLE(v, this.pos);
  }

  double(v: number): void {
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}
