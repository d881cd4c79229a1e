/**
 * Reliability, receiver outage (cluster 2×2): the power-off receiver is down
 * for 3 s while 200 accounts run out of money, and a storage master is
 * SIGKILLed and restarted in the middle; once the receiver is back every
 * depletion is notified at least once with the event id of its ledger row,
 * none lost. The full version (30 s, 1,000 accounts) is in chaos/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "../chaos/lib/cluster.ts";
import { runReceiverOutage } from "../chaos/lib/outage.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 2, instances: 2, bucket_count: 300 });
});
after(async () => {
  await c?.close();
});

describe("receiver outage with a master restart", () => {
  it("notifies every depletion at least once after recovery, none lost", async (t) => {
    const figures = await runReceiverOutage(c, { accounts: 200, outageMs: 3000, restartVictim: "rs1-a", seed: 2, drainTimeoutMs: 20_000 });
    t.diagnostic(`receiver outage figures: ${JSON.stringify(figures)}`);
    assert.equal(figures.depleted_during_outage, 200, "every account ran out while the receiver was down");
    assert.ok(figures.depleted_while_master_down > 0, "some accounts ran out while their master was dead");
    assert.equal(figures.extra_episodes, 0, "one depletion per account");
    assert.equal(figures.lost, 0, "no notification lost");
    assert.equal(figures.notified, 200);
    assert.equal(figures.phantom_deliveries, 0, "no notification for a depletion the ledger does not hold");
    assert.equal(figures.bad_deliveries, 0, "every delivery names the right user, account, zero instant, with a valid signature");
  });
});
