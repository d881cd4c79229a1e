/**
 * Chaos, failover: repeated runs of test/reliability_failover.test.ts's
 * scenarios. Asynchronous replication: the loss window measured over 5 runs
 * (reported; bounded). sync_replication, replica set of 2: no acknowledged
 * deposit lost over 3 runs, the replica lagging 0, 500 and 1500 ms (frozen);
 * writes resuming afterwards under this load is still todo (open).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster } from "./lib/cluster.ts";
import { runFailover, type FailoverFigures, type FailoverOptions } from "./lib/failover.ts";
import { report } from "./lib/util.ts";

async function failover(instances: number, sync: boolean, seed: number, options: Partial<FailoverOptions> = {}): Promise<FailoverFigures> {
  const c = await startChaosCluster({ replicasets: 1, instances, sync_replication: sync, bucket_count: 30 });
  try {
    return await runFailover(c, {
      replicaset: "rs1", promoteTo: "rs1-b", accounts: 50, writers: 32, streamMs: 3000, afterMs: 1500, seed,
      rejoinOldMaster: sync && instances === 2, resumeTimeoutMs: 10_000, ...options,
    });
  } finally {
    await c.close();
  }
}

describe("chaos: asynchronous failover, loss window over 5 runs", () => {
  it("loses only the last moments' acknowledged deposits", async (t) => {
    const runs: FailoverFigures[] = [];
    for (let run = 0; run < 5; run++) runs.push(await failover(2, false, 30 + run));
    const summary = {
      runs: runs.length,
      lost: runs.map((r) => r.lost),
      loss_window_ms: runs.map((r) => r.loss_window_ms),
      acknowledged_before_kill: runs.map((r) => r.acknowledged_before_kill),
      write_outage_ms: runs.map((r) => r.write_outage_ms),
      promote_ms: runs.map((r) => r.promote_ms),
    };
    report("failover async", summary);
    t.diagnostic(JSON.stringify(summary));
    for (const r of runs) {
      assert.ok(r.loss_window_ms < 500, `lost acknowledgements from ${r.loss_window_ms} ms before the kill`);
      assert.equal(r.resumed, true);
      assert.equal(r.lost_after_promote, 0);
      assert.equal(r.balance_mismatches, 0);
      assert.deepEqual(r.unexpected_refusals, {});
    }
  });
});

describe("chaos: synchronous failover (1×2), 3 runs", () => {
  const runs: FailoverFigures[] = [];
  it("loses no acknowledged deposit", async (t) => {
    // The replica lags by 0, 500 and 1500 ms (frozen with SIGSTOP) when the master dies.
    for (const [run, freezeReplicaMs] of [0, 500, 1500].entries()) {
      runs.push(await failover(2, true, 40 + run, freezeReplicaMs === 0 ? {} : { freezeReplicaMs }));
    }
    const summary = { lost: runs.map((r) => r.lost), resumed: runs.map((r) => r.resumed), refusals: runs.map((r) => r.unexpected_refusals),
      write_outage_ms: runs.map((r) => r.write_outage_ms), acknowledged_before_kill: runs.map((r) => r.acknowledged_before_kill) };
    report("failover sync 1x2", summary);
    t.diagnostic(JSON.stringify(summary));
    for (const r of runs) {
      assert.equal(r.lost, 0);
      assert.equal(r.lost_after_promote, 0);
      assert.equal(r.balance_mismatches, 0);
    }
  });
  it("writes again after every failover", { todo: "open: under this load (32 writers) a 2-node synchronous set still does not resume writes within 10 s of the old master's return; the lighter npm-test case and 3-node sets do" }, () => {
    for (const r of runs) assert.equal(r.resumed, true, JSON.stringify(r.unexpected_refusals));
  });
});
