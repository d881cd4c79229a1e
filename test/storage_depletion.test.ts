/**
 * Real-time depletion on a real node with a real HTTP receiver: fires once per
 * episode, never before the zero instant, for the right customer and account;
 * deadlines move both ways; rate 0 never fires; nothing is lost across a
 * SIGKILL or a receiver outage.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startSingleNode, type SingleNode } from "./support/single-node.ts";
import type { Delivery } from "../src/receiver/receiver.ts";

let f: SingleNode;
let nextCustomer = 1000;

before(async () => {
  f = await startSingleNode();
});
after(async () => {
  await f?.close();
});

/** A fresh customer with one account holding `amount`; returns its ids. */
async function funded(amount: string): Promise<{ customer_id: number; account_id: number }> {
  const customer_id = nextCustomer++;
  const [, error] = await f.call("billing_create_customer", { customer_id, name: `c${customer_id}`, accounts: [{ account_id: 1, name: "main" }] });
  assert.equal(error, null);
  const [, depositError] = await f.call("billing_deposit", { customer_id, account_id: 1, amount });
  assert.equal(depositError, null);
  return { customer_id, account_id: 1 };
}

async function setRate(ids: { customer_id: number; account_id: number }, rate_per_s: string): Promise<any> {
  const [account, error] = await f.call("billing_set_rate", { ...ids, rate_per_s });
  assert.equal(error, null, JSON.stringify(error));
  return account;
}

function deliveriesFor(customer_id: number): Delivery[] {
  return f.receiver.deliveries.filter((d) => d.user_id === String(customer_id));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("depletion", () => {
  it("notifies once, for the right customer and account, never before the zero instant", async () => {
    const ids = await funded("1");
    const account = await setRate(ids, "5"); // zero instant: 200 ms after the rate change
    const zero_ms = account.updated_at_ms + 200;
    assert.equal(account.depletes_at_ms, zero_ms);
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 1, 5000);
    await sleep(300);
    const got = deliveriesFor(ids.customer_id);
    assert.equal(got.length, 1, "exactly one notification for one episode");
    const delivery = got[0]!;
    assert.equal(delivery.account_id, "1");
    assert.equal(delivery.kind, "depleted");
    assert.equal(delivery.occurred_at_ms, zero_ms);
    assert.equal(delivery.signature_valid, true);
    assert.match(delivery.event_id ?? "", /^[0-9a-f-]{36}$/);
    assert.ok(delivery.received_at_ms >= zero_ms, `delivered ${zero_ms - delivery.received_at_ms} ms before the zero instant`);
    const [after] = await f.call("billing_get_account", ids);
    assert.equal(after.balance, "0");
    assert.equal(after.status, "depleted");
    const [ledger] = await f.call("billing_ledger", { ...ids });
    const last = ledger.entries.at(-1);
    assert.deepEqual([last.kind, last.charged, last.balance_after, last.at_ms], ["depleted", "1", "0", zero_ms]);
  });

  it("moves the deadline later on a deposit or a lower rate, and earlier on a higher rate", async () => {
    const ids = await funded("10");
    const slow = await setRate(ids, "1");
    assert.equal(slow.depletes_at_ms, slow.updated_at_ms + 10_000);
    const [more] = await f.call("billing_deposit", { ...ids, amount: "10" });
    assert.ok(more.depletes_at_ms > slow.depletes_at_ms, "a deposit moves the deadline later");
    const fast = await setRate(ids, "100");
    assert.ok(fast.depletes_at_ms < more.depletes_at_ms, "a higher rate moves it earlier");
    const expected_zero = fast.updated_at_ms + Math.ceil((Number(fast.balance) * 1000) / 100);
    assert.equal(fast.depletes_at_ms, expected_zero);
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 1, 5000);
    const delivery = deliveriesFor(ids.customer_id)[0]!;
    assert.equal(delivery.occurred_at_ms, expected_zero);
    assert.ok(delivery.received_at_ms >= expected_zero);
  });

  it("never fires at rate 0", async () => {
    const ids = await funded("0.001");
    const running = await setRate(ids, "0.01"); // would deplete in 100 ms
    const stopped = await setRate(ids, "0");
    assert.equal(stopped.depletes_at_ms, undefined);
    await sleep(400);
    assert.equal(deliveriesFor(ids.customer_id).length, 0);
    const [account] = await f.call("billing_get_account", ids);
    assert.equal(account.status, "active");
    assert.equal(account.balance, stopped.balance);
    assert.ok(Number(running.balance) >= Number(stopped.balance));
  });

  it("notifies every episode: a deposit revives a depleted account, which can run out again", async () => {
    const ids = await funded("0.5");
    await setRate(ids, "10");
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 1, 5000);
    const [revived] = await f.call("billing_deposit", { ...ids, amount: "1" });
    assert.equal(revived.status, "active");
    assert.equal(revived.balance, "1");
    assert.equal(revived.depletes_at_ms, revived.updated_at_ms + 100);
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 2, 5000);
    await sleep(200);
    const got = deliveriesFor(ids.customer_id);
    assert.equal(got.length, 2);
    assert.deepEqual(got.map((d) => d.kind), ["depleted", "depleted"], "no 'resumed' GET unless resumed_url is configured");
    assert.notEqual(got[0]!.event_id, got[1]!.event_id);
  });

  it("a rate set on an empty account fires at once", async () => {
    const customer_id = nextCustomer++;
    await f.call("billing_create_customer", { customer_id, name: "empty", accounts: [{ account_id: 1, name: "a" }] });
    const account = await setRate({ customer_id, account_id: 1 }, "1");
    assert.equal(account.status, "depleted", "no money and a positive rate: out of money now");
    assert.equal(account.depletes_at_ms, undefined);
    await f.receiver.waitFor(() => deliveriesFor(customer_id).length >= 1, 5000);
  });
});

