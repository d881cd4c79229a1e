/**
 * The billing operations behind the routes, shared by the seed routes and
 * /v1: HTTP shapes in, storage procedure requests out, storage results back
 * as the response types. The storage contract is the procedure names and
 * their argument maps (src/storage/procedures.ts); nothing here imports it.
 */
import type { BillingBackend, ReplicasetOutcome } from "./backend.ts";
import { moneyText } from "./money.ts";
import type { Account, Customer, DepositResult, LedgerPage, PendingNotification, PendingNotifications } from "./schemas.ts";

/** The storage's account view (src/storage/accounts.ts AccountView), as it arrives. */
type StoredAccount = Omit<Account, "depletes_at">;

/** Adds the ISO instant beside the millisecond deadline; leaves the rest as the storage sent it. */
export function withIsoDeadline<T extends StoredAccount>(account: T): T & { depletes_at?: string } {
  const deadline = account.depletes_at_ms;
  if (typeof deadline !== "number") return account;
  return { ...account, depletes_at: new Date(deadline).toISOString() };
}

function customerView(customer: Customer): Customer {
  return { ...customer, accounts: customer.accounts.map((account) => withIsoDeadline(account)) };
}

export async function createCustomer(backend: BillingBackend, body: { customer_id: number; name: string; accounts?: Array<{ account_id: number; name: string }> }): Promise<Customer> {
  const request = { customer_id: body.customer_id, name: body.name, accounts: body.accounts ?? [] };
  return customerView(await backend.call(body.customer_id, "billing_create_customer", request, { write: true }) as Customer);
}

export async function getCustomer(backend: BillingBackend, customer_id: number): Promise<Customer> {
  return customerView(await backend.call(customer_id, "billing_get_customer", { customer_id }, { write: false }) as Customer);
}

export async function addAccount(backend: BillingBackend, customer_id: number, account_id: number, name: string): Promise<Account> {
  return withIsoDeadline(await backend.call(customer_id, "billing_add_account", { customer_id, account_id, name }, { write: true }) as StoredAccount);
}

export async function getAccount(backend: BillingBackend, customer_id: number, account_id: number): Promise<Account> {
  return withIsoDeadline(await backend.call(customer_id, "billing_get_account", { customer_id, account_id }, { write: false }) as StoredAccount);
}

/** A deposit; with a key it is idempotent, so the router may resend it when an answer is lost. */
export async function deposit(backend: BillingBackend, customer_id: number, account_id: number, amount: string | number, idempotency_key: string | undefined): Promise<DepositResult> {
  const request: Record<string, unknown> = { customer_id, account_id, amount: moneyText(amount) };
  if (idempotency_key !== undefined) request["idempotency_key"] = idempotency_key;
  const result = await backend.call(customer_id, "billing_deposit", request, { write: true, idempotent: idempotency_key !== undefined });
  return withIsoDeadline(result as Omit<DepositResult, "depletes_at">);
}

export async function setRate(backend: BillingBackend, customer_id: number, account_id: number, rate_per_s: string | number): Promise<Account> {
  const request = { customer_id, account_id, rate_per_s: moneyText(rate_per_s) };
  return withIsoDeadline(await backend.call(customer_id, "billing_set_rate", request, { write: true }) as StoredAccount);
}

export async function ledger(backend: BillingBackend, customer_id: number, account_id: number, query: { after_seq?: number; limit?: number }): Promise<LedgerPage> {
  const request: Record<string, unknown> = { customer_id, account_id };
  if (query.after_seq !== undefined) request["after_seq"] = query.after_seq;
  if (query.limit !== undefined) request["limit"] = query.limit;
  return await backend.call(customer_id, "billing_ledger", request, { write: false }) as LedgerPage;
}

export const PENDING_LIMIT_DEFAULT = 100;

/**
 * Undelivered notifications from every replica set, merged soonest first.
 * A replica set that does not answer makes the answer incomplete, not an
 * error; when none answers, the first failure is thrown (a 503).
 */
export async function pendingNotifications(backend: BillingBackend, limit = PENDING_LIMIT_DEFAULT): Promise<PendingNotifications> {
  const outcomes = await backend.callAll("billing_pending_notifications", { limit });
  const failures = outcomes.filter((outcome): outcome is Extract<ReplicasetOutcome, { ok: false }> => !outcome.ok);
  if (outcomes.length > 0 && failures.length === outcomes.length) throw failures[0]!.error;
  const notifications: PendingNotification[] = [];
  const replicasets: PendingNotifications["replicasets"] = [];
  let total = 0;
  for (const outcome of outcomes) {
    if (!outcome.ok) {
      replicasets.push({ replicaset: outcome.replicaset, ok: false });
      continue;
    }
    const listing = outcome.result as { notifications: Array<Omit<PendingNotification, "replicaset">>; total: number };
    total += listing.total;
    replicasets.push({ replicaset: outcome.replicaset, ok: true, total: listing.total });
    for (const row of listing.notifications) notifications.push({ replicaset: outcome.replicaset, ...row });
  }
  notifications.sort((a, b) => a.next_attempt_at_ms - b.next_attempt_at_ms || a.occurred_at_ms - b.occurred_at_ms);
  return { notifications: notifications.slice(0, limit), total, complete: failures.length === 0, replicasets };
}
