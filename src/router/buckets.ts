/**
 * The key → bucket function, identical to the storage's (src/storage/buckets.ts)
 * and to vshard's `bucket_id_strcrc32`: digest.crc32(decimal digits) % bucket_count + 1.
 * test/buckets.test.ts holds the two sides to the same answers.
 */
import { LIMITS } from "../contract/limits.ts";
import { tarantoolCrc32 } from "./crc32c.ts";

/** Largest bucket_count the storage config accepts. */
export const BUCKET_COUNT_MAX = 1_000_000;

/**
 * The key string of a customer: plain decimal digits, as Lua's
 * string.format('%d', id) writes it. JavaScript's String() would write
 * 1e21 for large values; ids are capped at 2^53-1, where both agree.
 */
export function customerKey(customer_id: number): string {
  if (!Number.isSafeInteger(customer_id) || customer_id < 1 || customer_id > LIMITS.id_max) {
    throw new RangeError(`customer_id must be an integer from 1 to ${LIMITS.id_max}, got ${customer_id}`);
  }
  return customer_id.toString(10);
}

export function assertBucketCount(bucket_count: number): void {
  if (!Number.isInteger(bucket_count) || bucket_count < 1 || bucket_count > BUCKET_COUNT_MAX) {
    throw new RangeError(`bucket_count must be an integer from 1 to ${BUCKET_COUNT_MAX}, got ${bucket_count}`);
  }
}

/** The bucket (1..bucket_count) that holds a customer and all its accounts. */
export function bucketOf(customer_id: number, bucket_count: number): number {
  assertBucketCount(bucket_count);
  return (tarantoolCrc32(customerKey(customer_id)) % bucket_count) + 1;
}
