/**
 * MessagePack encoder for requests.
 *
 * Why not msgpackr's Packr: it writes integers beyond 32 bits (e.g. epoch
 * milliseconds) as float64 and positive bigints as signed int64, so Tarantool
 * sees a double where the caller passed an integer. Here every integer is
 * written the way Tarantool itself writes it: the smallest uint for >= 0, the
 * smallest int for < 0. Decoding still uses msgpackr (see decode.ts).
 *
 * Supported values: null/undefined (nil), boolean, number, bigint (64-bit
 * range), string, Uint8Array (bin), Decimal (MP_EXT 1), Uuid (MP_EXT 2),
 * arrays, Maps and plain objects. Anything else throws a TypeError, so a
 * mistake (a Date, a class instance) never reaches the server as garbage.
 */
import { Decimal, encodeDecimal } from "./decimal.ts";
import { Uuid, encodeUuid } from "./uuid.ts";
import { ExtType, Header } from "./constants.ts";

/** Deep enough for any real argument; stops cycles from recursing forever. */
const MAX_DEPTH = 64;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

/** A msgpack str whose bytes are not text (the chap-sha1 scramble travels as MP_STR). */
export class RawStr {
  constructor(readonly bytes: Uint8Array) {}
}

class Writer {
  private buf: Buffer;
  pos = 0;

  constructor(initialSize: number) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u8u8(tag: number, v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = tag;
    this.buf[this.pos++] = v & 0xff;
  }

  tagU16(tag: number, v: number): void {
    this.ensure(3);
    this.buf[this.pos] = tag;
    this.buf.writeUInt16BE(v, this.pos + 1);
    this.pos += 3;
  }

  tagU32(tag: number, v: number): void {
    this.ensure(5);
    this.buf[this.pos] = tag;
    this.buf.writeUInt32BE(v, this.pos + 1);
    this.pos += 5;
  }

  tagI16(tag: number, v: number): void {
    this.ensure(3);
    this.buf[this.pos] = tag;
    this.buf.writeInt16BE(v, this.pos + 1);
    this.pos += 3;
  }

  tagI32(tag: number, v: number): void {
    this.ensure(5);
    this.buf[this.pos] = tag;
    this.buf.writeInt32BE(v, this.pos + 1);
    this.pos += 5;
  }

  tagU64(tag: number, v: bigint): void {
    this.ensure(9);
    this.buf[this.pos] = tag;
    this.buf.writeBigUInt64BE(v, this.pos + 1);
    this.pos += 9;
  }

  tagI64(tag: number, v: bigint): void {
    this.ensure(9);
    this.buf[this.pos] = tag;
    this.buf.writeBigInt64BE(v, this.pos + 1);
    this.pos += 9;
  }

