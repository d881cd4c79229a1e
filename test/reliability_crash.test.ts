/**
 * Reliability, crash (replica set 1×2): SIGKILL the master during a stream of
 * deposits, start it again on its data, twice; every acknowledged deposit is
 * there, every in-doubt one is settled by replaying its idempotency key, and
 * every balance and ledger is exact against the client's own record.
 * The long version (more cycles, more writers) is in chaos/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "../chaos/lib/cluster.ts";
import { runCrashScenario } from "../chaos/lib/crash.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 1, instances: 2, bucket_count: 300 });
});
after(async () => {
  await c?.close();
});

describe("crash: SIGKILL of a master under a deposit stream", () => {
  it("loses no acknowledged deposit and leaves every balance exact", async (t) => {
    const figures = await runCrashScenario(c, { accounts: 40, writers: 16, cycles: 2, streamMs: 1200, downMs: 300, seed: 1 });
    t.diagnostic(`crash figures: ${JSON.stringify(figures)}`);
    assert.ok(figures.acknowledged > 500, `too few deposits to mean anything: ${figures.acknowledged}`);
    assert.ok(figures.in_doubt > 0, "the kills interrupted the stream (some deposits in doubt)");
    assert.equal(figures.acknowledged_lost, 0, "every acknowledged deposit survives the crash");
    assert.equal(figures.balance_mismatches, 0, "every balance equals the client's record");
    assert.equal(figures.ledger_mismatches, 0, "the ledger holds every key exactly once");
    assert.equal(figures.in_doubt_applied + figures.in_doubt_not_applied, figures.in_doubt);
  });
});
