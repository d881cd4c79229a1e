/**
 * Every stored procedure on a real single storage node, including each bad
 * input: the error code comes back as a value and nothing changes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { IprotoClient, IprotoServerError } from "../src/iproto/index.ts";
import { startSingleNode, SERVICE, toScaled, type SingleNode } from "./support/single-node.ts";

let f: SingleNode;

before(async () => {
  f = await startSingleNode();
});
after(async () => {
  await f?.close();
});

/** A snapshot of everything a failed call must leave untouched. */
async function snapshot(customer_id: number): Promise<string> {
  const [customer] = await f.call("billing_get_customer", { customer_id });
  const accounts = (customer?.accounts ?? []).map((a: any) => ({ ...a, as_of_ms: 0 }));
  const ledgers = [];
  for (const account of accounts) {
    const [page] = await f.call("billing_ledger", { customer_id, account_id: account.account_id, limit: 1000 });
    ledgers.push(page);
  }
  return JSON.stringify({ customer: customer && { ...customer, accounts }, ledgers });
}

async function expectError(fn: string, request: Record<string, unknown>, name: string, customer_id = 18): Promise<any> {
  const before = await snapshot(customer_id);
  const [result, error] = await f.call(fn, request);
  assert.equal(result, null, `${fn} ${JSON.stringify(request)} should fail`);
  assert.equal(error?.name, name, `${fn} ${JSON.stringify(request)}: got ${JSON.stringify(error)}`);
  assert.equal(typeof error.code, "number");
  assert.equal(typeof error.message, "string");
  assert.doesNotMatch(error.message, /stack traceback|\.lua:\d+/);
  assert.equal(await snapshot(customer_id), before, "state changed after a refused call");
  return error;
}

describe("customers and accounts", () => {
  it("creates a customer with its accounts from the seed's payload", async () => {
    const [customer, error] = await f.call("billing_create_customer", {
      customer_id: 18, name: "Victor", accounts: [{ account_id: 22, name: "Victor" }],
    });
    assert.equal(error, null);
    assert.equal(customer.customer_id, 18);
    assert.equal(customer.name, "Victor");
    assert.equal(customer.accounts.length, 1);
    assert.deepEqual(
      { ...customer.accounts[0], as_of_ms: 0, updated_at_ms: 0 },
      { customer_id: 18, account_id: 22, name: "Victor", balance: "0", rate_per_s: "0", status: "active", ledger_seq: 0, as_of_ms: 0, updated_at_ms: 0 },
    );
  });

  it("refuses a duplicate customer and leaves it as it was", async () => {
    await expectError("billing_create_customer", { customer_id: 18, name: "Other", accounts: [] }, "CUSTOMER_EXISTS");
  });

  it("refuses malformed customers", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ customer_id: 0, name: "x" }, "INVALID_ARGUMENT"],
      [{ customer_id: -1, name: "x" }, "INVALID_ARGUMENT"],
      [{ customer_id: 1.5, name: "x" }, "INVALID_ARGUMENT"],
      [{ customer_id: "19", name: "x" }, "INVALID_ARGUMENT"],
      [{ customer_id: 2 ** 53, name: "x" }, "INVALID_ARGUMENT"],
      [{ customer_id: 19 }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "" }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x".repeat(257) }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x", extra: 1 }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x", accounts: [{ account_id: 1, name: "a" }, { account_id: 1, name: "b" }] }, "ACCOUNT_EXISTS"],
      [{ customer_id: 19, name: "x", accounts: [{ account_id: 0, name: "a" }] }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x", accounts: [{ account_id: 1 }] }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x", accounts: [{ account_id: 1, name: "a", balance: "5" }] }, "INVALID_ARGUMENT"],
      [{ customer_id: 19, name: "x", accounts: Array.from({ length: 101 }, (_, i) => ({ account_id: i + 1, name: "a" })) }, "TOO_MANY_ACCOUNTS"],
    ];
    for (const [request, name] of cases) await expectError("billing_create_customer", request, name, 19);
    const [, error] = await f.call("billing_get_customer", { customer_id: 19 });
    assert.equal(error.name, "CUSTOMER_NOT_FOUND");
  });

  it("adds an account, and refuses duplicates and unknown customers", async () => {
    const [account, error] = await f.call("billing_add_account", { customer_id: 18, account_id: 23, name: "Second" });
    assert.equal(error, null);
    assert.equal(account.account_id, 23);
    assert.equal(account.balance, "0");
    await expectError("billing_add_account", { customer_id: 18, account_id: 23, name: "Again" }, "ACCOUNT_EXISTS");
    await expectError("billing_add_account", { customer_id: 404, account_id: 1, name: "x" }, "CUSTOMER_NOT_FOUND", 404);
    await expectError("billing_add_account", { customer_id: 18, account_id: 24 }, "INVALID_ARGUMENT");
  });
});

