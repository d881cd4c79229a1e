/**
 * Fault-injection and inspection points for the reliability, security and
 * model tests (vshard's habit: failures made on purpose). Published only with
 * `test_hooks: true`, to the admin user, like the other test hooks; never in
 * a real deployment.
 *
 * A fault wraps a published procedure (a Lua global that box.func calls by
 * name) or runs beside the node's fibers: the procedures themselves stay as
 * they are, so a test that passes with no fault set measures the real code,
 * and the same test with a fault set proves it can fail.
 */
import * as fiber from "fiber";
import * as digest from "digest";
import { A, C, space, type Tuple } from "./db";

type Procedure = (this: void, request: Record<string, unknown>) => LuaMultiReturn<[unknown, unknown]>;

/** Longest a checksum may walk: the hook is for test-sized data, not a production scan. */
const CHECKSUM_ROWS_MAX = 2_000_000;
/** How often the outbox-dropping fault looks for rows to drop. */
const DROP_PERIOD_S = 0.005;

const state = {
  /** The published procedures as they were before a fault wrapped them. */
  originals: new LuaTable<string, Procedure>(),
  dropper: undefined as unknown,
  dropped_total: 0,
};

const FAULTS = ["deposit_forget_key", "outbox_drop_failed"] as const;
type FaultName = (typeof FAULTS)[number];

function globals(): Record<string, unknown> {
  return _G as unknown as Record<string, unknown>;
}

/** Replaces a published procedure with `wrap(original)`; a second wrap of the same name is refused. */
function wrapProcedure(name: string, wrap: (this: void, original: Procedure) => Procedure): void {
  if (state.originals.get(name) !== undefined) return;
  const original = globals()[name] as Procedure | undefined;
  if (original === undefined) error(`no published procedure ${name}`);
  state.originals.set(name, original);
  globals()[name] = wrap(original);
}

function unwrapProcedure(name: string): void {
  const original = state.originals.get(name);
  if (original === undefined) return;
  globals()[name] = original;
  state.originals.delete(name);
}

/**
 * A notifier that "gives up": every outbox row that failed once is deleted,
 * so the notification is lost. A receiver-outage test must catch this.
 */
function dropFailedRows(): void {
  for (;;) {
    fiber.sleep(DROP_PERIOD_S);
    fiber.testcancel();
    if (box.info.ro) continue;
    const outbox = space("outbox");
    const doomed: unknown[] = [];
    for (const [, row] of outbox.index["primary"]!.pairs()) {
      if ((row[7] as number) >= 1) doomed.push(row[0]);
      if (doomed.length >= 1000) break;
    }
    for (const event_id of doomed) outbox.delete(event_id);
    state.dropped_total += doomed.length;
  }
}

function setFault(name: FaultName, enabled: boolean): void {
  if (name === "deposit_forget_key") {
    // The bug this stands for: a deposit that no longer finds its idempotency key, so a retry adds money again.
    if (enabled) {
      wrapProcedure("billing_deposit", (original) => (request) => {
        const key = (request ?? {})["idempotency_key"];
        const customer_id = (request ?? {})["customer_id"];
        if (typeof key === "string" && typeof customer_id === "number") pcall(() => space("idempotency").delete([customer_id, key]));
        return original(request);
      });
    } else {
      unwrapProcedure("billing_deposit");
    }
    return;
  }
  if (enabled && state.dropper === undefined) {
    state.dropper = fiber.create(dropFailedRows);
  } else if (!enabled && state.dropper !== undefined) {
    (state.dropper as { cancel(this: unknown): void }).cancel();
    state.dropper = undefined;
  }
}

/** `{name, enabled}`: turns one fault on or off; returns the faults now on. */
export function fault(request: Record<string, unknown>): Record<string, unknown> {
  const name = request["name"] as string;
  if (!FAULTS.includes(name as FaultName)) error(`unknown fault ${tostring(name)}`);
  setFault(name as FaultName, request["enabled"] === true);
  return faultStatus();
}

export function faultStatus(): Record<string, unknown> {
  return {
    deposit_forget_key: state.originals.get("billing_deposit") !== undefined,
    outbox_drop_failed: state.dropper !== undefined,
    outbox_dropped_total: state.dropped_total,
  };
}

function text(value: unknown): string {
  return value === undefined || value === box.NULL ? "-" : tostring(value);
}

function accountLine(account: Tuple): string {
  return [A.customer_id, A.account_id, A.balance, A.rate_per_s, A.updated_at_ms, A.depletes_at_ms, A.status, A.ledger_seq]
    .map((position) => text(account[position])).join(",");
}

/**
 * A fingerprint of every stored customer and account (balance, rate, as-of
 * instant, deadline, status, ledger length) plus each space's row count: equal
 * fingerprints mean nothing was written. Stored state, not settled to now, so
 * it does not move with the clock.
 */
export function checksum(): Record<string, unknown> {
  const lines: string[] = [];
  let rows = 0;
  for (const [, customer] of space("customers").index["primary"]!.pairs()) {
    lines.push(`c:${text(customer[C.customer_id])},${text(customer[C.name])},${text(customer[C.account_count])}`);
    rows += 1;
    if (rows > CHECKSUM_ROWS_MAX) error("too many rows for a checksum");
  }
  for (const [, account] of space("accounts").index["primary"]!.pairs()) {
    lines.push(`a:${accountLine(account)}`);
    rows += 1;
    if (rows > CHECKSUM_ROWS_MAX) error("too many rows for a checksum");
    if (rows % 10000 === 0) fiber.yield();
  }
  return {
    digest: digest.sha256_hex(lines.join("\n")),
    customers: space("customers").len(),
    accounts: space("accounts").len(),
    ledger: space("ledger").len(),
    idempotency: space("idempotency").len(),
    outbox: space("outbox").len(),
  };
}

/**
 * What the security tests compare against: every space's id, every function
 * in box.func, and the privileges of the named users (box.schema.user.info).
 */
export function securityReport(request: Record<string, unknown>): Record<string, unknown> {
  const spaces: Record<string, number> = {};
  for (const [key, value] of pairs(box.space as unknown as Record<string, { id: number }>)) {
    if (typeof key === "string") spaces[key] = value.id;
  }
  const functions: string[] = [];
  for (const [key] of pairs((box as unknown as { func: Record<string, unknown> }).func)) {
    if (typeof key === "string") functions.push(key);
  }
  const users: Record<string, unknown> = {};
  const info = (box.schema as unknown as { user: { info(this: void, name: string): unknown } }).user.info;
  for (const name of (request["users"] ?? []) as string[]) {
    const [ok, privileges] = pcall(info, name);
    users[name] = ok ? privileges : box.NULL;
  }
  return { spaces, functions, users };
}