  f64(v: number): void {
    this.ensure(9);
    this.buf[this.pos] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  utf8(s: string, byteLength: number): void {
    this.ensure(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, "utf8");
  }

  patchU32(at: number, v: number): void {
    this.buf.writeUInt32BE(v, at);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function writeUint(w: Writer, v: number | bigint): void {
  if (v < 0x80) w.u8(Number(v));
  else if (v < 0x100) w.u8u8(0xcc, Number(v));
  else if (v < 0x10000) w.tagU16(0xcd, Number(v));
  else if (v < 0x100000000) w.tagU32(0xce, Number(v));
  else w.tagU64(0xcf, BigInt(v));
}

function writeNegInt(w: Writer, v: number | bigint): void {
  if (v >= -0x20) w.u8(0x100 + Number(v));
  else if (v >= -0x80) w.u8u8(0xd0, Number(v));
  else if (v >= -0x8000) w.tagI16(0xd1, Number(v));
  else if (v >= -0x80000000) w.tagI32(0xd2, Number(v));
  else w.tagI64(0xd3, BigInt(v));
}

function writeInteger(w: Writer, v: number | bigint): void {
  if (v >= 0) writeUint(w, v);
  else writeNegInt(w, v);
}

function writeLength(w: Writer, n: number, fix: number, fixMax: number, t8: number | undefined, t16: number, t32: number): void {
  if (n <= fixMax) w.u8(fix | n);
  else if (t8 !== undefined && n < 0x100) w.u8u8(t8, n);
  else if (n < 0x10000) w.tagU16(t16, n);
  else w.tagU32(t32, n);
}

function writeStrBytes(w: Writer, b: Uint8Array): void {
  writeLength(w, b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
  w.bytes(b);
}

function writeString(w: Writer, s: string): void {
  const n = Buffer.byteLength(s, "utf8");
  writeLength(w, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
  w.utf8(s, n);
}

function writeExt(w: Writer, type: number, payload: Uint8Array): void {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const fixTag = fixed[payload.length];
  if (fixTag !== undefined) w.u8(fixTag);
  else if (payload.length < 0x100) w.u8u8(0xc7, payload.length);
  else if (payload.length < 0x10000) w.tagU16(0xc8, payload.length);
  else w.tagU32(0xc9, payload.length);
  w.u8(type);
  w.bytes(payload);
}

function writeValue(w: Writer, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError(`value nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  switch (typeof v) {
    case "undefined":
      return w.u8(0xc0);
    case "boolean":
      return w.u8(v ? 0xc3 : 0xc2);
    case "string":
      return writeString(w, v);
    case "number":
      return Number.isSafeInteger(v) ? writeInteger(w, v) : w.f64(v);
    case "bigint":
      if (v > UINT64_MAX || v < INT64_MIN) throw new RangeError(`bigint outside the 64-bit range: ${v}`);
      return writeInteger(w, v);
    case "object":
      return writeObject(w, v, depth);
    default:
      throw new TypeError(`cannot encode a ${typeof v} for Tarantool`);
  }
}

function writeObject(w: Writer, v: object | null, depth: number): void {
  if (v === null) return w.u8(0xc0);
  if (v instanceof Decimal) return writeExt(w, ExtType.DECIMAL, encodeDecimal(v));
  if (v instanceof Uuid) return writeExt(w, ExtType.UUID, encodeUuid(v));
  if (v instanceof RawStr) return writeStrBytes(w, v.bytes);
  if (v instanceof Uint8Array) {
    writeLength(w, v.length, 0, -1, 0xc4, 0xc5, 0xc6);
    return w.bytes(v);
  }
  if (Array.isArray(v)) {
    writeLength(w, v.length, 0x90, 15, undefined, 0xdc, 0xdd);
    for (const item of v) writeValue(w, item, depth + 1);
    return;
  }
  if (v instanceof Map) return writeMap(w, v.entries(), v.size, depth);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const entries = Object.entries(v);
    return writeMap(w, entries.values(), entries.length, depth);
  }
  throw new TypeError(`cannot encode an instance of ${v.constructor.name} for Tarantool`);
}

function writeMap(w: Writer, entries: Iterator<[unknown, unknown]>, size: number, depth: number): void {
  writeLength(w, size, 0x80, 15, undefined, 0xde, 0xdf);
  for (let e = entries.next(); !e.done; e = entries.next()) {
    writeValue(w, e.value[0], depth + 1);
    writeValue(w, e.value[1], depth + 1);
  }
}

/** Encodes one value on its own (used by tests and for extension payloads). */
export function encodeValue(v: unknown): Buffer {
  const w = new Writer(64);
  writeValue(w, v, 0);
  return w.finish();
}

/**
 * A whole request packet: length prefix (0xce + uint32, as Tarantool sends it),
 * header map {type, sync}, body map with integer keys.
 */
export function encodeRequest(type: number, sync: number, body: ReadonlyArray<readonly [number, unknown]>): Buffer {
  const w = new Writer(128);
  w.tagU32(0xce, 0); // patched below once the size is known
  w.u8(0x82);
  writeInteger(w, Header.CODE);
  writeInteger(w, type);
  writeInteger(w, Header.SYNC);
  writeInteger(w, sync);
  writeLength(w, body.length, 0x80, 15, undefined, 0xde, 0xdf);
  for (const [key, value] of body) {
    writeInteger(w, key);
    writeValue(w, value, 1);
  }
  w.patchU32(1, w.pos - 5);
  return w.finish();
}
