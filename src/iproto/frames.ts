/**
 * Byte accumulator for a TCP stream: TCP delivers arbitrary slices, so one read
 * may hold half a packet or several packets. Chunks are kept as a list and
 * copied once, when a whole packet is available: a multi-megabyte reply
 * arriving in 64 KiB reads costs one copy, not one per read.
 */
import { IprotoProtocolError } from "./errors.ts";

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // bytes of chunks[0] already consumed
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first n bytes as one Buffer, removed from the queue; n <= length. */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      // Common case: the whole packet lies in one read; no copy.
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new RangeError("ByteQueue.take beyond length");
      const count = Math.min(n - filled, chunk.length - this.head);
      chunk.copy(out, filled, this.head, this.head + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  /** Byte at offset i from the front, without consuming; i < length. */
  peek(i: number): number {
    let offset = this.head + i;
    for (const chunk of this.chunks) {
      if (offset < chunk.length) return chunk[offset] ?? 0;
      offset -= chunk.length;
    }
    throw new RangeError("ByteQueue.peek beyond length");
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
  }

  private advance(n: number): void {
    this.length -= n;
    this.head += n;
    const first = this.chunks[0];
    if (first !== undefined && this.head === first.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}

/**
 * Splits the stream into packets. Each packet is prefixed by its size as a
 * msgpack uint (Tarantool writes 0xce + uint32, but any uint form is valid).
 */
export class PacketReader {
  private readonly queue = new ByteQueue();
  private expected = -1; // body size of the packet being read, -1 while reading the prefix

  /** maxPacketBytes bounds memory: a larger packet is a protocol error. */
  constructor(private readonly maxPacketBytes: number) {}

  get buffered(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** Takes raw bytes that are not length-prefixed (the 128-byte greeting); null if not all here yet. */
  takeRaw(n: number): Buffer | null {
    return this.queue.length >= n ? this.queue.take(n) : null;
  }

  /** The next complete packet (without its prefix), or null if more bytes are needed. */
  next(): Buffer | null {
    if (this.expected < 0) {
      const size = this.readPrefix();
      if (size === null) return null;
      if (size > this.maxPacketBytes) {
        throw new IprotoProtocolError(`packet of ${size} bytes exceeds maxPacketBytes=${this.maxPacketBytes}`);
      }
      this.expected = size;
    }
    if (this.queue.length < this.expected) return null;
    const packet = this.queue.take(this.expected);
    this.expected = -1;
    return packet;
  }

  clear(): void {
    this.queue.clear();
    this.expected = -1;
  }

  private readPrefix(): number | null {
    if (this.queue.length < 1) return null;
    const tag = this.queue.peek(0);
    if (tag <= 0x7f) return this.queue.take(1)[0] ?? 0;
    const width = tag === 0xcc ? 1 : tag === 0xcd ? 2 : tag === 0xce ? 4 : tag === 0xcf ? 8 : 0;
    if (width === 0) throw new IprotoProtocolError(`bad packet size prefix 0x${tag.toString(16)}`);
    if (this.queue.length < 1 + width) return null;
    const prefix = this.queue.take(1 + width);
    // Above 2^53 would not fit a number; maxPacketBytes rejects it anyway.
    return width === 8 ? Number(prefix.readBigUInt64BE(1)) : prefix.readUIntBE(1, width);
  }
}
