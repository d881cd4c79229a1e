/** Chaos, model check: 500 longer histories (up to 60 steps) of test/model_billing.test.ts. FC_SEED=<seed> replays a run. */
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { startSingleNode, type SingleNode } from "../test/support/single-node.ts";
import { historyArb, runHistory } from "./lib/model.ts";
import { report } from "./lib/util.ts";

let f: SingleNode;

before(async () => {
  f = await startSingleNode({ test_hooks: true, idempotency_ttl_ms: 30 * 24 * 3600 * 1000 });
});
after(async () => {
  await f?.close();
});

describe("chaos: model check", () => {
  it("matches the exact reference model on 500 histories", async (t) => {
    let customer_id = 50_000_000;
    const totals = { histories: 0, steps: 0, episodes: 0, clock_advanced_ms: 0 };
    const target = { call: f.call, hook: async (procedure: string, request: Record<string, unknown>) => (await f.admin.call(procedure, [request]))[0], receiver: f.receiver };
    const seed = process.env["FC_SEED"] === undefined ? Date.now() % 1_000_000_007 : Number(process.env["FC_SEED"]);
    await fc.assert(fc.asyncProperty(historyArb(60), async (history) => {
      const figures = await runHistory(target, customer_id++, history);
      totals.histories += 1;
      totals.steps += figures.steps;
      totals.episodes += figures.episodes;
      totals.clock_advanced_ms += figures.clock_advanced_ms;
    }), { numRuns: 500, seed, includeErrorInReport: true, interruptAfterTimeLimit: 600_000 });
    report("model check", { seed, ...totals });
    t.diagnostic(`seed ${seed}: ${JSON.stringify(totals)}`);
    // Delivery is at least once: a repeated event id is allowed (and counted); a second episode is not (checked per history).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = new Map<string, number>();
    for (const d of f.receiver.deliveries) seen.set(d.event_id ?? "", (seen.get(d.event_id ?? "") ?? 0) + 1);
    t.diagnostic(`repeated deliveries of one event: ${[...seen.values()].filter((n) => n > 1).length}`);
  });
});
