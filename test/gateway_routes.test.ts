/**
 * Every gateway route through inject(), against a scripted backend: the
 * request each route sends to the storage, each validation refusal (and that
 * nothing reached the storage), the status of every error code, auth, the
 * problem+json format, metrics, health and docs. The real-storage flows are
 * in gateway_storage.test.ts.
 */
import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { buildApp } from "../src/gateway/app.ts";
import { parseTokens, TokenConfigError } from "../src/gateway/auth.ts";
import type { BackendCallOptions, BillingBackend, ReplicasetHealth, ReplicasetOutcome } from "../src/gateway/backend.ts";
import { PROBLEM_KINDS } from "../src/gateway/problems.ts";
import { ERRORS, type ErrorName } from "../src/contract/errors.ts";
import { RouterConfigError, RouterError, RouterUnavailableError } from "../src/router/index.ts";

const WRITE_TOKEN = "write-token-0123456789abcdef";
const READ_TOKEN = "read-token-0123456789abcdef";

interface Call {
  customer_id: number;
  procedure: string;
  request: Record<string, unknown>;
  options: BackendCallOptions;
}

function accountView(customer_id: number, account_id: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    customer_id, account_id, name: "Victor", balance: "18", rate_per_s: "0", status: "active",
    updated_at_ms: 1_700_000_000_000, as_of_ms: 1_700_000_000_001, ledger_seq: 1, ...extra,
  };
}

/** A backend that records every call and answers what the test scripts (canned views by default). */
class ScriptedBackend implements BillingBackend {
  calls: Call[] = [];
  respond: ((call: Call) => unknown) | undefined;
  allOutcomes: (procedure: string, request: Record<string, unknown>) => ReplicasetOutcome[] = () => [];
  statsOutcomes: () => Promise<ReplicasetOutcome[]> = async () => [];
  healthResult: () => Promise<ReplicasetHealth[]> = async () => [{ replicaset: "rs1", ready: true }];
  closed = 0;

  async call(customer_id: number, procedure: string, request: Record<string, unknown>, options: BackendCallOptions): Promise<unknown> {
    const call = { customer_id, procedure, request, options };
    this.calls.push(call);
    if (this.respond !== undefined) return this.respond(call);
    return canned(call);
  }
  async callAll(procedure: string, request: Record<string, unknown>): Promise<ReplicasetOutcome[]> {
    this.calls.push({ customer_id: 0, procedure, request, options: { write: false } });
    return this.allOutcomes(procedure, request);
  }
  stats(): Promise<ReplicasetOutcome[]> {
    return this.statsOutcomes();
  }
  health(): Promise<ReplicasetHealth[]> {
    return this.healthResult();
  }
  async close(): Promise<void> {
    this.closed += 1;
  }
}

function canned(call: Call): unknown {
  const r = call.request as { customer_id: number; account_id: number; name: string; amount?: string; rate_per_s?: string };
  switch (call.procedure) {
    case "billing_create_customer":
      return { customer_id: r.customer_id, bucket_id: 7, name: r.name, created_at_ms: 1_700_000_000_000,
        accounts: (call.request["accounts"] as Array<{ account_id: number }>).map((a) => accountView(r.customer_id, a.account_id, { balance: "0" })) };
    case "billing_get_customer":
      return { customer_id: r.customer_id, bucket_id: 7, name: "Victor", created_at_ms: 1_700_000_000_000,
        accounts: [accountView(r.customer_id, 22, { rate_per_s: "1", depletes_at_ms: 1_700_000_018_000 })] };
    case "billing_add_account":
      return accountView(r.customer_id, r.account_id, { name: r.name, balance: "0" });
    case "billing_get_account":
      return accountView(r.customer_id, r.account_id, { rate_per_s: "0.5", depletes_at_ms: 1_700_000_036_000 });
    case "billing_deposit":
      return { ...accountView(r.customer_id, r.account_id, { balance: r.amount }), replayed: false };
    case "billing_set_rate":
      return accountView(r.customer_id, r.account_id, { rate_per_s: r.rate_per_s, depletes_at_ms: 1_700_000_018_000 });
    case "billing_ledger":
      return { entries: [{ seq: 1, at_ms: 1, kind: "deposit", amount: "18", charged: "0", balance_after: "18", rate_after: "0", reference: "" }], has_more: true, next_after_seq: 1 };
    default:
      throw new Error(`unexpected procedure ${call.procedure}`);
  }
}

function failure(name: ErrorName, details?: Record<string, unknown>, message?: string): RouterError {
  const value = { code: ERRORS[name].code, name, message: message ?? ERRORS[name].message, ...(details === undefined ? {} : { details }) };
  return new RouterError(value, { replicaset: "rs-secret-name", instance: "rs-secret-instance", bucket_id: 77 });
}

let backend: ScriptedBackend;
let app: FastifyInstance;

before(async () => {
  backend = new ScriptedBackend();
  app = await buildApp({ backend });
});
after(async () => {
  await app.close();
});
beforeEach(() => {
  backend.calls = [];
  backend.respond = undefined;
});

function json(res: LightMyRequestResponse): any {
  return JSON.parse(res.body);
}