describe("deposit", () => {
  it("adds money and returns the settled account", async () => {
    const [account, error] = await f.call("billing_deposit", { customer_id: 18, account_id: 22, amount: "18" });
    assert.equal(error, null);
    assert.equal(account.balance, "18");
    assert.equal(account.status, "active");
    assert.equal(account.replayed, false);
  });

  it("returns the first result for a retried idempotency key and never adds twice", async () => {
    const request = { customer_id: 18, account_id: 22, amount: "2.5", idempotency_key: "order-1" };
    const [first] = await f.call("billing_deposit", request);
    const [second] = await f.call("billing_deposit", request);
    assert.equal(first.balance, "20.5");
    assert.equal(second.balance, "20.5");
    assert.equal(second.replayed, true);
    assert.equal(second.ledger_seq, first.ledger_seq);
    const [account] = await f.call("billing_get_account", { customer_id: 18, account_id: 22 });
    assert.equal(account.balance, "20.5");
    await expectError("billing_deposit", { ...request, amount: "3" }, "IDEMPOTENCY_KEY_REUSED");
    await expectError("billing_deposit", { ...request, account_id: 23 }, "IDEMPOTENCY_KEY_REUSED");
  });

  it("refuses every malformed amount and changes nothing", async () => {
    const base = { customer_id: 18, account_id: 22 };
    const cases: Array<[unknown, string]> = [
      ["0", "AMOUNT_NOT_POSITIVE"], ["0.000", "AMOUNT_NOT_POSITIVE"], ["-1", "INVALID_AMOUNT"], ["1e5", "INVALID_AMOUNT"],
      ["1E+5", "INVALID_AMOUNT"], ["NaN", "INVALID_AMOUNT"], ["Infinity", "INVALID_AMOUNT"], [" 1", "INVALID_AMOUNT"],
      ["1 ", "INVALID_AMOUNT"], ["01", "INVALID_AMOUNT"], [".5", "INVALID_AMOUNT"], ["5.", "INVALID_AMOUNT"],
      ["+5", "INVALID_AMOUNT"], ["0x10", "INVALID_AMOUNT"], ["", "INVALID_AMOUNT"], [18, "INVALID_AMOUNT"],
      [1.5, "INVALID_AMOUNT"], [null, "INVALID_AMOUNT"], [["1"], "INVALID_AMOUNT"], ["1.0000001", "AMOUNT_SCALE_EXCEEDED"],
      ["1000000000000000", "AMOUNT_OUT_OF_RANGE"], ["9".repeat(65), "INVALID_AMOUNT"], ["1,5", "INVALID_AMOUNT"],
    ];
    for (const [amount, name] of cases) await expectError("billing_deposit", { ...base, amount }, name);
    await expectError("billing_deposit", { ...base, amount: "1", idempotency_key: "" }, "INVALID_ARGUMENT");
    await expectError("billing_deposit", { ...base, amount: "1", idempotency_key: "k".repeat(129) }, "INVALID_ARGUMENT");
    await expectError("billing_deposit", { ...base, amount: "1", idempotencykey: "typo" }, "INVALID_ARGUMENT");
    await expectError("billing_deposit", { customer_id: 18, account_id: 99, amount: "1" }, "ACCOUNT_NOT_FOUND");
    await expectError("billing_deposit", { customer_id: 404, account_id: 22, amount: "1" }, "CUSTOMER_NOT_FOUND", 404);
  });

  it("accepts the largest amount and trailing zeros, refuses a balance past the maximum", async () => {
    const [, created] = await f.call("billing_create_customer", { customer_id: 77, name: "Big", accounts: [{ account_id: 1, name: "a" }] });
    assert.equal(created, null);
    const max = "999999999999999.999999";
    let balance = 0n;
    let refused = false;
    for (let i = 0; i < 1002 && !refused; i++) {
      const [account, error] = await f.call("billing_deposit", { customer_id: 77, account_id: 1, amount: max });
      if (error !== null) {
        assert.equal(error.name, "BALANCE_LIMIT_EXCEEDED");
        refused = true;
      } else {
        balance += toScaled(max, 6);
        assert.equal(toScaled(account.balance, 6), balance);
      }
    }
    assert.ok(refused, "a balance past 10^18 was refused");
    assert.ok(balance > 10n ** 23n, "the balance grew past 10^17 before the limit");
    const [trailing] = await f.call("billing_deposit", { customer_id: 18, account_id: 23, amount: "1.50000000" });
    assert.equal(trailing.balance, "1.5");
  });
});

