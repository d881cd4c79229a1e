/**
 * Exact decimal values for Tarantool's `decimal` type (MP_EXT type 1).
 *
 * A Decimal only holds a normalized string: no arithmetic, no floating point.
 * Normalization is plain notation (no exponent) with the scale kept, so
 * "1E+5" becomes "100000", "1.50" stays "1.50", "-0" becomes "0".
 * Values Tarantool cannot hold exactly (more than 38 digits) are refused,
 * so whatever a Decimal holds survives a round trip through the server.
 *
 * Wire format (MP_DECIMAL): the scale as a msgpack int, then packed BCD:
 * two digits per byte, most significant first, the last nibble is the sign
 * (0x0b or 0x0d negative, 0x0a/0x0c/0x0e/0x0f positive); a leading 0 nibble
 * pads to a whole byte. A negative scale means trailing zeros (1E+5 is
 * scale -5, digits "1").
 */

/** Tarantool's decimal precision: digits before the point plus the scale. */
export const DECIMAL_MAX_DIGITS = 38;
/** Bounds the work done on untrusted input before any digit is looked at. */
const MAX_INPUT_LENGTH = 128;
const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/;

export class Decimal {
  /** The normalized plain-notation string, e.g. "100000", "-0.000001". */
  readonly value: string;

  constructor(s: string) {
    this.value = normalize(s);
  }

  static isDecimal(x: unknown): x is Decimal {
    return x instanceof Decimal;
  }

  /** Number of digits after the point. */
  get scale(): number {
    const point = this.value.indexOf(".");
    return point < 0 ? 0 : this.value.length - point - 1;
  }

  /** Numeric equality: "1.5" equals "1.50". */
  equals(other: Decimal): boolean {
    return stripTrailingZeros(this.value) === stripTrailingZeros(other.value);
  }

  toString(): string {
    return this.value;
  }

  /** Money travels as decimal strings in JSON. */
  toJSON(): string {
    return this.value;
  }
}

function normalize(input: string): string {
  if (typeof input !== "string" || input.length > MAX_INPUT_LENGTH) {
    throw new TypeError(`not a decimal string: ${String(input).slice(0, 40)}`);
  }
  const m = DECIMAL_RE.exec(input);
  const intPart = m?.[2] ?? "";
  const fracPart = m?.[3] ?? "";
  if (!m || intPart.length + fracPart.length === 0) {
    throw new TypeError(`not a decimal string: ${input.slice(0, 40)}`);
  }
  const negative = m[1] === "-";
  const exponent = m[4] === undefined ? 0 : Number(m[4]);
  let coefficient = (intPart + fracPart).replace(/^0+/, "") || "0";
  let scale = fracPart.length - exponent;
  if (scale < 0) {
    // A positive exponent: append zeros, but never beyond what Tarantool can hold.
    if (coefficient !== "0") {
      if (coefficient.length - scale > DECIMAL_MAX_DIGITS) throw outOfRange(input);
      coefficient += "0".repeat(-scale);
    }
    scale = 0;
  }
  if (scale > DECIMAL_MAX_DIGITS) throw outOfRange(input);
  const plain = insertPoint(coefficient, scale);
  const intDigits = plain.startsWith("0") ? 0 : plain.length - (scale > 0 ? scale + 1 : 0);
  if (intDigits + scale > DECIMAL_MAX_DIGITS) throw outOfRange(input);
  return negative && coefficient !== "0" ? `-${plain}` : plain;
}

function insertPoint(coefficient: string, scale: number): string {
  if (scale === 0) return coefficient;
  const padded = coefficient.padStart(scale + 1, "0");
  return `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

function stripTrailingZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

function outOfRange(input: string): RangeError {
  return new RangeError(`decimal out of range (max ${DECIMAL_MAX_DIGITS} digits): ${input.slice(0, 40)}`);
}

/** MP_DECIMAL payload (the bytes after the ext header). */
export function encodeDecimal(d: Decimal): Buffer {
  const negative = d.value.startsWith("-");
  const digits = d.value.replace(/[-.]/g, "").replace(/^0+/, "") || "0";
  const nibbles = [...digits].map(Number);
  nibbles.push(negative ? 0x0d : 0x0c);
  if (nibbles.length % 2 === 1) nibbles.unshift(0);
  const out = Buffer.alloc(1 + nibbles.length / 2);
  out[0] = d.scale; // 0..38: a positive fixint
  for (let i = 0; i < nibbles.length; i += 2) {
    out[1 + i / 2] = ((nibbles[i] ?? 0) << 4) | (nibbles[i + 1] ?? 0);
  }
  return out;
}

export function decodeDecimal(payload: Uint8Array): Decimal {
  const { value: scale, size } = readMsgpackInt(payload);
  let digits = "";
  let sign = 0;
  for (let i = size; i < payload.length; i++) {
    const byte = payload[i] ?? 0;
    const hi = byte >> 4;
    const lo = byte & 0x0f;
    const last = i === payload.length - 1;
    if (hi > 9 || (!last && lo > 9)) throw new RangeError("MP_DECIMAL: bad BCD digit");
    digits += last ? String(hi) : `${hi}${lo}`;
    if (last) sign = lo;
  }
  if (sign < 0x0a || digits.length === 0) throw new RangeError("MP_DECIMAL: bad sign nibble");
  const negative = sign === 0x0b || sign === 0x0d;
  return new Decimal(`${negative ? "-" : ""}${digits}E${-scale}`);
}

/** The scale is any msgpack int; Tarantool uses fixints and int8 (1E+37 has scale -37). */
function readMsgpackInt(b: Uint8Array): { value: number; size: number } {
  const first = b[0];
  if (first === undefined) throw new RangeError("MP_DECIMAL: empty payload");
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (first <= 0x7f) return { value: first, size: 1 };
  if (first >= 0xe0) return { value: first - 0x100, size: 1 };
  switch (first) {
    case 0xcc: return { value: view.getUint8(1), size: 2 };
    case 0xcd: return { value: view.getUint16(1), size: 3 };
    case 0xce: return { value: view.getUint32(1), size: 5 };
    case 0xd0: return { value: view.getInt8(1), size: 2 };
    case 0xd1: return { value: view.getInt16(1), size: 3 };
    case 0xd2: return { value: view.getInt32(1), size: 5 };
    default: throw new RangeError(`MP_DECIMAL: bad scale byte 0x${first.toString(16)}`);
  }
}
