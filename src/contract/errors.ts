/**
 * The one error catalogue shared by the storage procedures (compiled to Lua)
 * and the Node side (router, gateway). Expected failures travel as values:
 * a procedure returns `nil, {code, name, message, details}` and callers branch
 * on `name` (stable) or `code` (stable number), never on message text.
 *
 * Pure data, no imports: this file compiles both with tsc and TypeScriptToLua.
 */
export const ERRORS = {
  INVALID_ARGUMENT: { code: 1, message: "invalid argument" },
  INVALID_AMOUNT: { code: 2, message: "amount must be a decimal string" },
  AMOUNT_NOT_POSITIVE: { code: 3, message: "amount must be greater than zero" },
  AMOUNT_SCALE_EXCEEDED: { code: 4, message: "too many fractional digits" },
  AMOUNT_OUT_OF_RANGE: { code: 5, message: "value is out of range" },
  INVALID_RATE: { code: 6, message: "rate must be a decimal string" },
  RATE_NEGATIVE: { code: 7, message: "rate must not be negative" },
  CUSTOMER_NOT_FOUND: { code: 10, message: "customer not found" },
  ACCOUNT_NOT_FOUND: { code: 11, message: "account not found" },
  CUSTOMER_EXISTS: { code: 12, message: "customer already exists" },
  ACCOUNT_EXISTS: { code: 13, message: "account already exists" },
  TOO_MANY_ACCOUNTS: { code: 14, message: "too many accounts for one customer" },
  BALANCE_LIMIT_EXCEEDED: { code: 15, message: "balance would exceed the maximum" },
  IDEMPOTENCY_KEY_REUSED: { code: 20, message: "idempotency key was used for a different request" },
  WRONG_BUCKET: { code: 30, message: "bucket is not owned by this replica set" },
  NOT_WRITABLE: { code: 31, message: "this instance is read-only; call the master" },
  BUCKET_COUNT_MISMATCH: { code: 32, message: "bucket_count differs from the one this storage was bootstrapped with" },
  COMMIT_FAILED: { code: 33, message: "the write could not be committed (for example a synchronous-replication quorum timeout); nothing was applied" },
  INTERNAL: { code: 99, message: "internal error" },
} as const;

export type ErrorName = keyof typeof ERRORS;

/** The shape of an expected failure, as a procedure returns it (second return value). */
export interface BillingErrorValue {
  code: number;
  name: ErrorName;
  message: string;
  details?: Record<string, unknown>;
}
