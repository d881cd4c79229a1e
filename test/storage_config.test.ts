/**
 * Node configuration: a bad value stops the node with a message naming the
 * field; BILLING_POWEROFF_URL and URL templates reach the receiver as told;
 * the ledger of a busy account adds up to its balance exactly.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/cluster/ports.ts";
import { StorageProcess } from "../src/cluster/storage-process.ts";
import { PoweroffReceiver } from "../src/receiver/receiver.ts";
import { verifySignature } from "../src/receiver/signature.ts";
import { ADMIN, SERVICE, startSingleNode, sumDecimals, toScaled } from "./support/single-node.ts";

async function startWith(config: Record<string, unknown>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "billing-cfg-"));
  const node = new StorageProcess({
    instance_name: "bad", listen: `127.0.0.1:${await freePort()}`, work_dir: dir, service_user: SERVICE, admin_user: ADMIN,
    ...config,
  } as never);
  try {
    await node.start({ readyTimeoutMs: 10_000 });
    await node.stop();
    return "started";
  } catch (err) {
    return String(err);
  } finally {
    await node.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("config validation", () => {
  it("stops the node with a message naming the bad field", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ poweroff: { pool_size: 0 } }, /poweroff\.pool_size must be an integer from 1 to 512/],
      [{ poweroff: { url: "ftp://x" } }, /poweroff\.url must be an http/],
      [{ poweroff: { backoff_min_ms: 500, backoff_max_ms: 100 } }, /backoff_min_ms must not exceed/],
      [{ poweroff: { urll: "http://x" } }, /unknown field poweroff\.urll/],
      [{ bucket_count: 0 }, /bucket_count must be an integer/],
      [{ colour: "blue" }, /unknown field colour/],
    ];
    for (const [config, message] of cases) assert.match(await startWith(config), message);
  });
});

describe("power-off URL", () => {
  it("takes BILLING_POWEROFF_URL and fills {user_id}, {account_id}, {event_id}", async () => {
    const receiver = new PoweroffReceiver({ secret: "s3cret" });
    await receiver.start();
    const base = receiver.url.replace(/\/poweroff$/, "");
    const f = await startSingleNode({ poweroff: { url: "http://127.0.0.1:1/never-used", secret: "s3cret" } });
    try {
      // Restart with the env var overriding the config's URL.
      await f.node.stop();
      await f.node.start({ env: { BILLING_POWEROFF_URL: `${base}/off/{user_id}/acct/{account_id}?event={event_id}` } });
      await new Promise((r) => setTimeout(r, 300));
      await f.call("billing_create_customer", { customer_id: 5, name: "t", accounts: [{ account_id: 9, name: "a" }] });
      await f.call("billing_set_rate", { customer_id: 5, account_id: 9, rate_per_s: "1" });
      await receiver.waitFor((ds) => ds.length >= 1, 5000);
      const delivery = receiver.deliveries[0]!;
      assert.equal(delivery.path, `/off/5/acct/9?event=${delivery.event_id}`);
      assert.equal(delivery.signature_valid, true);
      const tampered = { ...delivery.headers, "x-billing-user-id": "6" };
      assert.equal(verifySignature(tampered, "s3cret"), false);
      assert.equal(verifySignature(delivery.headers, "other-secret"), false);
    } finally {
      await f.close();
      await receiver.stop();
    }
  });
});

describe("exactness", () => {
  it("many small deposits and rate changes: the ledger adds up to the balance", async () => {
    const f = await startSingleNode();
    try {
      const ids = { customer_id: 1, account_id: 1 };
      await f.call("billing_create_customer", { customer_id: 1, name: "n", accounts: [{ account_id: 1, name: "a" }] });
      const deposits: string[] = [];
      for (let i = 0; i < 300; i++) {
        const amount = `0.${String(i + 1).padStart(6, "0")}`;
        deposits.push(amount);
        const [, error] = await f.call("billing_deposit", { ...ids, amount });
        assert.equal(error, null);
        if (i % 50 === 0) await f.call("billing_set_rate", { ...ids, rate_per_s: `0.00000${1 + (i % 9)}` });
      }
      const entries: any[] = [];
      let after_seq = 0;
      for (;;) {
        const [page] = await f.call("billing_ledger", { ...ids, after_seq, limit: 100 });
        entries.push(...page.entries);
        if (!page.has_more) break;
        after_seq = page.next_after_seq;
      }
      let running = 0n;
      for (const entry of entries) {
        running += toScaled(entry.amount) - toScaled(entry.charged);
        assert.equal(running, toScaled(entry.balance_after), `ledger row ${entry.seq} does not chain`);
      }
      const depositSum = entries.filter((e) => e.kind === "deposit").map((e) => e.amount);
      assert.equal(sumDecimals(depositSum), sumDecimals(deposits));
      const charged = sumDecimals(entries.map((e) => e.charged));
      assert.equal(toScaled(sumDecimals(deposits)) - toScaled(charged), running);
      const [account] = await f.call("billing_get_account", ids);
      assert.ok(toScaled(account.balance) <= running, "the live balance is the last ledger balance less what accrued since");
    } finally {
      await f.close();
    }
  });
});

describe("idempotency keys", () => {
  it("expire after their time to live, so the table stays bounded", async () => {
    const f = await startSingleNode({ idempotency_ttl_ms: 1000 });
    try {
      await f.call("billing_create_customer", { customer_id: 3, name: "n", accounts: [{ account_id: 1, name: "a" }] });
      const request = { customer_id: 3, account_id: 1, amount: "1", idempotency_key: "k" };
      await f.call("billing_deposit", request);
      const [replayed] = await f.call("billing_deposit", request);
      assert.equal(replayed.replayed, true);
      const deadline = Date.now() + 10_000;
      let stats: any;
      do {
        await new Promise((r) => setTimeout(r, 200));
        [stats] = await f.admin.call("billing_stats", []) as any[];
      } while (stats.janitor.idempotency_keys > 0 && Date.now() < deadline);
      assert.equal(stats.janitor.idempotency_keys, 0);
      assert.equal(stats.janitor.idempotency_expired_total, 1);
      const [fresh] = await f.call("billing_deposit", request);
      assert.equal(fresh.replayed, false);
      assert.equal(fresh.balance, "2");
    } finally {
      await f.close();
    }
  });
});

describe("resumed notifications", () => {
  it("with resumed_url, a deposit reviving a depleted account sends one", async () => {
    const receiver = new PoweroffReceiver();
    await receiver.start();
    const f = await startSingleNode();
    try {
      await f.node.stop();
      f.node.config.poweroff = { ...f.node.config.poweroff, url: receiver.url, resumed_url: `${receiver.url.replace("/poweroff", "/poweron")}?id={user_id}` };
      await f.node.start();
      await new Promise((r) => setTimeout(r, 300));
      const ids = { customer_id: 8, account_id: 1 };
      await f.call("billing_create_customer", { customer_id: 8, name: "r", accounts: [{ account_id: 1, name: "a" }] });
      await f.call("billing_set_rate", { ...ids, rate_per_s: "1" });
      await receiver.waitFor((ds) => ds.some((d) => d.kind === "depleted"), 5000);
      const [revived] = await f.call("billing_deposit", { ...ids, amount: "100" });
      assert.equal(revived.status, "active");
      await receiver.waitFor((ds) => ds.some((d) => d.kind === "resumed"), 5000);
      const resumed = receiver.deliveries.find((d) => d.kind === "resumed")!;
      assert.equal(resumed.path, "/poweron?id=8");
      assert.equal(receiver.deliveries.length, 2);
    } finally {
      await f.close();
      await receiver.stop();
    }
  });
});
