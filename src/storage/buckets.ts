/**
 * Bucket ownership, the vshard model: bucket_id = crc32c(tostring(customer_id))
 * % bucket_count + 1, and each replica set serves only the buckets it owns.
 */
import * as digest from "digest";
import { B, space } from "./db";
import { failure, type Failure } from "./errors";

const state = { bucket_count: 3000 };

export function setBucketCount(bucket_count: number): void {
  state.bucket_count = bucket_count;
}

export function bucketCount(): number {
  return state.bucket_count;
}

/** The customer id as vshard's key string: plain decimal digits (never Lua's "1e+15"). */
export function customerKey(customer_id: number): string {
  return string.format("%d", customer_id);
}

export function bucketOf(customer_id: number): number {
  return (digest.crc32(customerKey(customer_id)) % state.bucket_count) + 1;
}

/** undefined when this replica set owns the bucket; otherwise the WRONG_BUCKET failure naming the owner when known. */
export function refuseForeignBucket(bucket_id: number): Failure | undefined {
  const row = space("buckets").get(bucket_id);
  if (row !== undefined && row[B.status] === "active") return undefined;
  const details: Record<string, unknown> = { bucket_id };
  if (row !== undefined && row[B.destination] !== box.NULL && row[B.destination] !== undefined) {
    details["destination"] = row[B.destination];
  }
  return failure("WRONG_BUCKET", details);
}

/** Marks buckets as owned here (bootstrap and rebalancing). Bounded by bucket_count. */
export function assignBuckets(bucket_ids: number[]): number {
  const buckets = space("buckets");
  box.begin();
  for (const bucket_id of bucket_ids) buckets.replace([bucket_id, "active", box.NULL]);
  box.commit();
  return bucket_ids.length;
}

/** Records that buckets now live elsewhere, so WRONG_BUCKET can name their owner. */
export function releaseBuckets(bucket_ids: number[], destination: string): number {
  const buckets = space("buckets");
  box.begin();
  for (const bucket_id of bucket_ids) buckets.replace([bucket_id, "sent", destination]);
  box.commit();
  return bucket_ids.length;
}

/** The buckets this replica set owns, as [first, last] ranges (compact: 3000 buckets are one or two ranges). */
export function ownedBucketRanges(): number[][] {
  const ranges: number[][] = [];
  let current: number[] | undefined;
  for (const [, row] of space("buckets").index["status"]!.pairs(["active"], { iterator: "EQ" })) {
    const bucket_id = row[B.bucket_id] as number;
    if (current !== undefined && current[1] === bucket_id - 1) current[1] = bucket_id;
    else {
      current = [bucket_id, bucket_id];
      ranges.push(current);
    }
  }
  return ranges;
}