/** Asserts a problem response: status, code, content type, the RFC 9457 members. */
function assertProblem(res: LightMyRequestResponse, status: number, code: string): any {
  assert.equal(res.statusCode, status, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  const body = json(res);
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(body.type, `urn:billing:problem:${code.toLowerCase().replace(/_/g, "-")}`);
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  assert.equal(body.instance, res.raw.req.url?.split("?")[0]);
  assert.equal(body.request_id, res.headers["x-request-id"]);
  return body;
}

describe("seed routes, exactly as the original used them", () => {
  it("POST /storage/customers/create creates the customer with its accounts", async () => {
    const res = await app.inject({ method: "POST", url: "/storage/customers/create", payload: { customer_id: 18, name: "Victor", accounts: [{ account_id: 22, name: "Victor" }] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).customer_id, 18);
    assert.deepEqual(backend.calls, [{ customer_id: 18, procedure: "billing_create_customer", request: { customer_id: 18, name: "Victor", accounts: [{ account_id: 22, name: "Victor" }] }, options: { write: true } }]);
  });

  it("POST /storage/customers/18/update_balance is a deposit of a decimal string", async () => {
    const res = await app.inject({ method: "POST", url: "/storage/customers/18/update_balance", payload: { amount: "18", account_id: 22 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).balance, "18");
    assert.deepEqual(backend.calls.map((c) => [c.customer_id, c.procedure, c.request, c.options]),
      [[18, "billing_deposit", { customer_id: 18, account_id: 22, amount: "18" }, { write: true, idempotent: false }]]);
  });

  it("POST /storage/customers/18/update_consumption sets the rate per second", async () => {
    const res = await app.inject({ method: "POST", url: "/storage/customers/18/update_consumption", payload: { consumption: "18", account_id: 22 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).rate_per_s, "18");
    assert.equal(json(res).depletes_at, "2023-11-14T22:13:38.000Z");
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request]), [["billing_set_rate", { customer_id: 18, account_id: 22, rate_per_s: "18" }]]);
  });

  it("GET /storage/customers/18 reads the customer", async () => {
    const res = await app.inject({ method: "GET", url: "/storage/customers/18" });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).accounts[0].account_id, 22);
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request, c.options]), [["billing_get_customer", { customer_id: 18 }, { write: false }]]);
  });

  it("takes a JSON body sent as curl -d sends it (form or text content type); /v1 does not", async () => {
    const body = '{"amount":"18","account_id":22}';
    for (const type of ["application/x-www-form-urlencoded", "text/plain; charset=utf-8"]) {
      const res = await app.inject({ method: "POST", url: "/storage/customers/18/update_balance", headers: { "content-type": type }, payload: body });
      assert.equal(res.statusCode, 200, `${type}: ${res.body}`);
    }
    const broken = await app.inject({ method: "POST", url: "/storage/customers/18/update_balance", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "amount=18&account_id=22" });
    assertProblem(broken, 400, "MALFORMED_BODY");
    const strict = await app.inject({ method: "POST", url: "/v1/customers/18/accounts/22/deposits", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: '{"amount":"18"}' });
    assertProblem(strict, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert.equal(backend.calls.length, 2);
  });

  it("refuses the seed payloads with a field renamed or added", async () => {
    for (const payload of [{ amount: "18", account_id: 22, extra: 1 }, { amount: "18" }, { balance: "18", account_id: 22 }]) {
      const res = await app.inject({ method: "POST", url: "/storage/customers/18/update_balance", payload });
      assertProblem(res, 400, "VALIDATION_FAILED");
    }
    const res = await app.inject({ method: "POST", url: "/storage/customers/18/update_consumption", payload: { rate_per_s: "1", account_id: 22 } });
    assertProblem(res, 400, "VALIDATION_FAILED");
    assert.equal(backend.calls.length, 0);
  });
});

