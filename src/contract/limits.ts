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
