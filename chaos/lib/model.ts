/**
 * Model check: random histories of deposits (with and without idempotency
 * keys, replays and key reuse), rate changes, reads, real pauses and clock
 * jumps (billing_test_advance_clock) run against a real storage node and a
 * small exact reference model (BigInt money). After every step the node's
 * answer must equal the model's; at the end of a history every ledger must
 * equal the model's entry for entry, and the receiver must have got exactly
 * one notification per depletion episode, at the model's zero instant, never
 * sent before it.
 *
 * The model is given each operation's instant by the node's answer
 * (updated_at_ms / as_of_ms): the storage reads its clock once per operation,
 * and the model computes what must follow from that instant exactly.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Delivery, PoweroffReceiver } from "../../src/receiver/receiver.ts";
import { pagedLedger, type LedgerEntry } from "./ledger.ts";
import { scaled, unscaled, waitUntil } from "./util.ts";

// ---------------------------------------------------------------- the reference model

const MS_PER_S = 1000n;
/** Deadlines further than this duration are "never" (storage/money.ts DEADLINE_HORIZON_MS). */
const DEADLINE_HORIZON_MS = 10_000_000_000_000n;
const BALANCE_DIGITS_MAX = 18;

export interface ModelEntry {
  seq: number;
  at_ms: number;
  kind: "deposit" | "rate" | "depleted";
  amount: bigint;
  charged: bigint;
  balance_after: bigint;
  rate_after: bigint;
  /** The deposit's key, "" or, for a depletion, undefined (the event id the node picks). */
  reference: string | undefined;
}

export interface ModelAccount {
  balance: bigint;
  rate: bigint;
  updated_at_ms: number;
  deadline_ms: number | undefined;
  status: "active" | "depleted";
  seq: number;
  ledger: ModelEntry[];
}

/** ceil(balance * 1000 / rate) ms after `at_ms`; undefined when the rate is 0 or the horizon is passed. */
export function depletesAt(balance: bigint, rate: bigint, at_ms: number): number | undefined {
  if (rate === 0n) return undefined;
  if (balance === 0n) return at_ms;
  const needed = balance * MS_PER_S;
  const rounded = (2n * needed + rate) / (2n * rate); // round half up, as decimal.round(x, 0) does
  if (rounded > DEADLINE_HORIZON_MS) return undefined;
  const ceil = (needed + rate - 1n) / rate;
  return at_ms + Number(ceil);
}

export function balanceAt(account: ModelAccount, at_ms: number): bigint {
  if (at_ms <= account.updated_at_ms || account.rate === 0n) return account.balance;
  const consumed = (account.rate * BigInt(at_ms - account.updated_at_ms)) / MS_PER_S;
  return consumed < account.balance ? account.balance - consumed : 0n;
}

function integerDigits(value: bigint): number {
  return unscaled(value).split(".")[0]!.replace(/^0$/, "").length;
}

export class Model {
  readonly accounts: ModelAccount[];
  /** Each depletion episode: the account and its zero instant, in the order they happened. */
  readonly episodes: Array<{ account: number; at_ms: number }> = [];
  /** idempotency key → [fingerprint, the first result]. */
  readonly keys = new Map<string, { fingerprint: string; result: Record<string, unknown> }>();

  constructor(count: number, created_at_ms: number) {
    this.accounts = Array.from({ length: count }, () => ({
      balance: 0n, rate: 0n, updated_at_ms: created_at_ms, deadline_ms: undefined, status: "active" as const, seq: 0, ledger: [],
    }));
  }

  private append(account: ModelAccount, entry: Omit<ModelEntry, "seq">): void {
    account.seq += 1;
    account.ledger.push({ ...entry, seq: account.seq });
  }

  /** The scheduler's (or a settle's) depletion at the zero instant. */
  private deplete(index: number): void {
    const account = this.accounts[index]!;
    const at_ms = account.deadline_ms!;
    this.append(account, { at_ms, kind: "depleted", amount: 0n, charged: account.balance, balance_after: 0n, rate_after: account.rate, reference: undefined });
    this.episodes.push({ account: index, at_ms });
    Object.assign(account, { balance: 0n, updated_at_ms: at_ms, deadline_ms: undefined, status: "depleted" });
  }

