/**
 * Scenario 1: depletion latency. Accounts run out of money at random
 * instants spread over a window (≥ 1,000 a second in the full run) while
 * many more stay active; the latency of each is from its exact zero instant
 * to the receiver getting its GET.
 *
 * Baseline: the floor of any Tarantool notifier, measured on the same
 * instants and the same receiver: one bare fiber sleeping until each instant
 * and handing the GET to as many sender fibers (http.client, keep-alive).
 * It has the timer precision and the HTTP round trip, and none of the
 * engine's work (deadline index, transaction, WAL write, outbox, dispatch).
 */
import { analyze, deliveryCheck, type Context } from "../lib/context.ts";
import { IDS, chunks, spreadSchedule } from "../lib/plan.ts";
import { distribution, emptyOutcome, type Outcome } from "../lib/report.ts";
import { summarize } from "../lib/stats.ts";
import { sleep, type BillingNode } from "../lib/tarantool.ts";

const SCHEDULE_CHUNK = 20_000;

async function scheduleOnNode(node: BillingNode, schedule: Array<[number, number]>): Promise<void> {
  for (const chunk of chunks(schedule, SCHEDULE_CHUNK)) {
    await node.adminCall("billing_test_schedule_depletions", { schedule: chunk.map(([id, at]) => [id, 1, at]) });
  }
}

/** Time to get every entry scheduled before the first instant comes. */
function leadMs(count: number): number {
  return 1500 + Math.ceil(count / 50);
}

async function warmUp(ctx: Context, run: (schedule: Array<[number, number]>) => Promise<void>): Promise<void> {
  const schedule = spreadSchedule(IDS.warmup_first, ctx.plan.warmup_accounts, Date.now() + 500, 1000, 7);
  await ctx.receiver.reset();
  await run(schedule);
  await ctx.receiver.waitFor(schedule.length, 30_000);
  await sleep(200);
}

export async function depletionScenario(ctx: Context, node: BillingNode): Promise<Outcome> {
  const { plan, receiver, floor } = ctx;
  const outcome = emptyOutcome();
  const wait_ms = plan.depletion_window_ms + leadMs(plan.depleting_accounts) + 60_000;

  ctx.log(`1 depletion: ours, ${plan.depleting_accounts} accounts over ${plan.depletion_window_ms} ms, ${plan.background_accounts} more active`);
  await warmUp(ctx, (schedule) => scheduleOnNode(node, schedule));
  await receiver.reset();
  const start_ms = Date.now() + leadMs(plan.depleting_accounts);
  const schedule = spreadSchedule(IDS.depleting_first, plan.depleting_accounts, start_ms, plan.depletion_window_ms, 42);
  await scheduleOnNode(node, schedule);
  const statsBefore = await node.adminCall<Record<string, any>>("billing_stats");
  const seen = await receiver.waitFor(schedule.length, wait_ms);
  const ours = analyze(await receiver.dump(), new Map(schedule.map(([id, at]) => [id, at])));
  const statsAfter = await node.adminCall<Record<string, any>>("billing_stats");
  if (seen < schedule.length) outcome.notes.push(`1 depletion: only ${seen} of ${schedule.length} GETs arrived in ${wait_ms} ms`);

  ctx.log("1 depletion: baseline, a bare fiber sleeping until the same instants + GET");
  await warmUp(ctx, async (warm) => {
    await floor.call("bench_timed_gets", receiver.url, warm, ctx.pool_size);
  });
  await receiver.reset();
  const start2_ms = Date.now() + 1500;
  const schedule2 = schedule.map(([id, at]): [number, number] => [id, at - start_ms + start2_ms]);
  await floor.call("bench_timed_gets", receiver.url, schedule2, ctx.pool_size);
  await receiver.waitFor(schedule2.length, wait_ms);
  const base = analyze(await receiver.dump(), new Map(schedule2.map(([id, at]) => [id, at])));
  const floorState = await floor.call<{ lateness_ms: number[]; get_ms: number[]; http: unknown }>("bench_state");
  const timer = summarize(floorState.lateness_ms);
  const get = summarize(floorState.get_ms);

  const rate_per_s = Math.round(plan.depleting_accounts / (plan.depletion_window_ms / 1000));
  const label = `1 depletion latency (${(plan.background_accounts + plan.depleting_accounts).toLocaleString("en-US")} active, ${rate_per_s.toLocaleString("en-US")}/s)`;
  const floorName = "bare fiber timer + GET";
  for (const [metric, key, goal] of [["p50", "p50", ""], ["p99", "p99", "≤ 5 ms"], ["p99.9", "p999", ""], ["max", "max", ""]] as const) {
    const value = ours.summary[key];
    outcome.rows.push({
      scenario: label, metric, unit: "ms", ours: value, baseline_name: floorName, baseline: base.summary[key],
      goal, met: goal === "" ? null : value <= 5,
    });
  }
  outcome.distributions.push(distribution("1 depletion: ours", "notification", ours.latencies_ms, true));
  outcome.distributions.push(distribution("1 depletion: bare timer + GET", "notification", base.latencies_ms, false));
  outcome.notes.push(deliveryCheck("1 depletion (ours)", ours, schedule.length));
  outcome.notes.push(`1 depletion: inside the baseline's Tarantool: timer lateness p50 ${timer.p50.toFixed(3)} ms, p99 ${timer.p99.toFixed(3)} ms, max ${timer.max.toFixed(3)} ms; http.client GET round trip p50 ${get.p50.toFixed(3)} ms, p99 ${get.p99.toFixed(3)} ms`);
  outcome.notes.push(`1 depletion: early GETs (before the zero instant): ours ${ours.latencies_ms.filter((l) => l < 0).length}, baseline ${base.latencies_ms.filter((l) => l < 0).length}`);
  outcome.raw = {
    plan: { accounts_active: plan.background_accounts + plan.depleting_accounts, depleting: plan.depleting_accounts, window_ms: plan.depletion_window_ms, rate_per_s },
    ours: { summary: ours.summary, deliveries: ours.deliveries, unique_users: ours.unique_users, unique_events: ours.unique_events, missing: ours.missing, unexpected: ours.unexpected, connections: ours.connections, notifier_before: statsBefore["notifier"], notifier_after: statsAfter["notifier"], scheduler: statsAfter["scheduler"] },
    baseline: { summary: base.summary, deliveries: base.deliveries, timer_lateness_ms: timer, get_ms: get, connections: base.connections, http: floorState.http },
  };
  return outcome;
}
