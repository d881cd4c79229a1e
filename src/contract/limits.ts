/**
 * Money and size limits enforced at every edge (gateway and storage alike).
 * Money is a decimal string on the wire and Tarantool `decimal` in storage.
 */
export const LIMITS = {
  /** Fractional digits accepted in an amount or a rate. */
  money_scale_max: 6,
  /** Largest single deposit: 10^15 - 10^-6 (a quadrillion minus one micro-unit). */
  amount_integer_digits_max: 15,
  /** Largest rate per second: below 10^9. */
  rate_integer_digits_max: 9,
  /** Largest balance an account may hold: below 10^18. */
  balance_integer_digits_max: 18,
  /** Accounts one customer may hold. */
  accounts_per_customer_max: 100,
  /** Characters in a name. */
  name_length_max: 256,
  /** Characters in an idempotency key. */
  idempotency_key_length_max: 128,
  /** Largest customer or account id: 2^53 - 1, exact in JavaScript and in Lua numbers. */
  id_max: 9007199254740991,
  /** Ledger rows returned by one page. */
  ledger_page_max: 1000,
  /** Outbox rows returned by one listing. */
  outbox_page_max: 1000,
} as const;

/**
 * Bounds of the power-off settings, [min, max] inclusive: checked by the
 * storage at start (src/storage/config.ts) and by the topology loader
 * (src/cluster/topology.ts), so a bad value is caught before any node starts.
 */
export const POWEROFF_BOUNDS = {
  pool_size: [1, 512],
  request_timeout_ms: [10, 60000],
  backoff_min_ms: [1, 60000],
  backoff_max_ms: [1, 3600000],
} as const;
