/**
 * Model check (fast-check): random histories of deposits, idempotent
 * replays, rate changes, reads, pauses and clock jumps run on a real node
 * against an exact BigInt reference model (chaos/lib/model.ts): balances,
 * views, ledgers and depletion instants match exactly; every depletion is
 * notified once, never before its zero instant. 50 histories here; the
 * chaos suite runs many more. A failure prints the seed and the shrunk
 * history: rerun with FC_SEED=<seed> to replay it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { startSingleNode, type SingleNode } from "./support/single-node.ts";
import { historyArb, runHistory } from "../chaos/lib/model.ts";

let f: SingleNode;

before(async () => {
  f = await startSingleNode({ test_hooks: true, idempotency_ttl_ms: 30 * 24 * 3600 * 1000 });
});
after(async () => {
  await f?.close();
});

describe("model check against an exact reference", () => {
  it("matches the model on random histories of deposits, rate changes and time steps", async (t) => {
    let customer_id = 5_000_000;
    const totals = { histories: 0, steps: 0, episodes: 0, clock_advanced_ms: 0 };
    const target = { call: f.call, hook: async (procedure: string, request: Record<string, unknown>) => (await f.admin.call(procedure, [request]))[0], receiver: f.receiver };
    const seed = process.env["FC_SEED"] === undefined ? Date.now() % 1_000_000_007 : Number(process.env["FC_SEED"]);
    await fc.assert(fc.asyncProperty(historyArb(30), async (history) => {
      const figures = await runHistory(target, customer_id++, history);
      totals.histories += 1;
      totals.steps += figures.steps;
      totals.episodes += figures.episodes;
      totals.clock_advanced_ms += figures.clock_advanced_ms;
    }), { numRuns: 50, seed, endOnFailure: false, interruptAfterTimeLimit: 120_000, includeErrorInReport: true });
    t.diagnostic(`model check (seed ${seed}): ${JSON.stringify(totals)}`);
    // Delivery is at least once: a repeated event id is allowed (and counted); a second episode is not (checked per history).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = new Map<string, number>();
    for (const d of f.receiver.deliveries) seen.set(d.event_id ?? "", (seen.get(d.event_id ?? "") ?? 0) + 1);
    t.diagnostic(`repeated deliveries of one event: ${[...seen.values()].filter((n) => n > 1).length}`);
    assert.ok(totals.episodes > 0, "the histories made some accounts run out");
  });
});
