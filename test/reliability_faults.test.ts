/**
 * The reliability scenarios can fail: run with a fault injected in the storage
 * (src/storage/faults.ts, test hooks), each must see the damage.
 * - deposit_forget_key (a retried deposit no longer finds its idempotency key
 *   and adds money again): the crash scenario's replays count acknowledged
 *   deposits "lost" and balances off;
 * - outbox_drop_failed (a notification dropped after a failed attempt): the
 *   receiver-outage scenario counts lost notifications.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster } from "../chaos/lib/cluster.ts";
import { runCrashScenario } from "../chaos/lib/crash.ts";
import { runReceiverOutage } from "../chaos/lib/outage.ts";

describe("faults are caught", () => {
  it("crash: a deposit whose retry adds money again is caught by the replays", async (t) => {
    const c = await startChaosCluster({ replicasets: 2, instances: 1, bucket_count: 300 });
    try {
      // rs1's master is killed and restarted (its faults die with it); rs2's keeps the fault.
      const status = (await c.hook("rs2-a", "billing_test_fault", { name: "deposit_forget_key", enabled: true })) as Record<string, unknown>;
      assert.equal(status["deposit_forget_key"], true);
      const figures = await runCrashScenario(c, { accounts: 20, writers: 8, cycles: 1, streamMs: 500, downMs: 100, seed: 5, victim: "rs1-a" });
      t.diagnostic(`with the fault: ${JSON.stringify(figures)}`);
      assert.ok(figures.acknowledged_lost > 0, "the replays did not notice deposits applied again");
      assert.ok(figures.balance_mismatches > 0 && figures.ledger_mismatches > 0, "the balances and ledgers did not show the doubled deposits");
    } finally {
      await c.close();
    }
  });

  it("receiver outage: notifications dropped after a failed attempt are counted lost", async (t) => {
    const c = await startChaosCluster({ replicasets: 2, instances: 1, bucket_count: 300 });
    try {
      for (const master of ["rs1-a", "rs2-a"]) await c.hook(master, "billing_test_fault", { name: "outbox_drop_failed", enabled: true });
      const figures = await runReceiverOutage(c, { accounts: 60, outageMs: 1500, seed: 6, drainTimeoutMs: 3000 });
      t.diagnostic(`with the fault: ${JSON.stringify(figures)}`);
      assert.ok(figures.lost > 0, "the scenario did not see lost notifications");
    } finally {
      await c.close();
    }
  });
});