describe("/v1 routes", () => {
  it("POST /v1/customers answers 201 with a Location", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 5, name: "Ann" } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers["location"], "/v1/customers/5");
    assert.deepEqual(backend.calls[0]?.request, { customer_id: 5, name: "Ann", accounts: [] });
  });

  it("GET /v1/customers/:customer_id adds the ISO deadline to each account", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/customers/5" });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).accounts[0].depletes_at, new Date(1_700_000_018_000).toISOString());
  });

  it("POST /v1/customers/:customer_id/accounts answers 201 with a Location", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/customers/5/accounts", payload: { account_id: 9, name: "spare" } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers["location"], "/v1/customers/5/accounts/9");
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request, c.options.write]), [["billing_add_account", { customer_id: 5, account_id: 9, name: "spare" }, true]]);
  });

  it("GET /v1/customers/:customer_id/accounts/:account_id gives the live balance and both deadline forms", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9" });
    assert.equal(res.statusCode, 200, res.body);
    const body = json(res);
    assert.equal(body.depletes_at_ms, 1_700_000_036_000);
    assert.equal(body.depletes_at, "2023-11-14T22:13:56.000Z");
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request, c.options.write]), [["billing_get_account", { customer_id: 5, account_id: 9 }, false]]);
  });

  it("omits depletes_at when the account never depletes", async () => {
    backend.respond = () => accountView(5, 9);
    const body = json(await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9" }));
    assert.equal("depletes_at" in body, false);
    assert.equal("depletes_at_ms" in body, false);
  });

  it("POST .../deposits passes the Idempotency-Key and marks the call idempotent", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/customers/5/accounts/9/deposits", headers: { "idempotency-key": "order-1" }, payload: { amount: "12.5" } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).replayed, false);
    assert.equal(res.headers["idempotent-replayed"], undefined);
    assert.deepEqual(backend.calls.map((c) => [c.request, c.options]),
      [[{ customer_id: 5, account_id: 9, amount: "12.5", idempotency_key: "order-1" }, { write: true, idempotent: true }]]);
  });

  it("a replayed deposit says so in the body and a header", async () => {
    backend.respond = () => ({ ...accountView(5, 9), replayed: true });
    const res = await app.inject({ method: "POST", url: "/v1/customers/5/accounts/9/deposits", headers: { "idempotency-key": "order-1" }, payload: { amount: "12.5" } });
    assert.equal(res.statusCode, 200);
    assert.equal(json(res).replayed, true);
    assert.equal(res.headers["idempotent-replayed"], "true");
  });

  it("PUT .../rate sets rate_per_s", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/customers/5/accounts/9/rate", payload: { rate_per_s: "0.5" } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request]), [["billing_set_rate", { customer_id: 5, account_id: 9, rate_per_s: "0.5" }]]);
  });

  it("GET .../ledger passes after_seq and limit as numbers", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9/ledger?after_seq=3&limit=2" });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).next_after_seq, 1);
    assert.deepEqual(backend.calls.map((c) => c.request), [{ customer_id: 5, account_id: 9, after_seq: 3, limit: 2 }]);
    await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9/ledger" });
    assert.deepEqual(backend.calls[1]?.request, { customer_id: 5, account_id: 9 });
  });

  it("GET /v1/notifications/pending merges replica sets soonest first, within the limit", async () => {
    const row = (event_id: string, next_attempt_at_ms: number) => ({ event_id, customer_id: 1, account_id: 1, kind: "depleted", occurred_at_ms: 1, attempts: 0, next_attempt_at_ms });
    backend.allOutcomes = () => [
      { replicaset: "rs1", ok: true, result: { notifications: [row("a", 30), row("b", 50)], total: 5 } },
      { replicaset: "rs2", ok: true, result: { notifications: [row("c", 10), { ...row("d", 40), last_error: "HTTP 503" }], total: 2 } },
    ];
    const res = await app.inject({ method: "GET", url: "/v1/notifications/pending?limit=3" });
    assert.equal(res.statusCode, 200, res.body);
    const body = json(res);
    assert.deepEqual(body.notifications.map((n: any) => [n.replicaset, n.event_id]), [["rs2", "c"], ["rs1", "a"], ["rs2", "d"]]);
    assert.equal(body.notifications[2].last_error, "HTTP 503");
    assert.equal(body.total, 7);
    assert.equal(body.complete, true);
    assert.deepEqual(backend.calls.map((c) => [c.procedure, c.request]), [["billing_pending_notifications", { limit: 3 }]]);
  });

  it("a replica set that does not answer makes the listing incomplete; none answering is 503", async () => {
    backend.allOutcomes = () => [
      { replicaset: "rs1", ok: true, result: { notifications: [], total: 0 } },
      { replicaset: "rs2", ok: false, error: new RouterUnavailableError("no_master", "no master in rs2") },
    ];
    const partial = json(await app.inject({ method: "GET", url: "/v1/notifications/pending" }));
    assert.equal(partial.complete, false);
    assert.deepEqual(partial.replicasets, [{ replicaset: "rs1", ok: true, total: 0 }, { replicaset: "rs2", ok: false }]);
    assert.deepEqual(backend.calls.at(-1)?.request, { limit: 100 });
    backend.allOutcomes = () => [{ replicaset: "rs1", ok: false, error: new RouterUnavailableError("timeout", "rs1 timed out") }];
    const res = await app.inject({ method: "GET", url: "/v1/notifications/pending" });
    const body = assertProblem(res, 503, "STORAGE_UNAVAILABLE");
    assert.doesNotMatch(res.body, /rs1 timed out/);
    assert.equal(body.errors, undefined);
  });
});

