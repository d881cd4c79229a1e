/** Chaos, gateway restart: the long version of test/reliability_gateway_restart.test.ts (10 restarts, 48 clients, a 2×2 cluster). */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "./lib/cluster.ts";
import { runGatewayRestart } from "./lib/gateway-restart.ts";
import { report } from "./lib/util.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 2, instances: 2 });
});
after(async () => {
  await c?.close();
});

describe("chaos: gateway restarts under load", () => {
  it("never adds money twice for a retried Idempotency-Key", async (t) => {
    const figures = await runGatewayRestart(c, { accounts: 100, clients: 48, restarts: 10, upMs: 1500, downMs: 300, seed: 44, depositDeadlineMs: 30_000 });
    report("gateway restart", figures);
    t.diagnostic(JSON.stringify(figures));
    assert.ok(figures.retried_deposits > 0);
    assert.equal(figures.unfinished, 0);
    assert.equal(figures.unexpected_answers, 0, JSON.stringify(figures.status_counts));
    assert.equal(figures.double_counted_accounts, 0);
    assert.equal(figures.ledger_mismatches, 0);
  });
});