describe("rate", () => {
  it("sets and stops consumption", async () => {
    const [account, error] = await f.call("billing_set_rate", { customer_id: 18, account_id: 23, rate_per_s: "0.000001" });
    assert.equal(error, null);
    assert.equal(account.rate_per_s, "0.000001");
    assert.ok(account.depletes_at_ms > account.updated_at_ms + 1_000_000_000);
    const [stopped] = await f.call("billing_set_rate", { customer_id: 18, account_id: 23, rate_per_s: "0" });
    assert.equal(stopped.rate_per_s, "0");
    assert.equal(stopped.depletes_at_ms, undefined);
  });

  it("refuses every malformed rate and changes nothing", async () => {
    const base = { customer_id: 18, account_id: 23 };
    const cases: Array<[unknown, string]> = [
      ["-1", "RATE_NEGATIVE"], ["-0.5", "RATE_NEGATIVE"], ["abc", "INVALID_RATE"], ["1e3", "INVALID_RATE"], [5, "INVALID_RATE"],
      [null, "INVALID_RATE"], ["0.0000001", "AMOUNT_SCALE_EXCEEDED"], ["1000000000", "AMOUNT_OUT_OF_RANGE"],
    ];
    for (const [rate_per_s, name] of cases) await expectError("billing_set_rate", { ...base, rate_per_s }, name);
    await expectError("billing_set_rate", { ...base, consumption: "1" }, "INVALID_ARGUMENT");
    await expectError("billing_set_rate", { customer_id: 18, account_id: 99, rate_per_s: "1" }, "ACCOUNT_NOT_FOUND");
  });
});

describe("reads", () => {
  it("pages through the ledger", async () => {
    for (let i = 0; i < 25; i++) await f.call("billing_deposit", { customer_id: 18, account_id: 22, amount: "0.01" });
    const seen: number[] = [];
    let after_seq = 0;
    for (let page = 0; page < 100; page++) {
      const [result, error] = await f.call("billing_ledger", { customer_id: 18, account_id: 22, after_seq, limit: 10 });
      assert.equal(error, null);
      seen.push(...result.entries.map((e: any) => e.seq));
      if (!result.has_more) break;
      after_seq = result.next_after_seq;
    }
    assert.deepEqual(seen, Array.from({ length: seen.length }, (_, i) => i + 1));
    assert.equal(seen.length, 27);
    await expectError("billing_ledger", { customer_id: 18, account_id: 22, limit: 0 }, "INVALID_ARGUMENT");
    await expectError("billing_ledger", { customer_id: 18, account_id: 22, limit: 1001 }, "INVALID_ARGUMENT");
    await expectError("billing_ledger", { customer_id: 18, account_id: 22, after_seq: -1 }, "INVALID_ARGUMENT");
  });

  it("reads a customer with every account", async () => {
    const [customer] = await f.call("billing_get_customer", { customer_id: 18 });
    assert.deepEqual(customer.accounts.map((a: any) => a.account_id).sort(), [22, 23]);
  });
});

describe("access", () => {
  it("gives guest nothing and the service user only the published procedures", async () => {
    const guest = new IprotoClient({ host: "127.0.0.1", port: f.node.port, reconnect: false });
    await guest.connect();
    try {
      await assert.rejects(guest.call("billing_get_customer", [{ customer_id: 18 }]), (e: unknown) => e instanceof IprotoServerError && /denied/.test(e.message));
    } finally {
      await guest.close();
    }
    await assert.rejects(f.client.eval("return box.space.accounts:len()", []), /denied/);
    await assert.rejects(f.client.call("billing_promote", []), /denied/);
    await assert.rejects(f.client.call("box.space.accounts:truncate", []), /denied/);
    const wrong = new IprotoClient({ host: "127.0.0.1", port: f.node.port, user: SERVICE.name, password: "wrong", reconnect: false });
    await assert.rejects(wrong.connect(), /password|auth|Incorrect/i);
    await wrong.close();
  });
});
