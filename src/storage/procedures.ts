/**
 * The stored procedures published to the service user. Each takes one table
 * argument and returns `result` or `nil, error` (an entry of the shared error
 * catalogue). Each reads the clock once, at its start, and passes it down.
 */
import { LIMITS } from "../contract/limits";
import { A, C, I, L, O, space, type Tuple } from "./db";
import { failure, success, type Failure, type Outcome } from "./errors";
import { accountView, appendLedger, enqueueEvent, settle, storeState, type AccountView, type Status } from "./accounts";
import { bucketOf, refuseForeignBucket } from "./buckets";
import { ZERO, exceedsBalanceLimit, moneyString, parseMoney, type Decimal } from "./money";
import { checkIds, checkOptionalKey, checkShape, isId, isName, type Problem, type Request } from "./validate";
import { noteDeadline } from "./scheduler";
import { wakeNotifier } from "./notifier";
import { nowMs } from "./time";

const settings = { resumed_enabled: false };

export function configureProcedures(resumed_enabled: boolean): void {
  settings.resumed_enabled = resumed_enabled;
}

function refuse(problem: NonNullable<Problem>): Failure {
  return failure(problem.error, { field: problem.field });
}

/** Checks common to every write: this node is the master and owns the customer's bucket. */
function refuseWrite(customer_id: number): Failure | undefined {
  if (box.info.ro) return failure("NOT_WRITABLE");
  return refuseForeignBucket(bucketOf(customer_id));
}

function customerAccounts(customer_id: number, now_ms: number): AccountView[] {
  return space("accounts").select([customer_id]).map((account) => accountView(account, now_ms));
}

function customerView(customer: Tuple, now_ms: number): Record<string, unknown> {
  return {
    customer_id: customer[C.customer_id],
    bucket_id: customer[C.bucket_id],
    name: customer[C.name],
    created_at_ms: customer[C.created_at_ms],
    accounts: customerAccounts(customer[C.customer_id] as number, now_ms),
  };
}

function newAccountTuple(customer_id: number, account_id: number, bucket_id: number, name: string, now_ms: number): unknown[] {
  return [customer_id, account_id, bucket_id, name, ZERO, ZERO, now_ms, box.NULL, "active", 0, now_ms];
}

const CREATE_FIELDS: Record<string, true> = { customer_id: true, name: true, accounts: true };
const ACCOUNT_FIELDS: Record<string, true> = { account_id: true, name: true };

function checkNewAccounts(accounts: unknown): Problem {
  if (accounts === undefined) return undefined;
  if (typeof accounts !== "object" || accounts === null) return { error: "INVALID_ARGUMENT", field: "accounts" };
  const list = accounts as unknown[];
  if (list.length > LIMITS.accounts_per_customer_max) return { error: "TOO_MANY_ACCOUNTS", field: "accounts" };
  const seen = new LuaTable<number, true>();
  for (const entry of list) {
    const problem = checkShape(entry, ACCOUNT_FIELDS);
    if (problem !== undefined) return { error: problem.error, field: `accounts.${problem.field}` };
    const account = entry as Request;
    if (!isId(account["account_id"])) return { error: "INVALID_ARGUMENT", field: "accounts.account_id" };
    if (!isName(account["name"])) return { error: "INVALID_ARGUMENT", field: "accounts.name" };
    if (seen.get(account["account_id"]) !== undefined) return { error: "ACCOUNT_EXISTS", field: "accounts.account_id" };
    seen.set(account["account_id"], true);
  }
  return undefined;
}

