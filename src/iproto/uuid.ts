/**
 * Tarantool `uuid` values (MP_EXT type 2, 16 raw bytes). A class rather than a
 * bare string so that a uuid read from the server is sent back as a uuid.
 */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class Uuid {
  /** Canonical lowercase form, e.g. "6f2a5b0e-...". */
  readonly value: string;

  constructor(s: string) {
    if (typeof s !== "string" || !UUID_RE.test(s)) {
      throw new TypeError(`not a uuid: ${String(s).slice(0, 40)}`);
    }
    this.value = s.toLowerCase();
  }

  static isUuid(x: unknown): x is Uuid {
    return x instanceof Uuid;
  }

  toString(): string {
    return this.value;
  }

  toJSON(): string {
    return this.value;
  }
}

export function encodeUuid(u: Uuid): Buffer {
  return Buffer.from(u.value.replace(/-/g, ""), "hex");
}

export function decodeUuid(payload: Uint8Array): Uuid {
  if (payload.length !== 16) throw new RangeError(`MP_UUID: expected 16 bytes, got ${payload.length}`);
  const h = Buffer.from(payload).toString("hex");
  return new Uuid(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
}
