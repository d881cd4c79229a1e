/**
 * The first-start bucket layout: 1..bucket_count split into one contiguous
 * range per replica set, as even as integer division allows. Pure functions,
 * so the plan can be checked without a cluster.
 */

export type BucketRange = readonly [first: number, last: number];

/** Replica set i of n gets (floor(i*B/n), floor((i+1)*B/n)]: sizes differ by at most one. */
export function planBucketRanges(replicasets: readonly string[], bucket_count: number): Map<string, BucketRange> {
  const plan = new Map<string, BucketRange>();
  const n = replicasets.length;
  replicasets.forEach((name, i) => {
    plan.set(name, [Math.floor((i * bucket_count) / n) + 1, Math.floor(((i + 1) * bucket_count) / n)]);
  });
  return plan;
}

/**
 * What each replica set still has to be assigned. A replica set that already
 * owns buckets was bootstrapped and is left alone (ownership changes only by
 * moving buckets); one that owns none gets the buckets of its planned range
 * nobody else owns, so a bootstrap cut short by a crash completes on the next start.
 */
export function pendingAssignments(
  plan: ReadonlyMap<string, BucketRange>,
  owned: ReadonlyMap<string, ReadonlyArray<readonly [number, number]>>,
  bucket_count: number,
): Map<string, number[]> {
  const taken = new Uint8Array(bucket_count + 1);
  for (const ranges of owned.values()) for (const [first, last] of ranges) taken.fill(1, first, last + 1);
  const pending = new Map<string, number[]>();
  for (const [name, [first, last]] of plan) {
    if ((owned.get(name) ?? []).length > 0) continue;
    const bucket_ids: number[] = [];
    for (let bucket_id = first; bucket_id <= last; bucket_id++) if (taken[bucket_id] === 0) bucket_ids.push(bucket_id);
    if (bucket_ids.length > 0) pending.set(name, bucket_ids);
  }
  return pending;
}