describe("nothing is lost", () => {
  it("delivers after the receiver, stopped outright, starts again", async () => {
    await f.receiver.stop();
    const ids = await funded("0.1");
    await setRate(ids, "10");
    await sleep(400);
    const [pending] = await f.call("billing_pending_notifications", { limit: 100 });
    const row = pending.notifications.find((n: any) => n.customer_id === ids.customer_id);
    assert.ok(row && row.attempts >= 1, "the notification waits in the outbox after failed attempts");
    await f.receiver.start();
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 1, 5000);
  });

  it("delivers after the receiver answers 503 for a while", async () => {
    f.receiver.status = 503;
    const ids = await funded("0.1");
    await setRate(ids, "10");
    await sleep(400);
    assert.equal(deliveriesFor(ids.customer_id).length, 0);
    const [pending] = await f.call("billing_pending_notifications", { limit: 100 });
    const row = pending.notifications.find((n: any) => n.customer_id === ids.customer_id);
    assert.ok(row, "the notification waits in the outbox");
    assert.ok(row.attempts >= 1);
    assert.match(row.last_error, /HTTP 503/);
    f.receiver.status = 200;
    await f.receiver.waitFor(() => deliveriesFor(ids.customer_id).length >= 1, 5000);
    const [drained] = await f.call("billing_pending_notifications", {});
    assert.equal(drained.notifications.some((n: any) => n.customer_id === ids.customer_id), false);
  });

  it("survives SIGKILL with deadlines pending and rows in the outbox", async () => {
    f.receiver.status = 503;
    const dueNow = [];
    for (let i = 0; i < 20; i++) dueNow.push(await funded("0.01"));
    for (const ids of dueNow) await setRate(ids, "1"); // due within 10 ms: outbox rows, undelivered
    const dueLater = [];
    for (let i = 0; i < 20; i++) dueLater.push(await funded("1.5"));
    for (const ids of dueLater) await setRate(ids, "1"); // due 1.5 s from now, after the restart begins
    await sleep(300);
    const [pending] = await f.call("billing_pending_notifications", { limit: 1000 });
    assert.ok(pending.total >= dueNow.length, `outbox holds ${pending.total}`);
    await f.restart(true);
    f.receiver.status = 200;
    const all = [...dueNow, ...dueLater].map((ids) => String(ids.customer_id));
    await f.receiver.waitFor((ds) => all.every((id) => ds.some((d) => d.user_id === id)), 15_000);
    for (const ids of [...dueNow, ...dueLater]) {
      const [account] = await f.call("billing_get_account", ids);
      assert.equal(account.status, "depleted");
      assert.equal(account.balance, "0");
      const [ledger] = await f.call("billing_ledger", ids);
      assert.equal(ledger.entries.filter((e: any) => e.kind === "depleted").length, 1, "one depletion per episode");
    }
  });
});
