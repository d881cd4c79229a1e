/**
 * The account state machine. Every function here is given its timestamp and
 * never reads the clock, so the same code serves procedures, the scheduler
 * and tests that drive time.
 */
import * as uuid from "uuid";
import { A, field, space, type Tuple, type UpdateOp } from "./db";
import { ZERO, balanceAt, depletesAt, moneyString, type Decimal } from "./money";

export type Status = "active" | "depleted";

export interface AccountView {
  customer_id: number;
  account_id: number;
  name: string;
  balance: string;
  rate_per_s: string;
  depletes_at_ms?: number;
  status: Status;
  updated_at_ms: number;
  as_of_ms: number;
  ledger_seq: number;
}

/** The account as of `now_ms`: the balance settled lazily, the status as it is at that instant. */
export function accountView(account: Tuple, now_ms: number): AccountView {
  const deadline = deadlineOf(account);
  const due = deadline !== undefined && deadline <= now_ms;
  const view: AccountView = {
    customer_id: account[A.customer_id] as number,
    account_id: account[A.account_id] as number,
    name: account[A.name] as string,
    balance: moneyString(balanceAt(account[A.balance] as Decimal, account[A.rate_per_s] as Decimal,
      account[A.updated_at_ms] as number, now_ms)),
    rate_per_s: moneyString(account[A.rate_per_s] as Decimal),
    status: due ? "depleted" : (account[A.status] as Status),
    updated_at_ms: account[A.updated_at_ms] as number,
    as_of_ms: now_ms,
    ledger_seq: account[A.ledger_seq] as number,
  };
  if (deadline !== undefined && !due) view.depletes_at_ms = deadline;
  return view;
}

export function deadlineOf(account: Tuple): number | undefined {
  const deadline = account[A.depletes_at_ms];
  return deadline === box.NULL ? undefined : (deadline as number | undefined);
}

export interface LedgerEntry {
  at_ms: number;
  kind: "deposit" | "rate" | "depleted";
  amount: Decimal;
  charged: Decimal;
  balance_after: Decimal;
  rate_after: Decimal;
  reference: string;
}

/** Appends one ledger row and returns the sequence number it took. Call inside a transaction. */
export function appendLedger(account: Tuple, entry: LedgerEntry): number {
  const seq = (account[A.ledger_seq] as number) + 1;
  space("ledger").insert([
    account[A.customer_id], account[A.account_id], seq, account[A.bucket_id], entry.at_ms, entry.kind,
    entry.amount, entry.charged, entry.balance_after, entry.rate_after, entry.reference,
  ]);
  return seq;
}

/** Queues a notification. Call inside a transaction: it commits with the state change it reports. */
export function enqueueEvent(account: Tuple, kind: "depleted" | "resumed", occurred_at_ms: number, now_ms: number): string {
  const event_id = uuid.str();
  space("outbox").insert([
    event_id, account[A.customer_id], account[A.account_id], account[A.bucket_id], kind, occurred_at_ms, now_ms,
    0, now_ms, box.NULL,
  ]);
  return event_id;
}

/**
 * Marks an account whose deadline has come as depleted: balance exactly 0 as
 * of the zero instant, a ledger row charging what was left, an outbox row.
 * Call inside a transaction. Returns the updated tuple.
 */
export function depleteAccount(account: Tuple, now_ms: number): Tuple {
  const deadline = deadlineOf(account)!;
  const rate = account[A.rate_per_s] as Decimal;
  const event_id = enqueueEvent(account, "depleted", deadline, now_ms);
  const seq = appendLedger(account, {
    at_ms: deadline, kind: "depleted", amount: ZERO, charged: account[A.balance] as Decimal,
    balance_after: ZERO, rate_after: rate, reference: event_id,
  });
  const ops: UpdateOp[] = [
    ["=", field(A.balance), ZERO],
    ["=", field(A.updated_at_ms), deadline],
    ["=", field(A.depletes_at_ms), box.NULL],
    ["=", field(A.status), "depleted"],
    ["=", field(A.ledger_seq), seq],
  ];
  return space("accounts").update([account[A.customer_id], account[A.account_id]], ops)!;
}

/**
 * Brings an account to `now_ms` before a change: a deadline already passed is
 * processed first (so every episode is notified exactly once, even when the
 * scheduler has not reached it yet), then the balance is settled.
 * Returns the (possibly updated) tuple, the settled balance and what was charged.
 */
export function settle(account: Tuple, now_ms: number): LuaMultiReturn<[Tuple, Decimal, Decimal]> {
  const deadline = deadlineOf(account);
  if (deadline !== undefined && deadline <= now_ms) account = depleteAccount(account, now_ms);
  const stored = account[A.balance] as Decimal;
  const settled = balanceAt(stored, account[A.rate_per_s] as Decimal, account[A.updated_at_ms] as number, now_ms);
  return $multi(account, settled, dSub(stored, settled));
}

/** Stores a new (balance, rate) as of now_ms with its deadline. Returns the new deadline. */
export function storeState(account: Tuple, balance: Decimal, rate: Decimal, status: Status, seq: number, now_ms: number): number | undefined {
  const deadline = status === "depleted" ? undefined : depletesAt(balance, rate, now_ms);
  space("accounts").update([account[A.customer_id], account[A.account_id]], [
    ["=", field(A.balance), balance],
    ["=", field(A.rate_per_s), rate],
    ["=", field(A.updated_at_ms), now_ms],
    ["=", field(A.depletes_at_ms), deadline ?? box.NULL],
    ["=", field(A.status), status],
    ["=", field(A.ledger_seq), seq],
  ]);
  return deadline;
}
