/**
 * sync_replication from the topology on a real cluster of 1 replica set × 2
 * instances: a commit waits for the replica, so with the replica gone a write
 * is refused (COMMIT_FAILED, nothing applied) instead of acknowledged and
 * then lost in a failover; with the replica back, writes go through again.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { isRouterError } from "../src/router/index.ts";
import { startTestCluster, type TestCluster } from "./support/cluster.ts";

let t: TestCluster;

before(async () => {
  t = await startTestCluster({ replicasets: 1, instances: 2, sync_replication: true, bucket_count: 300 });
});

after(async () => {
  await t?.close();
});

function create(customer_id: number): Promise<unknown> {
  // Longer than the storage's 5 s quorum timeout, so the storage's answer comes back rather than the router's.
  return t.router.call(customer_id, "billing_create_customer", { customer_id, name: `s${customer_id}`, accounts: [] }, { write: true, timeoutMs: 10_000 });
}

describe("cluster 1×2 with sync_replication", () => {
  it("owns every bucket in its single replica set and commits with the replica up", async () => {
    assert.deepEqual(t.router.status().buckets, { per_replicaset: { rs1: 300 }, unknown: 0 });
    await create(1);
    // The replica acknowledged the commit; it serves the row once the master confirms it.
    const deadline = Date.now() + 5000;
    let copy: unknown;
    while (copy === undefined && Date.now() < deadline) {
      copy = await t.cluster.call("rs1-b", "service", "billing_get_customer", { customer_id: 1 }).catch(() => undefined);
    }
    assert.ok(copy !== undefined, "the replica has the customer");
  });

  it("refuses a write with COMMIT_FAILED when the quorum cannot be reached, and applies nothing", async () => {
    await t.cluster.kill("rs1-b");
    const started = Date.now();
    await assert.rejects(create(2), (error) => isRouterError(error) && error.errorName === "COMMIT_FAILED");
    assert.ok(Date.now() - started >= 4000, "the master waited for the quorum before giving up");
    await assert.rejects(t.router.call(2, "billing_get_customer", { customer_id: 2 }, { write: false }),
      (error) => isRouterError(error) && error.errorName === "CUSTOMER_NOT_FOUND");
  });

  it("commits again once the replica is back", async () => {
    await t.cluster.restart("rs1-b");
    await create(2);
    const customer = await t.router.call<Record<string, unknown>>(2, "billing_get_customer", { customer_id: 2 }, { write: false });
    assert.equal(customer["name"], "s2");
  });
});