/** Creates a customer with its accounts (the seed's payload). */
export function createCustomer(request: Request): Outcome<Record<string, unknown>> {
  const problem = checkShape(request, CREATE_FIELDS) ?? checkIds(request, false)
    ?? (isName(request["name"]) ? undefined : { error: "INVALID_ARGUMENT", field: "name" })
    ?? checkNewAccounts(request["accounts"]);
  if (problem !== undefined) return refuse(problem);
  const customer_id = request["customer_id"] as number;
  const refused = refuseWrite(customer_id);
  if (refused !== undefined) return refused;
  if (space("customers").get(customer_id) !== undefined) return failure("CUSTOMER_EXISTS", { customer_id });
  const now_ms = nowMs();
  const bucket_id = bucketOf(customer_id);
  const accounts = (request["accounts"] ?? []) as Request[];
  box.begin();
  const customer = space("customers").insert([customer_id, bucket_id, request["name"], now_ms, accounts.length]);
  for (const account of accounts) {
    space("accounts").insert(newAccountTuple(customer_id, account["account_id"] as number, bucket_id, account["name"] as string, now_ms));
  }
  box.commit();
  return success(customerView(customer, now_ms));
}

const ADD_ACCOUNT_FIELDS: Record<string, true> = { customer_id: true, account_id: true, name: true };

export function addAccount(request: Request): Outcome<AccountView> {
  const problem = checkShape(request, ADD_ACCOUNT_FIELDS) ?? checkIds(request, true)
    ?? (isName(request["name"]) ? undefined : { error: "INVALID_ARGUMENT", field: "name" });
  if (problem !== undefined) return refuse(problem);
  const customer_id = request["customer_id"] as number;
  const account_id = request["account_id"] as number;
  const refused = refuseWrite(customer_id);
  if (refused !== undefined) return refused;
  const customer = space("customers").get(customer_id);
  if (customer === undefined) return failure("CUSTOMER_NOT_FOUND", { customer_id });
  if (space("accounts").get([customer_id, account_id]) !== undefined) return failure("ACCOUNT_EXISTS", { customer_id, account_id });
  if ((customer[C.account_count] as number) >= LIMITS.accounts_per_customer_max) return failure("TOO_MANY_ACCOUNTS", { customer_id });
  const now_ms = nowMs();
  box.begin();
  const account = space("accounts").insert(newAccountTuple(customer_id, account_id, customer[C.bucket_id] as number, request["name"] as string, now_ms));
  space("customers").update(customer_id, [["+", C.account_count + 1, 1]]);
  box.commit();
  return success(accountView(account, now_ms));
}

/** The account of a write, or the failure naming what is missing. */
function findAccount(customer_id: number, account_id: number): LuaMultiReturn<[Tuple | undefined, Failure | undefined]> {
  const account = space("accounts").get([customer_id, account_id]);
  if (account !== undefined) return $multi(account, undefined);
  if (space("customers").get(customer_id) === undefined) return $multi(undefined, failure("CUSTOMER_NOT_FOUND", { customer_id }));
  return $multi(undefined, failure("ACCOUNT_NOT_FOUND", { customer_id, account_id }));
}

const DEPOSIT_FIELDS: Record<string, true> = { customer_id: true, account_id: true, amount: true, idempotency_key: true };