describe("validation: refused at the edge, nothing sent to the storage", () => {
  const deposit = (payload: unknown) => app.inject({ method: "POST", url: "/v1/customers/5/accounts/9/deposits", payload: payload as object });
  const rate = (payload: unknown) => app.inject({ method: "PUT", url: "/v1/customers/5/accounts/9/rate", payload: payload as object });

  it("accepts canonical decimal strings and whole JSON numbers, sending strings", async () => {
    const accepted: Array<[unknown, string]> = [["18", "18"], ["0.000001", "0.000001"], ["1.5000000", "1.5000000"], ["999999999999999.999999", "999999999999999.999999"], [18, "18"], [999999999999999, "999999999999999"]];
    for (const [amount, sent] of accepted) {
      backend.calls = [];
      const res = await deposit({ amount });
      assert.equal(res.statusCode, 200, `${JSON.stringify(amount)}: ${res.body}`);
      assert.equal(backend.calls[0]?.request["amount"], sent);
    }
    for (const [rate_per_s, sent] of [["0", "0"], [0, "0"], ["999999999.999999", "999999999.999999"], ["0.5", "0.5"]] as const) {
      backend.calls = [];
      const res = await rate({ rate_per_s });
      assert.equal(res.statusCode, 200, `${JSON.stringify(rate_per_s)}: ${res.body}`);
      assert.equal(backend.calls[0]?.request["rate_per_s"], sent);
    }
  });

  it("refuses bad amounts with the catalogue reason", async () => {
    const refused: Array<[unknown, string]> = [
      ["1.1234567", "AMOUNT_SCALE_EXCEEDED"], ["0.0000001", "AMOUNT_SCALE_EXCEEDED"],
      ["1000000000000000", "AMOUNT_OUT_OF_RANGE"], [1_000_000_000_000_000, "AMOUNT_OUT_OF_RANGE"], [2 ** 53, "AMOUNT_OUT_OF_RANGE"],
      ["0", "AMOUNT_NOT_POSITIVE"], ["0.000", "AMOUNT_NOT_POSITIVE"], [0, "AMOUNT_NOT_POSITIVE"], ["-1", "AMOUNT_NOT_POSITIVE"], [-5, "AMOUNT_NOT_POSITIVE"],
      [0.5, "INVALID_AMOUNT"], ["1e3", "INVALID_AMOUNT"], ["01", "INVALID_AMOUNT"], [" 1", "INVALID_AMOUNT"], ["1.", "INVALID_AMOUNT"], [".5", "INVALID_AMOUNT"],
      ["+1", "INVALID_AMOUNT"], ["NaN", "INVALID_AMOUNT"], ["", "INVALID_AMOUNT"], [null, "INVALID_AMOUNT"], [true, "INVALID_AMOUNT"], [["1"], "INVALID_AMOUNT"],
      ["1".repeat(65), "INVALID_AMOUNT"],
    ];
    for (const [amount, reason] of refused) {
      const res = await deposit({ amount });
      const body = assertProblem(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(body.errors.map((e: any) => [e.field, e.in, e.reason]), [["/amount", "body", reason]], `${JSON.stringify(amount)}`);
    }
    assert.equal(backend.calls.length, 0);
  });

  it("refuses bad rates with the catalogue reason", async () => {
    const refused: Array<[unknown, string]> = [
      ["-0.5", "RATE_NEGATIVE"], [-1, "RATE_NEGATIVE"], ["1000000000", "AMOUNT_OUT_OF_RANGE"], [1_000_000_000, "AMOUNT_OUT_OF_RANGE"],
      ["0.1234567", "AMOUNT_SCALE_EXCEEDED"], ["0,5", "INVALID_RATE"], [0.5, "INVALID_RATE"],
    ];
    for (const [rate_per_s, reason] of refused) {
      const body = assertProblem(await rate({ rate_per_s }), 400, "VALIDATION_FAILED");
      assert.equal(body.errors[0].reason, reason, JSON.stringify(rate_per_s));
    }
    assert.equal(backend.calls.length, 0);
  });

  it("refuses unknown fields in bodies, nested objects and query strings", async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/v1/customers", { customer_id: 1, name: "a", vip: true }, "/vip"],
      ["POST", "/v1/customers", { customer_id: 1, name: "a", accounts: [{ account_id: 1, name: "a", balance: "5" }] }, "/accounts/0/balance"],
      ["POST", "/v1/customers/1/accounts/1/deposits", { amount: "1", idempotency_key: "k" }, "/idempotency_key"],
      ["PUT", "/v1/customers/1/accounts/1/rate", { rate_per_s: "1", consumption: "1" }, "/consumption"],
      ["GET", "/v1/customers/1/accounts/1/ledger?limit=1&offset=5", undefined, "/offset"],
      ["GET", "/v1/notifications/pending?everything=1", undefined, "/everything"],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await app.inject({ method: method as "GET", url, ...(payload === undefined ? {} : { payload: payload as object }) });
      const body = assertProblem(res, 400, "VALIDATION_FAILED");
      assert.ok(body.errors.some((e: any) => e.field === field && /unexpected property/i.test(e.message)), `${url}: ${res.body}`);
    }
    assert.equal(backend.calls.length, 0);
  });

  it("refuses ids that are not canonical integers from 1 to 2^53-1", async () => {
    for (const id of ["0", "18.0", "1e1", "abc", "-1", "9007199254740992", "%2018", "018"]) {
      const res = await app.inject({ method: "GET", url: `/v1/customers/${id}` });
      const body = assertProblem(res, 400, "VALIDATION_FAILED");
      assert.equal(body.errors[0].in, "params", id);
    }
    const ok = await app.inject({ method: "GET", url: "/v1/customers/9007199254740991" });
    assert.equal(ok.statusCode, 200, ok.body);
    for (const payload of [{ customer_id: "18", name: "a" }, { customer_id: 1.5, name: "a" }, { customer_id: 2 ** 53, name: "a" }]) {
      assertProblem(await app.inject({ method: "POST", url: "/v1/customers", payload }), 400, "VALIDATION_FAILED");
    }
    assert.equal(backend.calls.length, 1);
  });

  it("refuses names, keys and pages outside the limits", async () => {
    const cases: Array<[string, string, unknown, Record<string, string>?]> = [
      ["POST", "/v1/customers", { customer_id: 1, name: "" }],
      ["POST", "/v1/customers", { customer_id: 1, name: "x".repeat(257) }],
      ["POST", "/v1/customers", { customer_id: 1, name: "a", accounts: Array.from({ length: 101 }, (_, i) => ({ account_id: i + 1, name: "a" })) }],
      ["POST", "/v1/customers/1/accounts/1/deposits", { amount: "1" }, { "idempotency-key": "k".repeat(129) }],
      ["GET", "/v1/customers/1/accounts/1/ledger?limit=1001", undefined],
      ["GET", "/v1/customers/1/accounts/1/ledger?limit=0", undefined],
      ["GET", "/v1/customers/1/accounts/1/ledger?after_seq=-1", undefined],
      ["GET", "/v1/customers/1/accounts/1/ledger?limit=1&limit=2", undefined],
      ["GET", "/v1/notifications/pending?limit=1001", undefined],
    ];
    for (const [method, url, payload, headers] of cases) {
      const res = await app.inject({ method: method as "GET", url, ...(headers ? { headers } : {}), ...(payload === undefined ? {} : { payload: payload as object }) });
      assertProblem(res, 400, "VALIDATION_FAILED");
    }
    assert.equal(backend.calls.length, 0);
  });

  it("answers 400 MALFORMED_BODY for broken JSON, 415 for other media types, 413 past the body limit", async () => {
    const broken = await app.inject({ method: "POST", url: "/v1/customers", headers: { "content-type": "application/json" }, payload: '{"customer_id": 1,' });
    assertProblem(broken, 400, "MALFORMED_BODY");
    const poisoned = await app.inject({ method: "POST", url: "/v1/customers", headers: { "content-type": "application/json" }, payload: '{"customer_id":1,"name":"a","__proto__":{"x":1}}' });
    assertProblem(poisoned, 400, "MALFORMED_BODY");
    const text = await app.inject({ method: "POST", url: "/v1/customers", headers: { "content-type": "text/plain" }, payload: "customer_id=1" });
    assertProblem(text, 415, "UNSUPPORTED_MEDIA_TYPE");
    const missing = await app.inject({ method: "POST", url: "/v1/customers" });
    assertProblem(missing, 400, "VALIDATION_FAILED");
    const big = JSON.stringify({ customer_id: 1, name: "a", padding: "x".repeat(70 * 1024) });
    const tooLarge = await app.inject({ method: "POST", url: "/v1/customers", headers: { "content-type": "application/json" }, payload: big });
    assertProblem(tooLarge, 413, "PAYLOAD_TOO_LARGE");
    assert.equal(backend.calls.length, 0);
  });

  it("accepts the largest valid create within the default body limit", async () => {
    const accounts = Array.from({ length: 100 }, (_, i) => ({ account_id: i + 1, name: "n".repeat(256) }));
    const res = await app.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 3, name: "x".repeat(256), accounts } });
    assert.equal(res.statusCode, 201, res.body.slice(0, 300));
  });

  it("honours a smaller bodyLimit option", async () => {
    const small = await buildApp({ backend, bodyLimit: 1024 });
    try {
      const res = await small.inject({ method: "POST", url: "/v1/customers", payload: { customer_id: 1, name: "x".repeat(1100) } });
      assertProblem(res, 413, "PAYLOAD_TOO_LARGE");
    } finally {
      await small.close();
    }
  });

  it("answers unknown routes with a 404 problem", async () => {
    const res = await app.inject({ method: "GET", url: "/v2/customers/1" });
    assertProblem(res, 404, "NOT_FOUND");
    assertProblem(await app.inject({ method: "DELETE", url: "/v1/customers/1" }), 404, "NOT_FOUND");
  });
});

