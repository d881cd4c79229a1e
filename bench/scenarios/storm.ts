/**
 * Scenario 2: a storm. Every background account of scenario 1 is made due at
 * the same instant on the one replica set (test hook); measured: the time
 * until the receiver has every GET, notifications per second, and that each
 * was delivered exactly once.
 *
 * Baseline: raw GETs from a pool of as many Tarantool fibers (http.client,
 * keep-alive, the same headers) to the same receiver: what http.client and
 * the receiver can carry on this machine, with no engine work at all.
 */
import { join } from "node:path";
import { REPO_ROOT } from "../../src/cluster/storage-process.ts";
import { analyze, deliveryCheck, type Context } from "../lib/context.ts";
import { IDS, chunks } from "../lib/plan.ts";
import { distribution, emptyOutcome, type Outcome } from "../lib/report.ts";
import { cpuSeconds, sleep, type BillingNode } from "../lib/tarantool.ts";

const HOOK_CHUNK = 10_000;

export async function stormScenario(ctx: Context, node: BillingNode): Promise<Outcome> {
  const { plan, receiver, floor } = ctx;
  const outcome = emptyOutcome();
  const count = plan.background_accounts;
  const ids = Array.from({ length: count }, (_, i) => IDS.background_first + i);
  const zeros = (at: number): Map<number, number> => new Map(ids.map((id) => [id, at]));

  ctx.log(`2 storm: ours, ${count} accounts due at one instant`);
  const profileFile = join(REPO_ROOT, "bench/results", `profile-storm-${plan.quick ? "quick" : "full"}.txt`);
  if (ctx.profile) await node.adminCall("billing_test_profile", { enable: true, jit_start: process.env["BENCH_JIT_MODE"] ?? "Fi1", jit_file: profileFile });
  await receiver.reset();
  const at_ms = Date.now() + 1500 + Math.ceil(count / 20);
  for (const chunk of chunks(ids, HOOK_CHUNK)) {
    await node.adminCall("billing_test_schedule_depletion", { accounts: chunk.map((id) => [id, 1]), depletes_at_ms: at_ms });
  }
  const cpu0 = [cpuSeconds(node.process.pid), cpuSeconds(receiver.pid), cpuSeconds(node.process.pid, node.process.pid)];
  const seen = await receiver.waitFor(count, 300_000);
  const cpu1 = [cpuSeconds(node.process.pid), cpuSeconds(receiver.pid), cpuSeconds(node.process.pid, node.process.pid)];
  const ours = analyze(await receiver.dump(), zeros(at_ms));
  const profile = ctx.profile ? await node.adminCall("billing_test_profile", { enable: false, jit_stop: true }) : undefined;
  if (ctx.profile) outcome.notes.push(`2 storm: LuaJIT profile of the billing node in ${profileFile}`);
  let drained_ms = NaN;
  for (let i = 0; i < 1000; i++) {
    const stats = await node.adminCall<{ notifier: { outbox_depth: number } }>("billing_stats");
    if (stats.notifier.outbox_depth === 0) {
      drained_ms = Date.now() - at_ms;
      break;
    }
    await sleep(20);
  }
  const stats = await node.adminCall<Record<string, any>>("billing_stats");
  if (seen < count) outcome.notes.push(`2 storm: only ${seen} of ${count} GETs arrived`);

  ctx.log(`2 storm: baseline, ${count} raw http.client GETs from ${ctx.pool_size} fibers`);
  await receiver.reset();
  const at2_ms = Date.now() + 1000;
  await floor.call("bench_burst_gets", receiver.url, IDS.background_first, count, ctx.pool_size, at2_ms);
  const cpu2 = [cpuSeconds(floor.pid), cpuSeconds(receiver.pid), cpuSeconds(floor.pid, floor.pid)];
  await receiver.waitFor(count, 300_000);
  const cpu3 = [cpuSeconds(floor.pid), cpuSeconds(receiver.pid), cpuSeconds(floor.pid, floor.pid)];
  const base = analyze(await receiver.dump(), zeros(at2_ms));

  const all_ms = ours.last_ms - at_ms;
  const base_all_ms = base.last_ms - at2_ms;
  const label = `2 storm (${count.toLocaleString("en-US")} due at once)`;
  const rawName = `raw http.client GETs, ${ctx.pool_size} fibers`;
  const rate = count / (all_ms / 1000);
  const baseRate = count / (base_all_ms / 1000);
  outcome.rows.push(
    { scenario: label, metric: "all GETs received after", unit: "ms", ours: all_ms, baseline_name: rawName, baseline: base_all_ms, goal: "", met: null },
    { scenario: label, metric: "notifications/s", unit: "/s", ours: rate, baseline_name: rawName, baseline: baseRate, goal: "≥ 20,000/s", met: rate >= 20_000 },
    {
      scenario: label, metric: "GETs per account", unit: "", ours: ours.deliveries / count, baseline_name: rawName, baseline: base.deliveries / count,
      goal: "exactly 1", met: ours.deliveries === count && ours.unique_users === count && ours.unique_events === count,
    },
  );
  outcome.distributions.push(distribution("2 storm: ours", "notification", ours.latencies_ms, true));
  outcome.distributions.push(distribution("2 storm: raw GETs", "notification", base.latencies_ms, false));
  outcome.notes.push(deliveryCheck("2 storm (ours)", ours, count));
  const us = (seconds: number): string => `${((seconds * 1e6) / count).toFixed(1)} µs`;
  const busy = (seconds: number, ms: number): string => `${Math.round((seconds * 100_000) / ms)}%`;
  outcome.notes.push(`2 storm: CPU per notification: Tarantool ${us(cpu1[0]! - cpu0[0]!)}, of it the TX thread ${us(cpu1[2]! - cpu0[2]!)} (raw GETs: ${us(cpu3[0]! - cpu2[0]!)}, TX ${us(cpu3[2]! - cpu2[2]!)}); receiver ${us(cpu1[1]! - cpu0[1]!)} (raw GETs: ${us(cpu3[1]! - cpu2[1]!)}). TX thread busy ${busy(cpu1[2]! - cpu0[2]!, all_ms)} of the storm (raw GETs: ${busy(cpu3[2]! - cpu2[2]!, base_all_ms)})`);
  outcome.notes.push(`2 storm: first GET ${(ours.first_ms - at_ms).toFixed(1)} ms after the instant (baseline ${(base.first_ms - at2_ms).toFixed(1)} ms); outbox empty ${drained_ms} ms after it; new TCP connections to the receiver during the storm: ${ours.connections} (baseline ${base.connections}), kept-alive ones carry the rest`);
  outcome.raw = {
    count,
    cpu_s: {
      ours_tarantool: cpu1[0]! - cpu0[0]!, ours_tx: cpu1[2]! - cpu0[2]!, ours_receiver: cpu1[1]! - cpu0[1]!,
      baseline_tarantool: cpu3[0]! - cpu2[0]!, baseline_tx: cpu3[2]! - cpu2[2]!, baseline_receiver: cpu3[1]! - cpu2[1]!,
    },
    ours: { all_ms, rate_per_s: rate, summary: ours.summary, first_ms: ours.first_ms - at_ms, drained_ms, deliveries: ours.deliveries, unique_users: ours.unique_users, unique_events: ours.unique_events, connections: ours.connections, notifier: stats["notifier"], scheduler: stats["scheduler"], profile },
    baseline: { all_ms: base_all_ms, rate_per_s: baseRate, summary: base.summary, first_ms: base.first_ms - at2_ms, deliveries: base.deliveries, connections: base.connections },
  };
  return outcome;
}
