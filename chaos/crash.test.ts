/** Chaos, crash: the long version of test/reliability_crash.test.ts (more cycles, writers, accounts; both replica sets of a 2×2 cluster). */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startChaosCluster, type ChaosCluster } from "./lib/cluster.ts";
import { runCrashScenario, type CrashFigures } from "./lib/crash.ts";
import { report } from "./lib/util.ts";

let c: ChaosCluster;

before(async () => {
  c = await startChaosCluster({ replicasets: 2, instances: 2 });
});
after(async () => {
  await c?.close();
});

function expectExact(figures: CrashFigures): void {
  assert.ok(figures.in_doubt > 0, "the kills interrupted the stream");
  assert.equal(figures.acknowledged_lost, 0, "every acknowledged deposit survives the crash");
  assert.equal(figures.balance_mismatches, 0, "every balance equals the client's record");
  assert.equal(figures.ledger_mismatches, 0, "the ledger holds every key exactly once");
}

describe("chaos: SIGKILL of a master under a deposit stream", () => {
  for (const [victim, seed, first] of [["rs1-a", 11, 1_100_000], ["rs2-a", 12, 1_200_000]] as const) {
    it(`${victim}: 5 kills, 32 writers, 200 accounts`, async (t) => {
      const figures = await runCrashScenario(c, { accounts: 200, writers: 32, cycles: 5, streamMs: 2000, downMs: 500, seed, victim, firstCustomerId: first });
      report(`crash ${victim}`, figures);
      t.diagnostic(JSON.stringify(figures));
      expectExact(figures);
    });
  }
});
