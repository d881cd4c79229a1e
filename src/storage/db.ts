/**
 * Typed access to the spaces. Tuples are read as arrays, so TypeScript index 0
 * is Lua field 1; the field positions below are the single source of truth.
 */
export type Tuple = readonly unknown[];
export type UpdateOp = [string, number, unknown];

export interface Index {
  get(this: Index, key: unknown): Tuple | undefined;
  select(this: Index, key?: unknown, options?: { iterator?: string; limit?: number }): Tuple[];
  pairs(this: Index, key?: unknown, options?: { iterator?: string }): LuaIterable<LuaMultiReturn<[unknown, Tuple]>>;
  min(this: Index, key?: unknown): Tuple | undefined;
  count(this: Index, key?: unknown, options?: { iterator?: string }): number;
}

export interface Space {
  index: Record<string, Index>;
  get(this: Space, key: unknown): Tuple | undefined;
  insert(this: Space, tuple: unknown[]): Tuple;
  replace(this: Space, tuple: unknown[]): Tuple;
  update(this: Space, key: unknown, ops: UpdateOp[]): Tuple | undefined;
  delete(this: Space, key: unknown): Tuple | undefined;
  select(this: Space, key?: unknown, options?: { iterator?: string; limit?: number }): Tuple[];
  len(this: Space): number;
  count(this: Space, key?: unknown): number;
}

export function space(name: string): Space {
  return (box.space as unknown as Record<string, Space>)[name] as Space;
}

/** customers: one row per customer. */
export const C = { customer_id: 0, bucket_id: 1, name: 2, created_at_ms: 3, account_count: 4 } as const;

/** accounts: balance is as of updated_at_ms; depletes_at_ms is nil when it never depletes. */
export const A = {
  customer_id: 0,
  account_id: 1,
  bucket_id: 2,
  name: 3,
  balance: 4,
  rate_per_s: 5,
  updated_at_ms: 6,
  depletes_at_ms: 7,
  status: 8,
  ledger_seq: 9,
  created_at_ms: 10,
} as const;

/** ledger: one row per deposit, rate change and depletion; balance_after = previous - charged + amount. */
export const L = {
  customer_id: 0,
  account_id: 1,
  seq: 2,
  bucket_id: 3,
  at_ms: 4,
  kind: 5,
  amount: 6,
  charged: 7,
  balance_after: 8,
  rate_after: 9,
  reference: 10,
} as const;

/** outbox: notifications not yet delivered. */
export const O = {
  event_id: 0,
  customer_id: 1,
  account_id: 2,
  bucket_id: 3,
  kind: 4,
  occurred_at_ms: 5,
  created_at_ms: 6,
  attempts: 7,
  next_attempt_at_ms: 8,
  last_error: 9,
} as const;

/** idempotency: a deposit's stored result under (customer_id, key). */
export const I = { customer_id: 0, key: 1, bucket_id: 2, request: 3, result: 4, created_at_ms: 5 } as const;

/** buckets: the buckets this replica set owns (status "active") or has handed over (destination known). */
export const B = { bucket_id: 0, status: 1, destination: 2 } as const;

/** One Lua field number (1-based) from a 0-based position, for update operations. */
export function field(position: number): number {
  return position + 1;
}
