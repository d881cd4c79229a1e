/**
 * Scenario 3: the seed's approach on the same accounts and the same zero
 * instants as scenario 1: a periodic full scan paced like expirationd with
 * its defaults (1,024 tuples per iteration, full_scan_time 3,600 s, at most
 * 1 s between iterations, 1 s between passes), charging at each visit
 * (bench/lua/seed.lua, a bench-only instance). Its latency beside ours.
 */
import { analyze, deliveryCheck, type Context } from "../lib/context.ts";
import { IDS, chunks, spreadSchedule } from "../lib/plan.ts";
import { distribution, emptyOutcome, type Outcome } from "../lib/report.ts";
import type { Summary } from "../lib/stats.ts";
import { BenchInstance } from "../lib/tarantool.ts";

/** expirationd's pacing: with fewer than 3.6 M tuples every 1,024-tuple iteration is followed by a 1 s sleep. */
function passEstimateS(accounts: number): number {
  return Math.ceil(accounts / 1024) + 1;
}

export async function seedScenario(ctx: Context, ours: Summary): Promise<Outcome> {
  const { plan, receiver } = ctx;
  const outcome = emptyOutcome();
  const total = plan.background_accounts + plan.depleting_accounts;
  const seed = await BenchInstance.start("seed", { memtx_memory_mb: 512 });
  try {
    ctx.log(`3 seed scan: ${total} accounts, ${plan.depleting_accounts} running out over ${plan.depletion_window_ms} ms; a pass takes ≈ ${passEstimateS(total)} s`);
    await seed.call("seed_populate", IDS.background_first, plan.background_accounts, "36000", "1");
    await seed.call("seed_populate", IDS.depleting_first, plan.depleting_accounts, "36000", "1");
    await seed.call("seed_start", receiver.url, ctx.pool_size);
    await receiver.reset();
    const start_ms = Date.now() + 2000;
    const schedule = spreadSchedule(IDS.depleting_first, plan.depleting_accounts, start_ms, plan.depletion_window_ms, 42);
    for (const chunk of chunks(schedule, 20_000)) await seed.call("seed_schedule", chunk);
    const wait_ms = 2000 + plan.depletion_window_ms + 2 * passEstimateS(total) * 1000 + 30_000;
    const seen = await receiver.waitFor(schedule.length, wait_ms);
    const delivered = analyze(await receiver.dump(), new Map(schedule.map(([id, at]) => [id, at])));
    const stats = await seed.call<Record<string, unknown>>("seed_stats");
    if (seen < schedule.length) outcome.notes.push(`3 seed scan: only ${seen} of ${schedule.length} GETs within ${wait_ms} ms`);

    const label = `3 seed's expirationd scan (${total.toLocaleString("en-US")} accounts)`;
    const scanName = "expirationd-paced scan";
    for (const [metric, key] of [["p50", "p50"], ["p99", "p99"], ["max", "max"]] as const) {
      outcome.rows.push({ scenario: label, metric: `depletion latency ${metric}`, unit: "ms", ours: ours[key], baseline_name: scanName, baseline: delivered.summary[key], goal: "", met: null });
    }
    outcome.distributions.push(distribution("3 seed: expirationd scan", "notification", delivered.latencies_ms, false));
    outcome.notes.push(deliveryCheck("3 seed scan", delivered, schedule.length));
    const passes = (stats["pass_s"] as number[] | undefined) ?? [];
    outcome.notes.push(`3 seed scan: full passes took ${passes.map((s) => s.toFixed(1)).join(", ")} s; at 1,000,000 accounts a pass would take ≈ ${passEstimateS(1_000_000)} s (${(passEstimateS(1_000_000) / 60).toFixed(1)} min)`);
    outcome.raw = { accounts: total, depleting: plan.depleting_accounts, summary: delivered.summary, stats, pass_estimate_s: passEstimateS(total) };
  } finally {
    await seed.stop();
  }
  return outcome;
}
