/**
 * Chaos, receiver outage: the full version of test/reliability_receiver_outage.test.ts:
 * the receiver down for 30 s while 1,000 accounts run out on a 2×2 cluster,
 * a master SIGKILLed and restarted in the middle, the notifier's production
 * backoff (100 ms doubling up to 60 s); afterwards every depletion notified.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "./lib/cluster.ts";
import { runReceiverOutage } from "./lib/outage.ts";
import { report } from "./lib/util.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 2, instances: 2, poweroff: { backoff_min_ms: 100, backoff_max_ms: 60_000, pool_size: 32 } });
});
after(async () => {
  await c?.close();
});

describe("chaos: 30 s receiver outage, 1,000 accounts, a master restarted", () => {
  it("notifies every depletion at least once after recovery, none lost", async (t) => {
    const figures = await runReceiverOutage(c, { accounts: 1000, outageMs: 30_000, restartVictim: "rs1-a", seed: 21, drainTimeoutMs: 120_000 });
    report("receiver outage", figures);
    t.diagnostic(JSON.stringify(figures));
    assert.equal(figures.depleted_during_outage, 1000);
    assert.ok(figures.depleted_while_master_down > 0, "some accounts ran out while their master was dead");
    assert.equal(figures.extra_episodes, 0);
    assert.equal(figures.lost, 0, "no notification lost");
    assert.equal(figures.notified, 1000);
    assert.equal(figures.phantom_deliveries, 0);
    assert.equal(figures.bad_deliveries, 0);
  });
});