  /** Brings an account to `at_ms`: a passed deadline is processed first. Returns [settled, charged]. */
  private settle(index: number, at_ms: number): [bigint, bigint] {
    const account = this.accounts[index]!;
    if (account.deadline_ms !== undefined && account.deadline_ms <= at_ms) this.deplete(index);
    const settled = balanceAt(account, at_ms);
    return [settled, account.balance - settled];
  }

  deposit(index: number, amount: bigint, key: string | undefined, at_ms: number): "applied" | "too_much" {
    const account = this.accounts[index]!;
    const [settled, charged] = this.settle(index, at_ms);
    const balance = settled + amount;
    if (integerDigits(balance) > BALANCE_DIGITS_MAX) return "too_much";
    this.append(account, { at_ms, kind: "deposit", amount, charged, balance_after: balance, rate_after: account.rate, reference: key ?? "" });
    Object.assign(account, { balance, updated_at_ms: at_ms, status: "active", deadline_ms: depletesAt(balance, account.rate, at_ms) });
    return "applied";
  }

  setRate(index: number, rate: bigint, at_ms: number): void {
    const account = this.accounts[index]!;
    const [settled, charged] = this.settle(index, at_ms);
    this.append(account, { at_ms, kind: "rate", amount: 0n, charged, balance_after: settled, rate_after: rate, reference: "" });
    const deadline_ms = account.status === "depleted" ? undefined : depletesAt(settled, rate, at_ms);
    Object.assign(account, { balance: settled, rate, updated_at_ms: at_ms, deadline_ms });
  }

  /** The fields of the account view that do not depend on whether the scheduler has run yet. */
  view(index: number, at_ms: number): { balance: string; rate_per_s: string; status: string; depletes_at_ms: number | undefined } {
    const account = this.accounts[index]!;
    const due = account.deadline_ms !== undefined && account.deadline_ms <= at_ms;
    return {
      balance: unscaled(balanceAt(account, at_ms)),
      rate_per_s: unscaled(account.rate),
      status: due ? "depleted" : account.status,
      depletes_at_ms: due ? undefined : account.deadline_ms,
    };
  }
}

// ---------------------------------------------------------------- histories

export type Command =
  | { kind: "deposit"; account: number; amount: string; key: number | null }
  | { kind: "rate"; account: number; rate: string }
  | { kind: "get"; account: number }
  | { kind: "advance"; ms: number }
  | { kind: "pause"; ms: number };

export interface History {
  accounts: number;
  commands: Command[];
}

/** A decimal string with up to 6 fractional digits, sometimes with trailing zeros (the storage trims them). */
function decimalText(wholeMax: number, allowZero: boolean): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 0, max: wholeMax }), fc.integer({ min: 0, max: 6 }), fc.nat(999_999), fc.integer({ min: 0, max: 2 }))
    .map(([whole, digits, fraction, padding]) => {
      if (digits === 0) return String(whole);
      const text = `${whole}.${String(fraction % 10 ** digits).padStart(digits, "0")}${"0".repeat(digits + padding > 6 ? 0 : padding)}`;
      return text;
    })
    .filter((text) => allowZero || !/^0(\.0*)?$/.test(text));
}

const amountArb = fc.oneof(
  { weight: 8, arbitrary: decimalText(100, false) },
  { weight: 2, arbitrary: decimalText(0, false) },
  { weight: 1, arbitrary: decimalText(999_999_999_999, false) },
);
const rateArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant("0") },
  { weight: 6, arbitrary: decimalText(20, true) },
  { weight: 2, arbitrary: decimalText(0, true) },
  { weight: 1, arbitrary: decimalText(5000, true) },
);

export function historyArb(maxCommands: number): fc.Arbitrary<History> {
  return fc.integer({ min: 1, max: 3 }).chain((accounts) => {
    const account = fc.integer({ min: 0, max: accounts - 1 });
    const command: fc.Arbitrary<Command> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("deposit" as const), account, amount: amountArb, key: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("rate" as const), account, rate: rateArb }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("get" as const), account }) },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant("advance" as const),
          ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 3_600_000 })),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("pause" as const), ms: fc.integer({ min: 0, max: 30 }) }) },
    );
    return fc.record({ accounts: fc.constant(accounts), commands: fc.array(command, { minLength: 1, maxLength: maxCommands, size: "medium" }) });
  });
}

