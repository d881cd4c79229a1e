/**
 * Chaos, bad input: test/badinput_gateway.test.ts's corpus with 12 times the
 * fuzzed bodies, against a 2×2 cluster; the storage checksum of every master
 * and replica is unchanged. Known-bug classes are left to the npm-test todo.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startGateway, type RunningGateway } from "../src/gateway/server.ts";
import { routerBackend } from "../src/gateway/backend.ts";
import { startChaosCluster, type ChaosCluster } from "./lib/cluster.ts";
import { corpus, isProperRefusal, send } from "./lib/badinput.ts";
import { inPool, report } from "./lib/util.ts";

let c: ChaosCluster;
let gateway: RunningGateway;
const TARGETS = { customer_id: 900_001, account_id: 7, new_customer_id: 900_002, unknown_customer_id: 900_003 };
const INSTANCES = ["rs1-a", "rs1-b", "rs2-a", "rs2-b"];

before(async () => {
  c = await startChaosCluster({ replicasets: 2, instances: 2 });
  const { customer_id, account_id } = TARGETS;
  await c.router.call(customer_id, "billing_create_customer", { customer_id, name: "target", accounts: [{ account_id, name: "main" }] }, { write: true });
  await c.router.call(customer_id, "billing_deposit", { customer_id, account_id, amount: "100" }, { write: true });
  gateway = await startGateway({ backend: routerBackend({ router: c.newRouter() }), port: 0 });
});
after(async () => {
  await gateway?.close();
  await c?.close();
});

describe("chaos: bad input against a 2×2 cluster", () => {
  it("refuses every malformed request with 4xx problem+json and changes nothing anywhere", async (t) => {
    await new Promise((resolve) => setTimeout(resolve, 300)); // replicas catch up before the first checksum
    const checksums = async (): Promise<unknown[]> => await Promise.all(INSTANCES.map((name) => c.hook(name, "billing_test_checksum")));
    const before = await checksums();
    const requests = corpus(TARGETS, 300);
    const answers = await inPool(requests, 16, (request) => send(gateway.url, request));
    const statuses: Record<string, number> = {};
    const wrong: string[] = [];
    answers.forEach((answer, i) => {
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (!isProperRefusal(answer)) wrong.push(`${requests[i]!.label} → ${answer.status} ${answer.contentType} ${answer.body.slice(0, 120)}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await checksums();
    report("bad input", { requests: requests.length, statuses, improper: wrong.length });
    t.diagnostic(JSON.stringify({ requests: requests.length, statuses, improper: wrong.length }));
    assert.deepEqual(wrong.slice(0, 15), []);
    assert.deepEqual(after, before, "a storage node changed");
  });
});
