/**
 * The gateway against a REAL storage node through the real router: the
 * seed's flow end to end (create, add money, set consumption, and the
 * power-off receiver gets GET ?user_id=18 when the money runs out), the /v1
 * API with the storage's own refusals, pending notifications, storage
 * metrics, health, and a storage that cannot be reached.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { buildApp } from "../src/gateway/app.ts";
import { routerBackend } from "../src/gateway/backend.ts";
import { Router } from "../src/router/index.ts";
import { freePort } from "../src/cluster/ports.ts";
import { ADMIN, SERVICE, startSingleNode, type SingleNode } from "./support/single-node.ts";

let f: SingleNode;
let app: FastifyInstance;
let backend: ReturnType<typeof routerBackend>;

function topology(port: number) {
  return { replicasets: { rs1: { instances: [{ name: "solo", host: "127.0.0.1", port }] } }, bucket_count: 3000 };
}

before(async () => {
  f = await startSingleNode();
  const port = Number(f.node.config.listen.split(":")[1]);
  const router = new Router({ ...topology(port), credentials: SERVICE });
  const adminRouter = new Router({ ...topology(port), credentials: ADMIN });
  await router.connect(10_000);
  await adminRouter.connect(10_000);
  backend = routerBackend({ router, adminRouter });
  app = await buildApp({ backend });
});
after(async () => {
  await app?.close();
  await backend?.close();
  await f?.close();
});

function json(res: LightMyRequestResponse): any {
  return JSON.parse(res.body);
}

function expectStatus(res: LightMyRequestResponse, status: number, code?: string): any {
  assert.equal(res.statusCode, status, res.body);
  const body = json(res);
  if (code !== undefined) {
    assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
    assert.equal(body.code, code);
  }
  return body;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the seed's flow, end to end", () => {
  it("create, add money, set consumption: the receiver gets GET ?user_id=18 once the money runs out", async () => {
    const created = expectStatus(await app.inject({
      method: "POST", url: "/storage/customers/create",
      payload: { customer_id: 18, name: "Victor", accounts: [{ account_id: 22, name: "Victor" }] },
    }), 200);
    assert.deepEqual([created.customer_id, created.name, created.accounts[0].account_id, created.accounts[0].balance], [18, "Victor", 22, "0"]);

    const funded = expectStatus(await app.inject({ method: "POST", url: "/storage/customers/18/update_balance", payload: { amount: "18", account_id: 22 } }), 200);
    assert.equal(funded.balance, "18");

    const consuming = expectStatus(await app.inject({ method: "POST", url: "/storage/customers/18/update_consumption", payload: { consumption: "18", account_id: 22 } }), 200);
    assert.equal(consuming.rate_per_s, "18");
    assert.equal(consuming.depletes_at_ms, consuming.updated_at_ms + 1000, "18 at 18 per second lasts one second");
    assert.equal(consuming.depletes_at, new Date(consuming.depletes_at_ms).toISOString());

    const customer = expectStatus(await app.inject({ method: "GET", url: "/storage/customers/18" }), 200);
    assert.equal(customer.accounts[0].status, "active");
    assert.equal(f.receiver.deliveries.filter((d) => d.user_id === "18").length, 0, "no power-off while money is left");

    await f.receiver.waitFor((deliveries) => deliveries.some((d) => d.user_id === "18"), 5000);
    const delivery = f.receiver.deliveries.find((d) => d.user_id === "18")!;
    assert.match(delivery.path, /^\/poweroff\?(.*&)?user_id=18(&|$)/);
    assert.equal(delivery.account_id, "22");
    assert.equal(delivery.signature_valid, true);
    assert.ok(delivery.received_at_ms >= consuming.depletes_at_ms, "never before the money runs out");
    await sleep(300);
    assert.equal(f.receiver.deliveries.filter((d) => d.user_id === "18").length, 1, "exactly one power-off");

    const depleted = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/18/accounts/22" }), 200);
    assert.deepEqual([depleted.balance, depleted.status, "depletes_at" in depleted], ["0", "depleted", false]);
    const ledger = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/18/accounts/22/ledger" }), 200);
    assert.deepEqual(ledger.entries.map((e: any) => [e.kind, e.balance_after]), [["deposit", "18"], ["rate", "18"], ["depleted", "0"]]);
  });

  it("/metrics shows the delivery from billing_stats", async () => {
    const text = expectStatusText(await app.inject({ method: "GET", url: "/metrics" }));
    const value = (name: string) => Number(new RegExp(`^${name}\\{replicaset="rs1"(,le="\\+Inf")?\\} (\\S+)$`, "m").exec(text)?.[2]);
    assert.equal(value("billing_replicaset_stats_up"), 1);
    assert.ok(value("billing_notifications_sent_total") >= 1);
    assert.ok(value("billing_depletion_notification_latency_seconds_count") >= 1);
    assert.ok(value("billing_depletion_notification_latency_seconds_bucket") >= 1);
    assert.ok(value("billing_accounts_depleted_total") >= 1);
    assert.ok(value("billing_outbox_depth") >= 0);
    assert.match(text, /^billing_http_requests_total\{route="\/storage\/customers\/create",method="POST",status="200"\} 1$/m);
  });
});

function expectStatusText(res: LightMyRequestResponse): string {
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

describe("/v1 against the storage's own refusals", () => {
  it("customers: 201, then 409 CUSTOMER_EXISTS; duplicate account ids in one create are 409 ACCOUNT_EXISTS", async () => {
    const payload = { customer_id: 100, name: "Ann", accounts: [{ account_id: 1, name: "main" }] };
    const created = expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload }), 201);
    assert.equal(created.bucket_id >= 1 && created.bucket_id <= 3000, true);
    const again = expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload: { ...payload, name: "Other" } }), 409, "CUSTOMER_EXISTS");
    assert.deepEqual(again.details, { customer_id: 100 });
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 101, name: "B", accounts: [{ account_id: 1, name: "a" }, { account_id: 1, name: "b" }] } }), 409, "ACCOUNT_EXISTS");
    expectStatus(await app.inject({ method: "GET", url: "/v1/customers/101" }), 404, "CUSTOMER_NOT_FOUND");
  });

  it("accounts: 201, 409 ACCOUNT_EXISTS, 404 for an unknown customer or account", async () => {
    const account = expectStatus(await app.inject({ method: "POST", url: "/v1/customers/100/accounts", payload: { account_id: 2, name: "spare" } }), 201);
    assert.deepEqual([account.account_id, account.balance, account.status], [2, "0", "active"]);
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers/100/accounts", payload: { account_id: 2, name: "spare" } }), 409, "ACCOUNT_EXISTS");
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers/999/accounts", payload: { account_id: 1, name: "x" } }), 404, "CUSTOMER_NOT_FOUND");
    expectStatus(await app.inject({ method: "GET", url: "/v1/customers/100/accounts/77" }), 404, "ACCOUNT_NOT_FOUND");
    expectStatus(await app.inject({ method: "GET", url: "/v1/customers/999/accounts/1" }), 404, "CUSTOMER_NOT_FOUND");
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers/100/accounts/77/deposits", payload: { amount: "1" } }), 404, "ACCOUNT_NOT_FOUND");
    expectStatus(await app.inject({ method: "PUT", url: "/v1/customers/999/accounts/1/rate", payload: { rate_per_s: "1" } }), 404, "CUSTOMER_NOT_FOUND");
    expectStatus(await app.inject({ method: "GET", url: "/v1/customers/100/accounts/77/ledger" }), 404, "ACCOUNT_NOT_FOUND");
  });

  it("deposits with an Idempotency-Key count once; the key with another amount is 409", async () => {
    const url = "/v1/customers/100/accounts/1/deposits";
    const first = expectStatus(await app.inject({ method: "POST", url, headers: { "idempotency-key": "order-7" }, payload: { amount: "10.25" } }), 200);
    assert.deepEqual([first.balance, first.replayed], ["10.25", false]);
    const retry = await app.inject({ method: "POST", url, headers: { "idempotency-key": "order-7" }, payload: { amount: "10.25" } });
    const replayed = expectStatus(retry, 200);
    assert.deepEqual([replayed.balance, replayed.replayed, replayed.ledger_seq], ["10.25", true, first.ledger_seq]);
    assert.equal(retry.headers["idempotent-replayed"], "true");
    expectStatus(await app.inject({ method: "POST", url, headers: { "idempotency-key": "order-7" }, payload: { amount: "11" } }), 409, "IDEMPOTENCY_KEY_REUSED");
    const plain = expectStatus(await app.inject({ method: "POST", url, payload: { amount: 5 } }), 200);
    assert.equal(plain.balance, "15.25");
    const account = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/100/accounts/1" }), 200);
    assert.equal(account.balance, "15.25");
  });

  it("rate: the live balance and an exact deadline in both forms", async () => {
    const account = expectStatus(await app.inject({ method: "PUT", url: "/v1/customers/100/accounts/1/rate", payload: { rate_per_s: "0.001" } }), 200);
    assert.equal(account.rate_per_s, "0.001");
    assert.equal(account.depletes_at_ms, account.updated_at_ms + 15_250_000);
    assert.equal(account.depletes_at, new Date(account.depletes_at_ms).toISOString());
    const live = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/100/accounts/1" }), 200);
    assert.ok(live.balance <= "15.25" && live.balance.startsWith("15.2"), live.balance);
    const stopped = expectStatus(await app.inject({ method: "PUT", url: "/v1/customers/100/accounts/1/rate", payload: { rate_per_s: 0 } }), 200);
    assert.equal("depletes_at_ms" in stopped, false);
  });

  it("ledger pages with after_seq and limit", async () => {
    const first = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/100/accounts/1/ledger?limit=2" }), 200);
    assert.equal(first.entries.length, 2);
    assert.equal(first.has_more, true);
    assert.equal(first.next_after_seq, 2);
    const rest = expectStatus(await app.inject({ method: "GET", url: `/v1/customers/100/accounts/1/ledger?after_seq=${first.next_after_seq}&limit=1000` }), 200);
    assert.deepEqual(rest.entries.map((e: any) => e.kind), ["rate", "rate"]);
    assert.equal(rest.has_more, false);
    assert.equal(first.entries[0].reference, "order-7");
  });

  it("a balance past the maximum is 422 BALANCE_LIMIT_EXCEEDED, and nothing is added", async () => {
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 102, name: "Rich", accounts: [{ account_id: 1, name: "a" }] } }), 201);
    const url = "/v1/customers/102/accounts/1/deposits";
    const big = "999999999999999.999999";
    // 10^18 needs about a thousand of the largest deposits; send them in parallel batches.
    let refused: LightMyRequestResponse | undefined;
    for (let batch = 0; batch < 25 && refused === undefined; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: "POST", url, payload: { amount: big } })));
      refused = answers.find((res) => res.statusCode !== 200);
    }
    assert.ok(refused !== undefined, "the balance limit was never reached");
    expectStatus(refused, 422, "BALANCE_LIMIT_EXCEEDED");
    const account = expectStatus(await app.inject({ method: "GET", url: "/v1/customers/102/accounts/1" }), 200);
    assert.equal(account.balance.split(".")[0]!.length <= 18, true);
  });

  it("counts a name's length in characters, not bytes, on both sides", async () => {
    const longest = "ж".repeat(256); // 512 bytes of UTF-8
    const created = expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 103, name: longest } }), 201);
    assert.equal(created.name, longest);
    const res = await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 104, name: "ж".repeat(257) } });
    expectStatus(res, 400, "VALIDATION_FAILED");
  });
});

describe("pending notifications across replica sets", () => {
  it("lists an undelivered power-off while the receiver fails, and nothing once it is delivered", async () => {
    expectStatus(await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 200, name: "Late", accounts: [{ account_id: 1, name: "a" }] } }), 201);
    f.receiver.status = 503;
    try {
      expectStatus(await app.inject({ method: "POST", url: "/v1/customers/200/accounts/1/deposits", payload: { amount: "0.01" } }), 200);
      expectStatus(await app.inject({ method: "PUT", url: "/v1/customers/200/accounts/1/rate", payload: { rate_per_s: "1" } }), 200);
      let row: any;
      for (let i = 0; i < 50 && !(row?.attempts >= 1); i++) {
        await sleep(50);
        const pending = expectStatus(await app.inject({ method: "GET", url: "/v1/notifications/pending?limit=10" }), 200);
        assert.equal(pending.complete, true);
        row = pending.notifications.find((n: any) => n.customer_id === 200);
      }
      assert.ok(row, "the notification is pending");
      assert.deepEqual([row.replicaset, row.account_id, row.kind], ["rs1", 1, "depleted"]);
      assert.ok(row.attempts >= 1);
      assert.equal(row.last_error, "HTTP 503");
      const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
      assert.ok(Number(/^billing_outbox_depth\{replicaset="rs1"\} (\d+)$/m.exec(metrics)?.[1]) >= 1);
      assert.ok(Number(/^billing_notifications_failed_total\{replicaset="rs1"\} (\d+)$/m.exec(metrics)?.[1]) >= 1);
    } finally {
      f.receiver.status = 200;
    }
    await f.receiver.waitFor((deliveries) => deliveries.some((d) => d.user_id === "200"), 5000);
    const pending = expectStatus(await app.inject({ method: "GET", url: "/v1/notifications/pending" }), 200);
    assert.equal(pending.notifications.some((n: any) => n.customer_id === 200), false);
  });
});

describe("health and an unreachable storage", () => {
  it("/health is ready with the node's master reachable", async () => {
    const res = await app.inject({ method: "GET", url: "/health" });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(json(res), { status: "ready", replicasets: 1, replicasets_ready: 1 });
  });

  it("with no storage listening: /health 503, reads and writes 503 STORAGE_UNAVAILABLE with nothing internal", async () => {
    const port = await freePort();
    const router = new Router({ ...topology(port), credentials: SERVICE, settings: { callTimeoutMs: 300, connectTimeoutMs: 100, probeTimeoutMs: 100 } });
    const dead = await buildApp({ backend: routerBackend({ router }) });
    try {
      const health = await dead.inject({ method: "GET", url: "/health" });
      assert.equal(health.statusCode, 503);
      assert.equal(json(health).status, "not_ready");
      const read = await dead.inject({ method: "GET", url: "/v1/customers/18" });
      expectStatus(read, 503, "STORAGE_UNAVAILABLE");
      assert.doesNotMatch(read.body, /solo|127\.0\.0\.1|ECONNREFUSED|rs1/);
      const write = await dead.inject({ method: "POST", url: "/storage/customers/18/update_balance", payload: { amount: "1", account_id: 22 } });
      expectStatus(write, 503, "STORAGE_UNAVAILABLE");
      const metrics = (await dead.inject({ method: "GET", url: "/metrics" })).body;
      assert.match(metrics, /^billing_replicaset_stats_up\{replicaset="rs1"\} 0$/m);
    } finally {
      await dead.close();
      await router.close();
    }
  });
});
