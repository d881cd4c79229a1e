/**
 * Bad input: a generated corpus of more than 1,000 malformed requests against
 * every billing route of the gateway (seed and /v1), over a real socket, to a
 * real storage node through the real router (chaos/lib/badinput.ts). Every
 * one is answered 4xx with application/problem+json, none 5xx, and the
 * storage is untouched: the checksum of every stored customer and account and
 * the row counts of every space (ledgers included) are the same afterwards.
 * Malformed URLs, over-long path parameters and foreign charsets (refused
 * before routing, by Fastify itself) are checked in a test of their own.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startGateway, type RunningGateway } from "../src/gateway/server.ts";
import { routerBackend } from "../src/gateway/backend.ts";
import { Router } from "../src/router/index.ts";
import { SERVICE, startSingleNode, type SingleNode } from "./support/single-node.ts";
import { corpus, isProperRefusal, send, type BadRequest } from "../chaos/lib/badinput.ts";
import { inPool } from "../chaos/lib/util.ts";

let f: SingleNode;
let gateway: RunningGateway;
const TARGETS = { customer_id: 900_001, account_id: 7, new_customer_id: 900_002, unknown_customer_id: 900_003 };
const requests = corpus(TARGETS);

before(async () => {
  f = await startSingleNode({ test_hooks: true });
  const { customer_id, account_id } = TARGETS;
  await f.call("billing_create_customer", { customer_id, name: "target", accounts: [{ account_id, name: "main" }] });
  await f.call("billing_deposit", { customer_id, account_id, amount: "100", idempotency_key: "seed" });
  const router = new Router({ replicasets: { rs1: { instances: [{ name: "solo", host: "127.0.0.1", port: f.node.port }] } }, bucket_count: 3000, credentials: SERVICE });
  await router.connect(10_000);
  gateway = await startGateway({ backend: routerBackend({ router }), port: 0 });
});
after(async () => {
  await gateway?.close();
  await f?.close();
});

async function checksum(): Promise<unknown> {
  return (await f.admin.call("billing_test_checksum", [{}]))[0];
}

/** Sends every request; returns the improper answers (label → status, type, body) and the statuses seen. */
async function run(batch: BadRequest[]): Promise<{ wrong: string[]; statuses: Record<string, number> }> {
  const answers = await inPool(batch, 8, (request) => send(gateway.url, request));
  const statuses: Record<string, number> = {};
  const wrong: string[] = [];
  answers.forEach((answer, i) => {
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    if (!isProperRefusal(answer)) wrong.push(`${batch[i]!.label} → ${answer.status} ${answer.contentType} ${answer.body.slice(0, 120)}`);
  });
  return { wrong, statuses };
}

describe("bad input", () => {
  it("answers every malformed request 4xx with a problem+json body and changes nothing", async (t) => {
    const batch = requests.filter((request) => request.knownIssue === undefined);
    assert.ok(batch.length >= 1000, `the corpus has only ${batch.length} requests`);
    const before = await checksum();
    const { wrong, statuses } = await run(batch);
    const after = await checksum();
    t.diagnostic(`bad input: ${batch.length} requests, statuses ${JSON.stringify(statuses)}, improper ${wrong.length}`);
    assert.deepEqual(wrong.slice(0, 15), [], `${wrong.length} requests were not refused with 4xx problem+json`);
    assert.deepEqual(after, before, "the storage changed");
    const [account] = await f.call("billing_get_account", { customer_id: TARGETS.customer_id, account_id: TARGETS.account_id });
    assert.equal(account.balance, "100");
    assert.equal(account.ledger_seq, 1, "the target's ledger still has its one entry");
  });

  it("answers malformed URLs, over-long path parameters and foreign charsets the same way",
    async (t) => {
      const batch = requests.filter((request) => request.knownIssue !== undefined);
      const before = await checksum();
      const { wrong, statuses } = await run(batch);
      const after = await checksum();
      t.diagnostic(`known issues: ${batch.length} requests, statuses ${JSON.stringify(statuses)}, improper ${wrong.length}`);
      assert.deepEqual(wrong.slice(0, 10), []);
      assert.deepEqual(after, before, "the storage changed");
    });
});