/** Adds money. With an idempotency key, a retry returns the first result and never adds twice. */
export function deposit(request: Request): Outcome<Record<string, unknown>> {
  const problem = checkShape(request, DEPOSIT_FIELDS) ?? checkIds(request, true) ?? checkOptionalKey(request["idempotency_key"]);
  if (problem !== undefined) return refuse(problem);
  const parsed = parseMoney(request["amount"], "amount", LIMITS.amount_integer_digits_max, "INVALID_AMOUNT");
  if (!parsed.ok) return refuse(parsed);
  if (parsed.value === ZERO) return failure("AMOUNT_NOT_POSITIVE", { field: "amount" });
  const customer_id = request["customer_id"] as number;
  const account_id = request["account_id"] as number;
  const refused = refuseWrite(customer_id);
  if (refused !== undefined) return refused;
  const key = request["idempotency_key"] as string | undefined;
  const fingerprint = `deposit:${string.format("%d", account_id)}:${moneyString(parsed.value)}`;
  if (key !== undefined) {
    const stored = space("idempotency").get([customer_id, key]);
    if (stored !== undefined) {
      if (stored[I.request] !== fingerprint) return failure("IDEMPOTENCY_KEY_REUSED", { idempotency_key: key });
      return success({ ...(stored[I.result] as Record<string, unknown>), replayed: true });
    }
  }
  const [found, missing] = findAccount(customer_id, account_id);
  if (found === undefined) return missing!;
  const now_ms = nowMs();
  box.begin();
  const [account, settled, charged] = settle(found, now_ms);
  const balance = dAdd(settled, parsed.value);
  if (exceedsBalanceLimit(balance)) {
    box.rollback();
    return failure("BALANCE_LIMIT_EXCEEDED", { customer_id, account_id });
  }
  const rate = account[A.rate_per_s] as Decimal;
  const revived = account[A.status] === "depleted";
  const seq = appendLedger(account, {
    at_ms: now_ms, kind: "deposit", amount: parsed.value, charged, balance_after: balance, rate_after: rate, reference: key ?? "",
  });
  const deadline = storeState(account, balance, rate, "active", seq, now_ms);
  if (revived && settings.resumed_enabled) enqueueEvent(account, "resumed", now_ms, now_ms);
  const result = { ...accountView(space("accounts").get([customer_id, account_id])!, now_ms), ledger_seq: seq, replayed: false };
  if (key !== undefined) {
    space("idempotency").insert([customer_id, key, account[A.bucket_id], fingerprint, result, now_ms]);
  }
  box.commit();
  noteDeadline(deadline);
  // A deadline passed before this call (settled inline) or a revival queued a notification.
  if (account !== found || (revived && settings.resumed_enabled)) wakeNotifier();
  return success(result);
}

const RATE_FIELDS: Record<string, true> = { customer_id: true, account_id: true, rate_per_s: true };

/** Changes consumption per second; 0 stops it. A depleted account stays depleted until a deposit. */
export function setRate(request: Request): Outcome<AccountView> {
  const problem = checkShape(request, RATE_FIELDS) ?? checkIds(request, true);
  if (problem !== undefined) return refuse(problem);
  const raw = request["rate_per_s"];
  if (typeof raw === "string" && string.sub(raw, 1, 1) === "-") return failure("RATE_NEGATIVE", { field: "rate_per_s" });
  const parsed = parseMoney(raw, "rate_per_s", LIMITS.rate_integer_digits_max, "INVALID_RATE");
  if (!parsed.ok) return refuse(parsed);
  const customer_id = request["customer_id"] as number;
  const account_id = request["account_id"] as number;
  const refused = refuseWrite(customer_id);
  if (refused !== undefined) return refused;
  const [found, missing] = findAccount(customer_id, account_id);
  if (found === undefined) return missing!;
  const now_ms = nowMs();
  box.begin();
  const [account, settled, charged] = settle(found, now_ms);
  const status = account[A.status] as Status;
  const seq = appendLedger(account, {
    at_ms: now_ms, kind: "rate", amount: ZERO, charged, balance_after: settled, rate_after: parsed.value, reference: "",
  });
  const deadline = storeState(account, settled, parsed.value, status, seq, now_ms);
  // The answer is read before the commit yields: after it, the scheduler may already have depleted the account.
  const result = accountView(space("accounts").get([customer_id, account_id])!, now_ms);
  box.commit();
  noteDeadline(deadline);
  if (account !== found) wakeNotifier(); // a deadline that had passed was settled inline
  return success(result);
}

const ACCOUNT_KEY_FIELDS: Record<string, true> = { customer_id: true, account_id: true };

/** The account with its balance settled to now. Serves from a replica too. */
export function getAccount(request: Request): Outcome<AccountView> {
  const problem = checkShape(request, ACCOUNT_KEY_FIELDS) ?? checkIds(request, true);
  if (problem !== undefined) return refuse(problem);
  const customer_id = request["customer_id"] as number;
  const refused = refuseForeignBucket(bucketOf(customer_id));
  if (refused !== undefined) return refused;
  const [account, missing] = findAccount(customer_id, request["account_id"] as number);
  if (account === undefined) return missing!;
  return success(accountView(account, nowMs()));
}

const CUSTOMER_KEY_FIELDS: Record<string, true> = { customer_id: true };

