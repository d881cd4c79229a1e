/**
 * bucket_id → replica set name, as last learned from the masters'
 * billing_buckets_owned or from a WRONG_BUCKET naming the new owner.
 * Stale entries are expected; the storage refuses a bucket it does not own,
 * so a stale entry costs one extra round trip, never a wrong write.
 */
import { RouterConfigError } from "./errors.ts";

export class BucketMap {
  /** Index = bucket_id (slot 0 unused); holds an index into `names`, or -1 when unknown. */
  private readonly owners: Int32Array;
  private readonly names: string[];

  constructor(readonly bucket_count: number, replicasetNames: readonly string[]) {
    this.owners = new Int32Array(bucket_count + 1).fill(-1);
    this.names = [...replicasetNames];
  }

  ownerOf(bucket_id: number): string | undefined {
    const index = this.owners[bucket_id] ?? -1;
    return index < 0 ? undefined : this.names[index];
  }

  set(bucket_id: number, replicaset: string): void {
    this.owners[bucket_id] = this.indexOf(replicaset);
  }

  forget(bucket_id: number): void {
    this.owners[bucket_id] = -1;
  }

  /** Replaces everything known about one replica set with the ranges its master reported. */
  replace(replicaset: string, ranges: ReadonlyArray<readonly [number, number]>): void {
    const index = this.indexOf(replicaset);
    for (let bucket_id = 1; bucket_id <= this.bucket_count; bucket_id++) {
      if (this.owners[bucket_id] === index) this.owners[bucket_id] = -1;
    }
    for (const [first, last] of ranges) this.owners.fill(index, first, last + 1);
  }

  /** Buckets per replica set, and how many have no known owner. */
  counts(): { per_replicaset: Record<string, number>; unknown: number } {
    const per_replicaset: Record<string, number> = Object.fromEntries(this.names.map((name) => [name, 0]));
    let unknown = 0;
    for (let bucket_id = 1; bucket_id <= this.bucket_count; bucket_id++) {
      const name = this.ownerOf(bucket_id);
      if (name === undefined) unknown += 1;
      else per_replicaset[name] = (per_replicaset[name] ?? 0) + 1;
    }
    return { per_replicaset, unknown };
  }

  private indexOf(replicaset: string): number {
    const index = this.names.indexOf(replicaset);
    if (index < 0) throw new RouterConfigError(`unknown replica set ${replicaset}`);
    return index;
  }
}

/** Checks billing_buckets_owned's answer: {replicaset_name, ranges: [[first, last], ...]} within 1..bucket_count. */
export function parseOwnedRanges(owned: unknown, expectedName: string, bucket_count: number): Array<[number, number]> {
  const value = (typeof owned === "object" && owned !== null ? owned : {}) as Record<string, unknown>;
  if (value["replicaset_name"] !== expectedName) {
    throw new RouterConfigError(`master of ${expectedName} reports owning buckets as ${String(value["replicaset_name"])}`);
  }
  // An empty Lua table encodes as a msgpack map, so "no ranges" may arrive as {}.
  const raw = Array.isArray(value["ranges"]) ? (value["ranges"] as unknown[]) : [];
  return raw.map((range) => {
    const [first, last] = Array.isArray(range) ? (range as unknown[]) : [];
    if (!isBucket(first, bucket_count) || !isBucket(last, bucket_count) || first > last) {
      throw new RouterConfigError(`master of ${expectedName} reports a bad bucket range ${JSON.stringify(range)}`);
    }
    return [first, last];
  });
}

function isBucket(value: unknown, bucket_count: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= bucket_count;
}
