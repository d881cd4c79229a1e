/**
 * Scenario 5: stored procedures over iproto through the Router, at a fixed
 * number of calls in flight: billing_deposit and billing_set_rate against
 * billing_noop (the same router, connection and round trip, no work) in the
 * same run, interleaved.
 */
import { join } from "node:path";
import { REPO_ROOT } from "../../src/cluster/storage-process.ts";
import { Router } from "../../src/router/index.ts";
import type { Context } from "../lib/context.ts";
import { closedLoop, cpuLine, idCycle, interleaved, ownCpuSeconds, withCpu, type CpuWatch } from "../lib/load.ts";
import { IDS } from "../lib/plan.ts";
import { distribution, emptyOutcome, type Outcome } from "../lib/report.ts";
import { SERVICE, cpuSeconds, type BillingNode } from "../lib/tarantool.ts";

const KINDS = ["noop", "deposit", "set_rate"] as const;
type Kind = (typeof KINDS)[number];

export async function iprotoScenario(ctx: Context, node: BillingNode): Promise<Outcome> {
  const { plan } = ctx;
  const outcome = emptyOutcome();
  const router = new Router({
    replicasets: { rs1: { instances: [{ name: "bench", host: "127.0.0.1", port: node.port }] } },
    credentials: SERVICE, bucket_count: 3000, settings: { callTimeoutMs: 10_000 },
  });
  try {
    await router.connect();
    const nextId = idCycle(IDS.api_first, plan.api_customers);
    const calls: Record<Kind, () => Promise<unknown>> = {
      noop: () => router.call(nextId(), "billing_noop", {}, { write: true }),
      deposit: () => {
        const customer_id = nextId();
        return router.call(customer_id, "billing_deposit", { customer_id, account_id: 1, amount: "1" }, { write: true });
      },
      set_rate: () => {
        const customer_id = nextId();
        return router.call(customer_id, "billing_set_rate", { customer_id, account_id: 1, rate_per_s: "0.001" }, { write: true });
      },
    };
    ctx.log(`5 iproto: ${KINDS.join(", ")}, ${plan.iproto_concurrency} in flight, ${plan.api_rounds} × ${plan.api_phase_ms} ms each`);
    for (const kind of KINDS) await closedLoop(500, plan.iproto_concurrency, calls[kind]);
    const pid = node.process.pid;
    const watch: CpuWatch = { "Tarantool TX": () => cpuSeconds(pid, pid), "Tarantool other threads": () => cpuSeconds(pid) - cpuSeconds(pid, pid), "router (Node)": ownCpuSeconds };
    const results = await interleaved(KINDS, plan.api_rounds, (kind) => withCpu(watch, () => closedLoop(plan.api_phase_ms, plan.iproto_concurrency, calls[kind])));
    if (ctx.profile) {
      // Where a deposit's TX time goes: LuaJIT's sampling profiler over one more deposit phase.
      const file = join(REPO_ROOT, "bench/results", `profile-deposit-${plan.quick ? "quick" : "full"}.txt`);
      await node.adminCall("billing_test_profile", { jit_start: process.env["BENCH_JIT_MODE"] ?? "Fi1", jit_file: file });
      await closedLoop(plan.api_phase_ms, plan.iproto_concurrency, calls.deposit);
      await node.adminCall("billing_test_profile", { jit_stop: true });
      outcome.notes.push(`5 iproto: LuaJIT profile of deposits in ${file}`);
    }
    const noop = results.noop;
    const label = `5 procedures via Router (${plan.iproto_concurrency} in flight)`;
    for (const kind of ["deposit", "set_rate"] as const) {
      const r = results[kind];
      outcome.rows.push(
        { scenario: label, metric: `${kind} calls/s`, unit: "/s", ours: r.per_s, baseline_name: "billing_noop", baseline: noop.per_s, goal: "≥ 80%", met: r.per_s >= 0.8 * noop.per_s },
        { scenario: label, metric: `${kind} p50`, unit: "ms", ours: r.summary.p50, baseline_name: "billing_noop", baseline: noop.summary.p50, goal: "", met: null },
        { scenario: label, metric: `${kind} p99`, unit: "ms", ours: r.summary.p99, baseline_name: "billing_noop", baseline: noop.summary.p99, goal: "", met: null },
      );
    }
    for (const kind of KINDS) {
      outcome.distributions.push(distribution(`5 iproto: ${kind}`, "api", results[kind].latencies_ms, kind !== "noop"));
      if (results[kind].errors > 0) outcome.notes.push(`5 iproto ${kind}: ${results[kind].errors} errors, first: ${results[kind].first_error}`);
      outcome.notes.push(`5 iproto ${kind}: CPU per call: ${cpuLine(results[kind])}`);
    }
    outcome.raw = Object.fromEntries(KINDS.map((kind) => {
      const { latencies_ms: _latencies, ...rest } = results[kind];
      return [kind, rest];
    }));
  } finally {
    await router.close();
  }
  return outcome;
}