/** What a history needs from the node under test. */
export interface ModelTarget {
  /** A service procedure: [result, error] as the storage returned them. */
  call(procedure: string, request: Record<string, unknown>): Promise<[any, any]>;
  /** A test hook as the admin user. */
  hook(procedure: string, request: Record<string, unknown>): Promise<unknown>;
  receiver: PoweroffReceiver;
}

export interface HistoryFigures {
  steps: number;
  /** set_rate answers that already showed a depletion the scheduler made while the commit yielded. */
  episodes: number;
  clock_advanced_ms: number;
}

function expectView(actual: Record<string, unknown>, expected: ReturnType<Model["view"]>, what: string): void {
  assert.equal(actual["balance"], expected.balance, `${what}: balance`);
  assert.equal(actual["rate_per_s"], expected.rate_per_s, `${what}: rate`);
  assert.equal(actual["status"], expected.status, `${what}: status`);
  assert.equal(actual["depletes_at_ms"], expected.depletes_at_ms, `${what}: depletes_at_ms`);
}

function ok(reply: [any, any], what: string): Record<string, unknown> {
  assert.equal(reply[1], null, `${what} failed: ${JSON.stringify(reply[1])}`);
  return reply[0] as Record<string, unknown>;
}

/** Runs one history on a fresh customer; throws (an assertion) at the first difference from the model. */
export async function runHistory(target: ModelTarget, customer_id: number, history: History): Promise<HistoryFigures> {
  const accounts = Array.from({ length: history.accounts }, (_, i) => ({ account_id: i + 1, name: `m${i + 1}` }));
  const created = ok(await target.call("billing_create_customer", { customer_id, name: `model${customer_id}`, accounts }), "create");
  let last_ms = created["created_at_ms"] as number;
  const model = new Model(history.accounts, last_ms);
  const instant = (at_ms: number, what: string): number => {
    assert.ok(at_ms >= last_ms, `${what}: the node's clock went back from ${last_ms} to ${at_ms}`);
    last_ms = at_ms;
    return at_ms;
  };
  let advanced = 0;
  let step = 0;
  for (const command of history.commands) {
    step += 1;
    const what = `step ${step} ${JSON.stringify(command)}`;
    if (command.kind === "deposit") {
      const key = command.key === null ? undefined : `k${command.key}`;
      const request: Record<string, unknown> = { customer_id, account_id: command.account + 1, amount: command.amount };
      if (key !== undefined) request["idempotency_key"] = key;
      const fingerprint = `${command.account}:${unscaled(scaled(command.amount))}`;
      const known = key === undefined ? undefined : model.keys.get(key);
      const [result, error] = await target.call("billing_deposit", request);
      if (known !== undefined) {
        if (known.fingerprint !== fingerprint) {
          assert.equal(error?.name, "IDEMPOTENCY_KEY_REUSED", `${what}: key reused for another deposit`);
          continue;
        }
        assert.equal(error, null, `${what}: replay failed: ${JSON.stringify(error)}`);
        assert.deepEqual(result, { ...known.result, replayed: true }, `${what}: a replay answers the first result`);
        continue;
      }
      const answer = ok([result, error], what);
      const at_ms = instant(answer["updated_at_ms"] as number, what);
      assert.equal(model.deposit(command.account, scaled(command.amount), key, at_ms), "applied", `${what}: the model refuses the balance`);
      expectView(answer, model.view(command.account, at_ms), what);
      assert.equal(answer["ledger_seq"], model.accounts[command.account]!.seq, `${what}: ledger_seq`);
      assert.equal(answer["replayed"], false, `${what}: replayed`);
      if (key !== undefined) model.keys.set(key, { fingerprint, result: answer });
    } else if (command.kind === "rate") {
      const answer = ok(await target.call("billing_set_rate", { customer_id, account_id: command.account + 1, rate_per_s: command.rate }), what);
      const at_ms = instant(answer["updated_at_ms"] as number, what);
      model.setRate(command.account, scaled(command.rate), at_ms);
      const view = model.view(command.account, at_ms);
      const seq = model.accounts[command.account]!.seq;
      // The answer is built inside the transaction, so it is exactly the model's view at that instant.
      expectView(answer, view, what);
      assert.equal(answer["ledger_seq"], seq, `${what}: ledger_seq`);
    } else if (command.kind === "get") {
      const answer = ok(await target.call("billing_get_account", { customer_id, account_id: command.account + 1 }), what);
      const at_ms = instant(answer["as_of_ms"] as number, what);
      expectView(answer, model.view(command.account, at_ms), what);
    } else if (command.kind === "advance") {
      const now_ms = (await target.hook("billing_test_advance_clock", { ms: command.ms })) as number;
      advanced += command.ms;
      instant(now_ms, what);
    } else {
      await new Promise((resolve) => setTimeout(resolve, command.ms));
    }
  }
  // Stop consumption everywhere, so nothing more runs out while the ledgers are compared.
  for (let i = 0; i < history.accounts; i++) {
    const answer = ok(await target.call("billing_set_rate", { customer_id, account_id: i + 1, rate_per_s: "0" }), "final rate 0");
    model.setRate(i, 0n, instant(answer["updated_at_ms"] as number, "final rate 0"));
  }
  await checkLedgersAndDeliveries(target, customer_id, model);
  return { steps: history.commands.length, episodes: model.episodes.length, clock_advanced_ms: advanced };
}

