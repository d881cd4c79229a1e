/**
 * Reliability, failover: a master is SIGKILLed under a deposit stream, a
 * replica promoted (the operator's `promote`), the router follows.
 * - sync_replication, replica set of 2, the replica frozen (SIGSTOP) for the
 *   last 500 ms before the kill: no acknowledged deposit is lost (writes wait
 *   until the old master is back as a replica: quorum 2 of 2);
 * - asynchronous, replica set of 2: the loss window is measured and bounded;
 * - sync_replication, replica set of 3, straight after bootstrap: the new
 *   master must commit with the remaining replica (quorum 2 of 3).
 * More runs of each are in chaos/ (npm run chaos).
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster } from "../chaos/lib/cluster.ts";
import { runFailover, type FailoverFigures, type FailoverOptions } from "../chaos/lib/failover.ts";

async function failover(instances: number, sync: boolean, options: Partial<FailoverOptions> = {}): Promise<FailoverFigures> {
  const c = await startChaosCluster({ replicasets: 1, instances, sync_replication: sync, bucket_count: 30 });
  try {
    return await runFailover(c, {
      replicaset: "rs1", promoteTo: "rs1-b", accounts: 20, writers: 16, streamMs: 1200, afterMs: 800, seed: 3,
      rejoinOldMaster: sync && instances === 2, resumeTimeoutMs: 8000, ...options,
    });
  } finally {
    await c.close();
  }
}

describe("failover, sync_replication, replica set of 2", () => {
  let figures: FailoverFigures;
  before(async () => {
    // The replica is frozen for the last 500 ms before the kill: a lagging replica, which sync_replication must cover.
    figures = await failover(2, true, { freezeReplicaMs: 500 });
  });

  it("loses no acknowledged deposit", (t) => {
    t.diagnostic(`failover sync 1x2: ${JSON.stringify(figures)}`);
    assert.ok(figures.acknowledged_before_kill > 200, `too few deposits before the kill: ${figures.acknowledged_before_kill}`);
    assert.equal(figures.lost, 0, "an acknowledged deposit is missing on the promoted replica");
    assert.equal(figures.lost_after_promote, 0);
    assert.equal(figures.balance_mismatches, 0, "balances equal the sum of the ledger's deposits");
  });

  // When the master dies between replicating a synchronous transaction and its CONFIRM, the
  // promoted replica holds it queued (limbo) and refuses writes. A 2-node set has no quorum until
  // the old master returns; then Cluster.restart (and the next refused write) clears the queue.
  it("writes again through the router once the old master is back", () => {
    assert.deepEqual(figures.unexpected_refusals, {});
    assert.equal(figures.resumed, true, "no deposit acknowledged after the promotion");
    assert.ok(figures.acknowledged_after_promote > 0);
  });
});

describe("failover, asynchronous replication, replica set of 2", () => {
  it("loses only the acknowledged deposits of the last moments, and the router follows", async (t) => {
    const figures = await failover(2, false);
    t.diagnostic(`failover async 1x2: ${JSON.stringify(figures)}`);
    assert.ok(figures.acknowledged_before_kill > 200, `too few deposits before the kill: ${figures.acknowledged_before_kill}`);
    assert.ok(figures.loss_window_ms < 500, `acknowledged deposits lost from ${figures.loss_window_ms} ms before the master died`);
    assert.equal(figures.resumed, true, "the router found the new master");
    assert.ok(figures.write_outage_ms < 5000, `writes stopped for ${figures.write_outage_ms} ms`);
    assert.deepEqual(figures.unexpected_refusals, {});
    assert.equal(figures.lost_after_promote, 0);
    assert.equal(figures.balance_mismatches, 0, "balances equal the sum of the ledger's deposits");
  });
});

describe("failover, sync_replication, replica set of 3 straight after bootstrap", () => {
  // Replication is a full mesh after bootstrap (Cluster.meshReplication), so the third instance
  // follows the promoted one, and the two live members confirm or roll back the dead master's queue.
  it("commits again with the remaining replica", async (t) => {
    const figures = await failover(3, true);
    t.diagnostic(`failover sync 1x3: ${JSON.stringify(figures)}`);
    assert.equal(figures.lost, 0);
    assert.equal(figures.resumed, true, "no deposit acknowledged after the promotion");
  });
});