export function getCustomer(request: Request): Outcome<Record<string, unknown>> {
  const problem = checkShape(request, CUSTOMER_KEY_FIELDS) ?? checkIds(request, false);
  if (problem !== undefined) return refuse(problem);
  const customer_id = request["customer_id"] as number;
  const refused = refuseForeignBucket(bucketOf(customer_id));
  if (refused !== undefined) return refused;
  const customer = space("customers").get(customer_id);
  if (customer === undefined) return failure("CUSTOMER_NOT_FOUND", { customer_id });
  return success(customerView(customer, nowMs()));
}

const LEDGER_FIELDS: Record<string, true> = { customer_id: true, account_id: true, after_seq: true, limit: true };

function ledgerRow(row: Tuple): Record<string, unknown> {
  return {
    seq: row[L.seq],
    at_ms: row[L.at_ms],
    kind: row[L.kind],
    amount: moneyString(row[L.amount] as Decimal),
    charged: moneyString(row[L.charged] as Decimal),
    balance_after: moneyString(row[L.balance_after] as Decimal),
    rate_after: moneyString(row[L.rate_after] as Decimal),
    reference: row[L.reference],
  };
}

/** One page of an account's statement, oldest first, after `after_seq`. */
export function ledgerPage(request: Request): Outcome<Record<string, unknown>> {
  const problem = checkShape(request, LEDGER_FIELDS) ?? checkIds(request, true);
  if (problem !== undefined) return refuse(problem);
  const after_seq = request["after_seq"] ?? 0;
  const limit = request["limit"] ?? 100;
  if (typeof after_seq !== "number" || after_seq < 0 || math.floor(after_seq) !== after_seq) {
    return failure("INVALID_ARGUMENT", { field: "after_seq" });
  }
  if (typeof limit !== "number" || limit < 1 || limit > LIMITS.ledger_page_max || math.floor(limit) !== limit) {
    return failure("INVALID_ARGUMENT", { field: "limit" });
  }
  const customer_id = request["customer_id"] as number;
  const account_id = request["account_id"] as number;
  const refused = refuseForeignBucket(bucketOf(customer_id));
  if (refused !== undefined) return refused;
  const [, missing] = findAccount(customer_id, account_id);
  if (missing !== undefined) return missing;
  const rows = space("ledger").select([customer_id, account_id, after_seq], { iterator: "GT", limit: limit + 1 })
    .filter((row) => row[L.customer_id] === customer_id && row[L.account_id] === account_id);
  const page = rows.slice(0, limit).map((row) => ledgerRow(row));
  const last = page[page.length - 1];
  const result: Record<string, unknown> = { entries: page, has_more: rows.length > limit };
  if (last !== undefined && rows.length > limit) result["next_after_seq"] = last["seq"];
  return success(result);
}

const OUTBOX_FIELDS: Record<string, true> = { limit: true };

/** Notifications not yet delivered on this replica set, soonest first. */
export function pendingNotifications(request: Request): Outcome<Record<string, unknown>> {
  const problem = checkShape(request ?? {}, OUTBOX_FIELDS);
  if (problem !== undefined) return refuse(problem);
  const limit = (request ?? {})["limit"] ?? 100;
  if (typeof limit !== "number" || limit < 1 || limit > LIMITS.outbox_page_max || math.floor(limit) !== limit) {
    return failure("INVALID_ARGUMENT", { field: "limit" });
  }
  const rows = space("outbox").index["due"]!.select([], { iterator: "GE", limit }).map((row) => {
    const entry: Record<string, unknown> = {
      event_id: row[O.event_id], customer_id: row[O.customer_id], account_id: row[O.account_id], kind: row[O.kind],
      occurred_at_ms: row[O.occurred_at_ms], attempts: row[O.attempts], next_attempt_at_ms: row[O.next_attempt_at_ms],
    };
    if (row[O.last_error] !== box.NULL && row[O.last_error] !== undefined) entry["last_error"] = row[O.last_error];
    return entry;
  });
  return success({ notifications: rows, total: space("outbox").len() });
}
