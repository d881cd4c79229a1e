/**
 * The API's schemas, the single source of validation, handler types,
 * response serialization and the OpenAPI document. Limits come from
 * src/contract/limits.ts, the same numbers the storage enforces.
 */
import { Type, type Static, type TInteger, type TString, type TUnion } from "@sinclair/typebox";
import { LIMITS } from "../contract/limits.ts";
import { AMOUNT, MONEY_TEXT_LENGTH_MAX, RATE, moneyIntegerMax, moneyPattern, type MoneyField } from "./money.ts";
import { MONEY_KIND } from "./validation.ts";
import { PROBLEM_KINDS, shownCodes } from "./problems.ts";

const strict = { additionalProperties: false } as const;

export const Id = (description: string) => Type.Integer({ minimum: 1, maximum: LIMITS.id_max, description });
export const CustomerId = Id("Customer id, 1 to 2^53-1.");
export const AccountId = Id("Account id, unique within its customer, 1 to 2^53-1.");
export const Name = Type.String({ minLength: 1, maxLength: LIMITS.name_length_max });
export const TimeMs = Type.Integer({ minimum: 0, description: "Milliseconds since the Unix epoch." });
export const MoneyString = Type.String({ description: "Exact decimal string, e.g. \"12.5\"." });

/** A money input: a canonical decimal string, or a JSON number only when it is a whole, safe integer. */
function moneyInput(field: MoneyField, kind: "amount" | "rate", description: string): TUnion<[TString, TInteger]> {
  return Type.Union([
    Type.String({ pattern: moneyPattern(field), maxLength: MONEY_TEXT_LENGTH_MAX }),
    Type.Integer({ minimum: field.zeroAllowed ? 0 : 1, maximum: moneyIntegerMax(field) }),
  ], {
    [MONEY_KIND]: kind,
    description: `${description} A decimal string in plain notation (no sign or exponent), at most ${LIMITS.money_scale_max} fractional digits `
      + `and fewer than ${field.integerDigitsMax + 1} integer digits; a JSON number is accepted only when it is a whole number.`,
  });
}

export const AmountInput = moneyInput(AMOUNT, "amount", "Amount to add, greater than zero.");
export const RateInput = moneyInput(RATE, "rate", "Consumption per second, zero or more.");

// ---------------------------------------------------------------- requests

export const NewAccount = Type.Object({ account_id: AccountId, name: Name }, strict);

export const CreateCustomerBody = Type.Object({
  customer_id: CustomerId,
  name: Name,
  accounts: Type.Optional(Type.Array(NewAccount, { maxItems: LIMITS.accounts_per_customer_max })),
}, strict);
export type CreateCustomerBody = Static<typeof CreateCustomerBody>;

export const AddAccountBody = Type.Object({ account_id: AccountId, name: Name }, strict);
export const DepositBody = Type.Object({ amount: AmountInput }, strict);
export const RateBody = Type.Object({ rate_per_s: RateInput }, strict);

export const CustomerParams = Type.Object({ customer_id: CustomerId }, strict);
export const AccountParams = Type.Object({ customer_id: CustomerId, account_id: AccountId }, strict);

export const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(Type.String({
    minLength: 1, maxLength: LIMITS.idempotency_key_length_max,
    description: "Makes a deposit safe to retry: the same key with the same request returns the first result and adds nothing.",
  })),
});

export const LedgerQuery = Type.Object({
  after_seq: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.id_max, description: "Entries after this sequence number (default 0)." })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.ledger_page_max, description: "Page size (default 100)." })),
}, strict);

export const PendingQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.outbox_page_max, description: "Most notifications per replica set and in all (default 100)." })),
}, strict);

// Seed routes: the original payloads, field for field.
export const SeedBalanceBody = Type.Object({ amount: AmountInput, account_id: AccountId }, strict);
export const SeedConsumptionBody = Type.Object({ consumption: RateInput, account_id: AccountId }, strict);

// ---------------------------------------------------------------- responses

