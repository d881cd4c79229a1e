/**
 * Reliability, gateway restart under load (replica set 1×1): HTTP clients
 * retry each deposit with its Idempotency-Key through the gateway while the
 * gateway is stopped and started again (close(), half of them cutting
 * in-flight connections at once); no deposit counts twice.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "../chaos/lib/cluster.ts";
import { runGatewayRestart } from "../chaos/lib/gateway-restart.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 1, instances: 1, bucket_count: 30 });
});
after(async () => {
  await c?.close();
});

describe("gateway restart under load", () => {
  it("never adds money twice for a retried Idempotency-Key", async (t) => {
    const figures = await runGatewayRestart(c, { accounts: 20, clients: 24, restarts: 4, upMs: 700, downMs: 150, seed: 4, depositDeadlineMs: 15_000 });
    t.diagnostic(`gateway restart figures: ${JSON.stringify(figures)}`);
    assert.ok(figures.deposits > 300, `too few deposits to mean anything: ${figures.deposits}`);
    assert.ok(figures.retried_deposits > 0, "the restarts made clients retry");
    assert.equal(figures.unfinished, 0, "every deposit was acknowledged in the end");
    assert.equal(figures.unexpected_answers, 0, `only 200, 503 or 504 expected: ${JSON.stringify(figures.status_counts)}`);
    assert.equal(figures.double_counted_accounts, 0, "a balance differs from the sum of its deposits");
    assert.equal(figures.ledger_mismatches, 0, "a key is missing from the ledger or there twice");
  });
});