function entryText(entry: ModelEntry): Record<string, unknown> {
  return {
    seq: entry.seq, at_ms: entry.at_ms, kind: entry.kind, amount: unscaled(entry.amount), charged: unscaled(entry.charged),
    balance_after: unscaled(entry.balance_after), rate_after: unscaled(entry.rate_after),
  };
}

async function checkLedgersAndDeliveries(target: ModelTarget, customer_id: number, model: Model): Promise<void> {
  const eventsOf = new Map<string, { account_id: number; at_ms: number }>();
  for (let i = 0; i < model.accounts.length; i++) {
    const account_id = i + 1;
    const actual: LedgerEntry[] = await pagedLedger(async (after_seq) =>
      ok(await target.call("billing_ledger", { customer_id, account_id, after_seq, limit: 1000 }), "ledger") as never);
    const expected = model.accounts[i]!.ledger;
    assert.equal(actual.length, expected.length, `account ${account_id}: ledger length (${JSON.stringify(actual.map((e) => e.kind))})`);
    for (let k = 0; k < expected.length; k++) {
      const { reference, ...fields } = actual[k]!;
      assert.deepEqual(fields, entryText(expected[k]!), `account ${account_id}: ledger entry ${k + 1}`);
      if (expected[k]!.kind === "depleted") {
        assert.match(reference, /^[0-9a-f-]{36}$/, `account ${account_id}: a depletion's reference is its event id`);
        eventsOf.set(reference, { account_id, at_ms: expected[k]!.at_ms });
      } else {
        assert.equal(reference, expected[k]!.reference, `account ${account_id}: ledger entry ${k + 1} reference`);
      }
    }
  }
  assert.equal(eventsOf.size, model.episodes.length, "one event id per depletion episode");
  const mine = (): Delivery[] => target.receiver.deliveries.filter((d) => d.user_id === String(customer_id));
  await waitUntil(`customer ${customer_id}: every depletion notified`, 10_000,
    () => ([...eventsOf.keys()].every((id) => mine().some((d) => d.event_id === id)) ? true : undefined));
  for (const delivery of mine()) {
    const event = eventsOf.get(delivery.event_id ?? "");
    assert.ok(event !== undefined, `a notification for a depletion the ledger does not hold: ${delivery.event_id}`);
    assert.equal(delivery.account_id, String(event.account_id));
    assert.equal(delivery.occurred_at_ms, event.at_ms, "notified zero instant");
    assert.equal(delivery.signature_valid, true);
    const sent_ms = Number(delivery.headers["x-billing-timestamp"]);
    assert.ok(sent_ms >= event.at_ms, `notified at ${sent_ms} (node clock), ${event.at_ms - sent_ms} ms before the zero instant`);
  }
}