export const Account = Type.Object({
  customer_id: CustomerId,
  account_id: AccountId,
  name: Type.String(),
  balance: Type.String({ description: "Balance settled to as_of_ms, exact." }),
  rate_per_s: Type.String(),
  status: Type.Union([Type.Literal("active"), Type.Literal("depleted")]),
  depletes_at_ms: Type.Optional(Type.Integer({ description: "When the balance reaches zero at the current rate; absent when it never does." })),
  depletes_at: Type.Optional(Type.String({ format: "date-time", description: "depletes_at_ms as an ISO 8601 UTC instant." })),
  updated_at_ms: TimeMs,
  as_of_ms: TimeMs,
  ledger_seq: Type.Integer({ minimum: 0 }),
});
export type Account = Static<typeof Account>;

export const DepositResult = Type.Composite([Account, Type.Object({
  replayed: Type.Boolean({ description: "True when this answers a retry of an earlier request with the same Idempotency-Key." }),
})]);
export type DepositResult = Static<typeof DepositResult>;

export const Customer = Type.Object({
  customer_id: CustomerId,
  bucket_id: Type.Integer({ minimum: 1 }),
  name: Type.String(),
  created_at_ms: TimeMs,
  accounts: Type.Array(Account),
});
export type Customer = Static<typeof Customer>;

export const LedgerEntry = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  at_ms: TimeMs,
  kind: Type.Union([Type.Literal("deposit"), Type.Literal("rate"), Type.Literal("depleted")]),
  amount: MoneyString,
  charged: Type.String({ description: "Consumed since the previous entry." }),
  balance_after: MoneyString,
  rate_after: MoneyString,
  reference: Type.String({ description: "The deposit's idempotency key, or empty." }),
});

export const LedgerPage = Type.Object({
  entries: Type.Array(LedgerEntry),
  has_more: Type.Boolean(),
  next_after_seq: Type.Optional(Type.Integer({ description: "Pass as after_seq for the next page." })),
});
export type LedgerPage = Static<typeof LedgerPage>;

export const PendingNotification = Type.Object({
  replicaset: Type.String(),
  event_id: Type.String(),
  customer_id: CustomerId,
  account_id: AccountId,
  kind: Type.String(),
  occurred_at_ms: TimeMs,
  attempts: Type.Integer({ minimum: 0 }),
  next_attempt_at_ms: TimeMs,
  last_error: Type.Optional(Type.String()),
});
export type PendingNotification = Static<typeof PendingNotification>;

export const PendingNotifications = Type.Object({
  notifications: Type.Array(PendingNotification, { description: "Soonest first, across every replica set, at most `limit`." }),
  total: Type.Integer({ minimum: 0, description: "Undelivered notifications on the replica sets that answered." }),
  complete: Type.Boolean({ description: "False when some replica set did not answer; see replicasets." }),
  replicasets: Type.Array(Type.Object({ replicaset: Type.String(), ok: Type.Boolean(), total: Type.Optional(Type.Integer()) })),
});
export type PendingNotifications = Static<typeof PendingNotifications>;

export const Health = Type.Object({
  status: Type.Union([Type.Literal("ready"), Type.Literal("not_ready")]),
  replicasets: Type.Integer({ minimum: 0 }),
  replicasets_ready: Type.Integer({ minimum: 0 }),
});

export const Problem = Type.Object({
  type: Type.String({ description: "urn:billing:problem:<code in kebab case>" }),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  instance: Type.String({ description: "The request path." }),
  code: Type.String({ description: "Stable error code: branch on this.", enum: shownCodes() }),
  request_id: Type.String({ description: "Also in the X-Request-Id header and the gateway's logs." }),
  errors: Type.Optional(Type.Array(Type.Object({
    field: Type.String(), in: Type.String(), message: Type.String(), reason: Type.Optional(Type.String()),
  }))),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
}, { $id: "Problem", title: "Problem (RFC 9457)" });

/** Response entries for the error statuses a route may answer, each as application/problem+json. */
export function problems(...statuses: number[]): Record<number, unknown> {
  const entries: Record<number, unknown> = {};
  for (const status of [...statuses, 500, 503]) {
    const codes = shownCodes().filter((code) => PROBLEM_KINDS[code].status === status);
    entries[status] = {
      description: `Problem: ${codes.join(", ")}`,
      content: { "application/problem+json": { schema: Type.Ref("Problem") } },
    };
  }
  return entries;
}