describe("storage failures map to statuses; 5xx never shows internals", () => {
  const expected: Array<[ErrorName, number]> = [
    ["INVALID_ARGUMENT", 400], ["INVALID_AMOUNT", 400], ["AMOUNT_NOT_POSITIVE", 400], ["AMOUNT_SCALE_EXCEEDED", 400],
    ["AMOUNT_OUT_OF_RANGE", 400], ["INVALID_RATE", 400], ["RATE_NEGATIVE", 400],
    ["CUSTOMER_NOT_FOUND", 404], ["ACCOUNT_NOT_FOUND", 404],
    ["CUSTOMER_EXISTS", 409], ["ACCOUNT_EXISTS", 409], ["IDEMPOTENCY_KEY_REUSED", 409],
    ["TOO_MANY_ACCOUNTS", 422], ["BALANCE_LIMIT_EXCEEDED", 422],
    ["WRONG_BUCKET", 503], ["NOT_WRITABLE", 503], ["COMMIT_FAILED", 503], ["INTERNAL", 500],
  ];

  it("covers every catalogue name", () => {
    for (const name of Object.keys(ERRORS) as ErrorName[]) assert.ok(name in PROBLEM_KINDS, `${name} has no status`);
  });

  for (const [name, status] of expected) {
    it(`${name} → ${status}`, async () => {
      backend.respond = () => {
        throw failure(name, { customer_id: 5, field: "amount", destination: "rs-secret-destination" }, `${ERRORS[name].message} (storage text)`);
      };
      const res = await app.inject({ method: "POST", url: "/v1/customers/5/accounts/9/deposits", payload: { amount: "1" } });
      const body = assertProblem(res, status, name);
      if (status < 500) {
        assert.equal(body.detail, `${ERRORS[name].message} (storage text)`);
        assert.deepEqual(body.details, { customer_id: 5, field: "amount", destination: "rs-secret-destination" });
      } else {
        assert.doesNotMatch(res.body, /storage text|rs-secret|details/);
      }
      if (status === 503) assert.equal(res.headers["retry-after"], "1");
    });
  }

  it("BUCKET_COUNT_MISMATCH is an INTERNAL 500 to the client", async () => {
    backend.respond = () => {
      throw failure("BUCKET_COUNT_MISMATCH", { expected: 3000, actual: 16 });
    };
    const res = await app.inject({ method: "GET", url: "/v1/customers/5" });
    assertProblem(res, 500, "INTERNAL");
    assert.doesNotMatch(res.body, /3000|bucket/i);
  });

  it("an unavailable storage is 503 STORAGE_UNAVAILABLE, a lost write is 504 OUTCOME_UNKNOWN, a closed router is 503 SHUTTING_DOWN", async () => {
    backend.respond = () => {
      throw new RouterUnavailableError("no_master", "no writable instance in rs-secret (0 of 2 reachable)", { context: { replicaset: "rs-secret" } });
    };
    let res = await app.inject({ method: "GET", url: "/v1/customers/5" });
    assertProblem(res, 503, "STORAGE_UNAVAILABLE");
    assert.equal(res.headers["retry-after"], "1");
    assert.doesNotMatch(res.body, /rs-secret|writable/);
    backend.respond = () => {
      throw new RouterUnavailableError("outcome_unknown", "billing_deposit on rs-secret-a: connection lost", { outcomeUnknown: true });
    };
    res = await app.inject({ method: "POST", url: "/v1/customers/5/accounts/9/deposits", payload: { amount: "1" } });
    const body = assertProblem(res, 504, "OUTCOME_UNKNOWN");
    assert.match(body.detail, /Idempotency-Key/);
    assert.doesNotMatch(res.body, /rs-secret|connection lost/);
    backend.respond = () => {
      throw new RouterUnavailableError("closed", "router is closed");
    };
    assertProblem(await app.inject({ method: "GET", url: "/v1/customers/5" }), 503, "SHUTTING_DOWN");
  });

  it("an unexpected error is 500 INTERNAL with a fixed detail: no message, stack or class", async () => {
    for (const thrown of [
      new Error("ER_ACCESS_DENIED: Execute access to function 'billing_deposit' is denied for user 'billing' at /srv/secret.lua:12"),
      new RouterConfigError("instance rs1-secret reports replica set rs9"),
      new TypeError("Cannot read properties of undefined (reading 'secret_field')"),
    ]) {
      backend.respond = () => {
        throw thrown;
      };
      const res = await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9" });
      const body = assertProblem(res, 500, "INTERNAL");
      assert.doesNotMatch(res.body, /secret|denied|Error|stack|\.lua|\.ts/);
      assert.deepEqual(Object.keys(body).sort(), ["code", "detail", "instance", "request_id", "status", "title", "type"]);
    }
  });

  it("a storage answer that does not fit the response schema is 500, not a half-written body", async () => {
    backend.respond = () => ({ customer_id: 5, account_id: 9 });
    const res = await app.inject({ method: "GET", url: "/v1/customers/5/accounts/9" });
    assertProblem(res, 500, "INTERNAL");
  });
});

