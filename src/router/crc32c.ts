/**
 * CRC-32C (Castagnoli), table-driven, one byte at a time: the keys hashed here
 * are short decimal strings, so a slicing or hardware variant would buy nothing.
 *
 * Tarantool's `digest.crc32` is CRC-32C *without the final XOR* (its docs:
 * reflected, initial value 0xFFFFFFFF, final xor 0x0), so it is the bitwise
 * complement of the standard check value: standard crc32c("18") = 414706776,
 * digest.crc32("18") = 3880260519. vshard's bucket_id_strcrc32, and so the
 * storage's bucket function, use Tarantool's variant.
 */

/** The reflected Castagnoli polynomial 0x1EDC6F41. */
const POLYNOMIAL_REFLECTED = 0x82f63b78;

const TABLE: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
}

/** One step of the register (initial 0xFFFFFFFF, no final XOR) over one byte. */
function step(crc: number, byte: number): number {
  return (TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
}

/** Standard CRC-32C (crc32c("123456789") = 0xE3069283), as unsigned 32-bit. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = step(crc, byte);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Tarantool's digest.crc32(text) for a 7-bit ASCII string, as unsigned 32-bit.
 * Other text is refused: its UTF-8 bytes would differ from its code units.
 */
export function tarantoolCrc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new RangeError("text must be 7-bit ASCII");
    crc = step(crc, code);
  }
  return crc;
}
