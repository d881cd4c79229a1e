/**
 * Scenario 4: API writes through the gateway (its own process) at a fixed
 * number of HTTP connections: deposits and rate changes on /v1, against a
 * bare route in the same server that makes a no-op stored-procedure call
 * (the limit), interleaved in the same run. Load from autocannon; every
 * response's latency is kept (autocannon's own histogram rounds to whole ms).
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import type { Context } from "../lib/context.ts";
import { cpuLine, idCycle, interleaved, ownCpuSeconds, withCpu, type CpuWatch, type PhaseResult } from "../lib/load.ts";
import { IDS } from "../lib/plan.ts";
import { distribution, emptyOutcome, type Outcome } from "../lib/report.ts";
import { cpuSeconds, type BillingNode } from "../lib/tarantool.ts";

const KINDS = ["noop", "deposit", "set_rate"] as const;
type Kind = (typeof KINDS)[number];

interface Route {
  method: "POST" | "PUT";
  path: (customer_id: number) => string;
  body: string;
}

const ROUTES: Record<Kind, Route> = {
  noop: { method: "POST", path: (id) => `/bench/noop/${id}`, body: JSON.stringify({ amount: "1" }) },
  deposit: { method: "POST", path: (id) => `/v1/customers/${id}/accounts/1/deposits`, body: JSON.stringify({ amount: "1" }) },
  set_rate: { method: "PUT", path: (id) => `/v1/customers/${id}/accounts/1/rate`, body: JSON.stringify({ rate_per_s: "0.001" }) },
};

async function phase(url: string, route: Route, duration_ms: number, connections: number, nextId: () => number): Promise<PhaseResult> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url, connections, duration: duration_ms / 1000,
      headers: { "content-type": "application/json" },
      requests: [{ method: route.method, body: route.body, setupRequest: (request) => ({ ...request, path: route.path(nextId()) }) }],
    }, (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)));
    instance.on("response", (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      if (status >= 200 && status < 300) latencies.push(responseTime);
    });
  });
  const errors = result.errors + result.timeouts + result.non2xx;
  const out: PhaseResult = { calls: result["2xx"], errors, elapsed_ms: result.duration * 1000, latencies_ms: latencies };
  if (result.non2xx > 0) out.first_error = `${result.non2xx} non-2xx responses (4xx ${result["4xx"]}, 5xx ${result["5xx"]})`;
  return out;
}

export async function gatewayScenario(ctx: Context, node: BillingNode): Promise<Outcome> {
  const { plan } = ctx;
  const outcome = emptyOutcome();
  const child = fork(fileURLToPath(new URL("../lib/gateway-child.ts", import.meta.url)), [], {
    env: { ...process.env, BENCH_STORAGE_PORT: String(node.port) },
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (message: { port: number }) => resolve(message.port));
      child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const nextId = idCycle(IDS.api_first, plan.api_customers);
    ctx.log(`4 gateway: ${KINDS.join(", ")}, ${plan.http_connections} connections, ${plan.api_rounds} × ${plan.api_phase_ms} ms each`);
    for (const kind of KINDS) await phase(url, ROUTES[kind], 1000, plan.http_connections, nextId);
    const pid = node.process.pid;
    const watch: CpuWatch = {
      "Tarantool TX": () => cpuSeconds(pid, pid), "Tarantool other threads": () => cpuSeconds(pid) - cpuSeconds(pid, pid),
      gateway: () => cpuSeconds(child.pid), "autocannon": ownCpuSeconds,
    };
    const results = await interleaved(KINDS, plan.api_rounds, (kind) => withCpu(watch, () => phase(url, ROUTES[kind], plan.api_phase_ms, plan.http_connections, nextId)));
    const noop = results.noop;
    const label = `4 gateway HTTP writes (${plan.http_connections} connections)`;
    const limitName = "bare route + billing_noop";
    for (const kind of ["deposit", "set_rate"] as const) {
      const r = results[kind];
      outcome.rows.push(
        { scenario: label, metric: `${kind} requests/s`, unit: "/s", ours: r.per_s, baseline_name: limitName, baseline: noop.per_s, goal: "≥ 70%", met: r.per_s >= 0.7 * noop.per_s },
        { scenario: label, metric: `${kind} p50`, unit: "ms", ours: r.summary.p50, baseline_name: limitName, baseline: noop.summary.p50, goal: "", met: null },
        { scenario: label, metric: `${kind} p99`, unit: "ms", ours: r.summary.p99, baseline_name: limitName, baseline: noop.summary.p99, goal: "", met: null },
      );
    }
    for (const kind of KINDS) {
      outcome.distributions.push(distribution(`4 gateway: ${kind}`, "api", results[kind].latencies_ms, kind !== "noop"));
      if (results[kind].errors > 0) outcome.notes.push(`4 gateway ${kind}: ${results[kind].errors} errors, first: ${results[kind].first_error}`);
      outcome.notes.push(`4 gateway ${kind}: CPU per request: ${cpuLine(results[kind])}`);
    }
    outcome.raw = Object.fromEntries(KINDS.map((kind) => {
      const { latencies_ms: _latencies, ...rest } = results[kind];
      return [kind, rest];
    }));
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  }
  return outcome;
}