describe("auth with tokens configured", () => {
  let secured: FastifyInstance;
  const logLines: string[] = [];

  before(async () => {
    const stream = new Writable({ write(chunk, _encoding, done) { logLines.push(String(chunk)); done(); } });
    secured = await buildApp({ backend, tokens: `${WRITE_TOKEN}, ${READ_TOKEN}:read`, logger: { level: "trace", stream } });
  });
  after(async () => {
    await secured.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("401 without a token, with a WWW-Authenticate challenge, before any storage call", async () => {
    for (const [method, url] of [["GET", "/v1/customers/5"], ["POST", "/storage/customers/create"], ["GET", "/metrics"], ["GET", "/v1/unknown"]] as const) {
      const res = await secured.inject({ method, url, ...(method === "POST" ? { payload: { customer_id: 1, name: "a" } } : {}) });
      assertProblem(res, 401, "UNAUTHORIZED");
      assert.equal(res.headers["www-authenticate"], 'Bearer realm="billing"');
    }
    assert.equal(backend.calls.length, 0);
  });

  it("401 for a wrong, malformed or non-Bearer token", async () => {
    for (const authorization of [`Bearer ${WRITE_TOKEN}x`, `Bearer ${WRITE_TOKEN.slice(1)}`, `Basic ${WRITE_TOKEN}`, "Bearer", `Bearer ${WRITE_TOKEN} extra`, WRITE_TOKEN]) {
      const res = await secured.inject({ method: "GET", url: "/v1/customers/5", headers: { authorization } });
      assertProblem(res, 401, "UNAUTHORIZED");
      assert.match(String(res.headers["www-authenticate"]), /invalid_token/);
    }
    assert.equal(backend.calls.length, 0);
  });

  it("a write token may use every route; the scheme is case-insensitive", async () => {
    assert.equal((await secured.inject({ method: "GET", url: "/v1/customers/5", headers: bearer(WRITE_TOKEN) })).statusCode, 200);
    assert.equal((await secured.inject({ method: "POST", url: "/storage/customers/18/update_balance", headers: { authorization: `bearer ${WRITE_TOKEN}` }, payload: { amount: "1", account_id: 22 } })).statusCode, 200);
    assert.equal((await secured.inject({ method: "PUT", url: "/v1/customers/5/accounts/9/rate", headers: bearer(WRITE_TOKEN), payload: { rate_per_s: "1" } })).statusCode, 200);
  });

  it("a read-only token may GET, and gets 403 on every write", async () => {
    assert.equal((await secured.inject({ method: "GET", url: "/v1/customers/5/accounts/9", headers: bearer(READ_TOKEN) })).statusCode, 200);
    assert.equal((await secured.inject({ method: "GET", url: "/metrics", headers: bearer(READ_TOKEN) })).statusCode, 200);
    backend.calls = [];
    const writes: Array<[string, string, object]> = [
      ["POST", "/v1/customers", { customer_id: 1, name: "a" }],
      ["POST", "/v1/customers/5/accounts/9/deposits", { amount: "1" }],
      ["PUT", "/v1/customers/5/accounts/9/rate", { rate_per_s: "1" }],
      ["POST", "/storage/customers/18/update_consumption", { consumption: "1", account_id: 22 }],
    ];
    for (const [method, url, payload] of writes) {
      const res = await secured.inject({ method: method as "POST", url, headers: bearer(READ_TOKEN), payload });
      assertProblem(res, 403, "FORBIDDEN");
      assert.match(String(res.headers["www-authenticate"]), /insufficient_scope/);
    }
    assert.equal(backend.calls.length, 0);
  });

  it("/health and the docs stay public", async () => {
    assert.equal((await secured.inject({ method: "GET", url: "/health" })).statusCode, 200);
    assert.equal((await secured.inject({ method: "GET", url: "/docs/json" })).statusCode, 200);
    assert.equal((await secured.inject({ method: "GET", url: "/docs" })).statusCode, 200);
  });

  it("never logs a token; logs carry the request id and a token id", async () => {
    const res = await secured.inject({ method: "GET", url: "/v1/customers/5", headers: { ...bearer(WRITE_TOKEN), "x-request-id": "trace-abc-123" } });
    assert.equal(res.headers["x-request-id"], "trace-abc-123");
    await secured.inject({ method: "GET", url: "/v1/customers/5", headers: bearer(`${WRITE_TOKEN}-wrong`) });
    const text = logLines.join("");
    assert.ok(text.length > 0, "something was logged");
    assert.doesNotMatch(text, new RegExp(WRITE_TOKEN.slice(0, 12)));
    assert.doesNotMatch(text, new RegExp(READ_TOKEN.slice(0, 12)));
    const lines = logLines.map((line) => JSON.parse(line));
    assert.ok(lines.some((line) => line.request_id === "trace-abc-123" && typeof line.token_id === "string"), "request id and token id in the log");
  });

  it("a sane X-Request-Id is echoed; anything else is replaced by a UUID", async () => {
    const res = await secured.inject({ method: "GET", url: "/health", headers: { "x-request-id": "bad id with spaces" } });
    assert.match(String(res.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
  });

  it("refuses weak or malformed token configuration without echoing it", () => {
    assert.throws(() => parseTokens("short-secret"), (error: unknown) => error instanceof TokenConfigError && !error.message.includes("short-secret"));
    assert.throws(() => parseTokens("has space inside 0123456789"), TokenConfigError);
    assert.deepEqual(parseTokens(` ${WRITE_TOKEN} ,${READ_TOKEN}:read,,`), [{ token: WRITE_TOKEN, scope: "write" }, { token: READ_TOKEN, scope: "read" }]);
    assert.deepEqual(parseTokens(""), []);
  });
});

describe("operations: health, metrics, docs", () => {
  it("/health is 200 ready only when every replica set has a master", async () => {
    backend.healthResult = async () => [{ replicaset: "rs1", ready: true }, { replicaset: "rs2", ready: true }];
    let res = await app.inject({ method: "GET", url: "/health" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(json(res), { status: "ready", replicasets: 2, replicasets_ready: 2 });
    backend.healthResult = async () => [{ replicaset: "rs1", ready: true }, { replicaset: "rs2", ready: false, problem: "no writable instance in rs2" }];
    res = await app.inject({ method: "GET", url: "/health" });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(json(res), { status: "not_ready", replicasets: 2, replicasets_ready: 1 });
    assert.doesNotMatch(res.body, /writable/);
    backend.healthResult = async () => {
      throw new Error("probe exploded");
    };
    res = await app.inject({ method: "GET", url: "/health" });
    assert.equal(res.statusCode, 503);
    backend.healthResult = async () => [];
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 503);
    backend.healthResult = async () => [{ replicaset: "rs1", ready: true }];
  });

  it("/metrics counts requests per route pattern and status, with a latency histogram", async () => {
    const fresh = await buildApp({ backend });
    try {
      await fresh.inject({ method: "GET", url: "/v1/customers/5" });
      await fresh.inject({ method: "GET", url: "/v1/customers/6" });
      await fresh.inject({ method: "GET", url: "/v1/customers/abc" });
      await fresh.inject({ method: "GET", url: "/no/such/route/123" });
      const res = await fresh.inject({ method: "GET", url: "/metrics" });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
      const text = res.body;
      assert.match(text, /^billing_http_requests_total\{route="\/v1\/customers\/:customer_id",method="GET",status="200"\} 2$/m);
      assert.match(text, /^billing_http_requests_total\{route="\/v1\/customers\/:customer_id",method="GET",status="400"\} 1$/m);
      assert.match(text, /^billing_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m);
      assert.doesNotMatch(text, /no\/such\/route/);
      assert.match(text, /^# TYPE billing_http_request_duration_seconds histogram$/m);
      assert.match(text, /^billing_http_request_duration_seconds_bucket\{route="\/v1\/customers\/:customer_id",method="GET",le="\+Inf"\} 3$/m);
      assert.match(text, /^billing_http_request_duration_seconds_count\{route="\/v1\/customers\/:customer_id",method="GET"\} 3$/m);
    } finally {
      await fresh.close();
    }
  });

  it("/metrics renders each replica set's billing_stats, cumulative buckets in seconds", async () => {
    backend.statsOutcomes = async () => [
      { replicaset: "rs1", ok: true, result: { scheduler: { depleted_total: 4 }, notifier: {
        sent: 7, failed: 2, outbox_depth: 3, in_flight: 1, latency_counts: [1, 0, 2, 1], latency_buckets_ms: [1, 2, 5, 10], latency_sum_ms: 19, latency_max_ms: 9,
      } } },
      { replicaset: "rs2", ok: false, error: new Error("access denied") },
    ];
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    backend.statsOutcomes = async () => [];
    for (const line of [
      'billing_replicaset_stats_up{replicaset="rs1"} 1',
      'billing_replicaset_stats_up{replicaset="rs2"} 0',
      'billing_outbox_depth{replicaset="rs1"} 3',
      'billing_notifications_in_flight{replicaset="rs1"} 1',
      'billing_notifications_sent_total{replicaset="rs1"} 7',
      'billing_notifications_failed_total{replicaset="rs1"} 2',
      'billing_accounts_depleted_total{replicaset="rs1"} 4',
      'billing_depletion_notification_latency_seconds_bucket{replicaset="rs1",le="0.001"} 1',
      'billing_depletion_notification_latency_seconds_bucket{replicaset="rs1",le="0.002"} 1',
      'billing_depletion_notification_latency_seconds_bucket{replicaset="rs1",le="0.005"} 3',
      'billing_depletion_notification_latency_seconds_bucket{replicaset="rs1",le="0.01"} 4',
      'billing_depletion_notification_latency_seconds_bucket{replicaset="rs1",le="+Inf"} 4',
      'billing_depletion_notification_latency_seconds_sum{replicaset="rs1"} 0.019',
      'billing_depletion_notification_latency_seconds_count{replicaset="rs1"} 4',
    ]) {
      assert.ok(text.split("\n").includes(line), `missing ${line}`);
    }
    assert.doesNotMatch(text, /outbox_depth\{replicaset="rs2"\}/);
    assert.doesNotMatch(text, /access denied/);
  });

  it("/metrics still answers when the stats fan-out throws", async () => {
    backend.statsOutcomes = async () => {
      throw new Error("boom");
    };
    const res = await app.inject({ method: "GET", url: "/metrics" });
    backend.statsOutcomes = async () => [];
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /billing_http_requests_total/);
  });

  it("/docs/json is an OpenAPI 3 document covering every route with its schemas", async () => {
    const res = await app.inject({ method: "GET", url: "/docs/json" });
    assert.equal(res.statusCode, 200);
    const doc = json(res);
    assert.match(doc.openapi, /^3\./);
    const paths = Object.keys(doc.paths).sort();
    assert.deepEqual(paths, [
      "/health", "/metrics",
      "/storage/customers/create", "/storage/customers/{customer_id}", "/storage/customers/{customer_id}/update_balance", "/storage/customers/{customer_id}/update_consumption",
      "/v1/customers", "/v1/customers/{customer_id}", "/v1/customers/{customer_id}/accounts", "/v1/customers/{customer_id}/accounts/{account_id}",
      "/v1/customers/{customer_id}/accounts/{account_id}/deposits", "/v1/customers/{customer_id}/accounts/{account_id}/ledger",
      "/v1/customers/{customer_id}/accounts/{account_id}/rate", "/v1/notifications/pending",
    ]);
    const deposit = doc.paths["/v1/customers/{customer_id}/accounts/{account_id}/deposits"].post;
    assert.ok(deposit.parameters.some((p: any) => p.in === "header" && p.name === "idempotency-key"));
    const amount = deposit.requestBody.content["application/json"].schema.properties.amount;
    assert.ok(JSON.stringify(amount).includes("pattern"));
    assert.equal(deposit.requestBody.content["application/json"].schema.additionalProperties, false);
    assert.ok(deposit.responses["409"].content["application/problem+json"]);
    assert.ok(doc.components.schemas.Problem, "the Problem schema is a named component");
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, { type: "http", scheme: "bearer" });
    assert.deepEqual(doc.paths["/health"].get.security, []);
  });

  it("/docs serves the interactive page with assets from the package, no CDN", async () => {
    const page = await app.inject({ method: "GET", url: "/docs" });
    const html = page.statusCode === 302 ? (await app.inject({ method: "GET", url: String(page.headers["location"]) })).body : page.body;
    assert.match(html, /swagger-ui/i);
    assert.doesNotMatch(html, /https?:\/\/(?!localhost)[a-z0-9.-]+\//i);
    const bundle = await app.inject({ method: "GET", url: "/docs/static/swagger-ui-bundle.js" });
    assert.equal(bundle.statusCode, 200);
    assert.ok(bundle.body.length > 100_000);
  });
});
