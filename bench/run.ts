/**
 * The benchmark run: every headline figure beside a baseline measured in the
 * same run, as a ratio. Starts what it needs on loopback (temp folders, ports
 * the OS picks), runs the scenarios one after another (never two at once: 2
 * cores), prints one table, writes the raw numbers as JSON and a chart.
 *
 *   tsx bench/run.ts            full run (under 20 minutes)
 *   tsx bench/run.ts --quick    small sizes (under 2 minutes)
 *   --only depletion,storm,seed,iproto,gateway,memory   a subset
 *   --profile                   fiber.top() and LuaJIT profiles of the billing node (storm, deposits)
 *   --pool N                    the notifier's pool_size (default: the storage default, 32); the baselines get as many fibers
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";
import { latencyChart } from "./lib/chart.ts";
import type { Context } from "./lib/context.ts";
import { IDS, makePlan } from "./lib/plan.ts";
import { BenchReceiver } from "./lib/receiver.ts";
import { consoleTable, markdownTable, ratio, type Outcome } from "./lib/report.ts";
import { BenchInstance, BillingNode, removeTempDirs } from "./lib/tarantool.ts";
import { depletionScenario } from "./scenarios/depletion.ts";
import { gatewayScenario } from "./scenarios/gateway.ts";
import { iprotoScenario } from "./scenarios/iproto.ts";
import { memoryRecoveryScenario } from "./scenarios/memory-recovery.ts";
import { seedScenario } from "./scenarios/seed.ts";
import { stormScenario } from "./scenarios/storm.ts";
import type { Summary } from "./lib/stats.ts";

const SCENARIOS = ["depletion", "storm", "seed", "gateway", "iproto", "memory"] as const;
type Scenario = (typeof SCENARIOS)[number];

/** The notifier's pool_size default (src/storage/config.ts); the baselines get as many sender fibers. */
const NOTIFIER_POOL_SIZE_DEFAULT = 32;

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
    pool: { type: "string" },
  },
});
const plan = makePlan(values.quick === true);
const selected = new Set<Scenario>(values.only === undefined ? SCENARIOS : values.only.split(",").map((name) => {
  if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario ${name}; known: ${SCENARIOS.join(",")}`);
  return name as Scenario;
}));
const NOTIFIER_POOL_SIZE = values.pool === undefined ? NOTIFIER_POOL_SIZE_DEFAULT : Number(values.pool);
if (!Number.isInteger(NOTIFIER_POOL_SIZE) || NOTIFIER_POOL_SIZE < 1 || NOTIFIER_POOL_SIZE > 512) throw new Error("--pool must be an integer from 1 to 512");
const complete = selected.size === SCENARIOS.length && values.pool === undefined;
const runStarted = Date.now();

function log(message: string): void {
  const seconds = ((Date.now() - runStarted) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${seconds} s] ${message}\n`);
}

function machine(): Record<string, unknown> {
  const tarantool = execFileSync("tarantool", ["--version"], { encoding: "utf8" }).split("\n")[0];
  return {
    cores: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30),
    tarantool, node: process.version, load_average_at_start: loadavg(),
  };
}

async function populateMain(node: BillingNode): Promise<void> {
  // Deadlines 10 h out: active for the whole run until a scenario moves them.
  const sets: Array<[number, number, string, string]> = [
    [IDS.background_first, plan.background_accounts, "36000", "1"],
    [IDS.warmup_first, plan.warmup_accounts, "36000", "1"],
    [IDS.depleting_first, plan.depleting_accounts, "36000", "1"],
    [IDS.api_first, plan.api_customers, "1000000", "0.001"],
  ];
  for (const [first, count, balance, rate_per_s] of sets) {
    await node.adminCall("billing_test_populate", { first_customer_id: first, count, balance, rate_per_s, customer_name: "Victor", account_name: "Victor" });
  }
}

async function main(): Promise<void> {
  log(`building the storage Lua (tstl), plan: ${plan.quick ? "quick" : "full"}, scenarios: ${[...selected].join(", ")}`);
  execFileSync("npx", ["tstl", "-p", "tsconfig.lua.json"], { cwd: REPO_ROOT, stdio: "inherit" });
  const info = machine();
  const receiver = await BenchReceiver.start();
  const floor = await BenchInstance.start("floor");
  const ctx: Context = { plan, receiver, floor, pool_size: NOTIFIER_POOL_SIZE, profile: values.profile === true, log };
  const outcomes: Record<string, Outcome> = {};
  let depletionSummary: Summary | undefined;
  let rawGetsPerS = NaN;
  const cleanup = async (): Promise<void> => {
    await floor.stop().catch(() => {});
    await receiver.stop().catch(() => {});
    removeTempDirs();
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    if (selected.has("depletion") || selected.has("storm") || selected.has("iproto") || selected.has("gateway")) {
      const node = await BillingNode.start({ memtx_memory_mb: 2048, poweroff_url: receiver.url, pool_size: NOTIFIER_POOL_SIZE });
      try {
        log("populating the main node");
        await populateMain(node);
        if (selected.has("depletion")) {
          outcomes["depletion"] = await depletionScenario(ctx, node);
          depletionSummary = (outcomes["depletion"].raw["ours"] as { summary: Summary }).summary;
        }
        if (selected.has("storm")) {
          outcomes["storm"] = await stormScenario(ctx, node);
          rawGetsPerS = (outcomes["storm"].raw["baseline"] as { rate_per_s: number }).rate_per_s;
        }
        if (selected.has("iproto")) outcomes["iproto"] = await iprotoScenario(ctx, node);
        if (selected.has("gateway")) outcomes["gateway"] = await gatewayScenario(ctx, node);
      } finally {
        await node.stop();
      }
    }
    if (selected.has("seed")) {
      const none: Summary = { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, min: NaN };
      outcomes["seed"] = await seedScenario(ctx, depletionSummary ?? none);
    }
    if (selected.has("memory")) outcomes["memory"] = await memoryRecoveryScenario(ctx, rawGetsPerS);
  } finally {
    await cleanup();
  }
  report(info, outcomes);
}

function report(info: Record<string, unknown>, outcomes: Record<string, Outcome>): void {
  const ordered = ["depletion", "storm", "seed", "gateway", "iproto", "memory"].flatMap((name) => outcomes[name] === undefined ? [] : [outcomes[name]]);
  const rows = ordered.flatMap((o) => o.rows);
  const notes = ordered.flatMap((o) => o.notes);
  const elapsed_s = Math.round((Date.now() - runStarted) / 1000);
  const mode = plan.quick ? "quick" : "full";
  const when = new Date(runStarted).toISOString();
  const machineLine = `${info["cores"]} cores (${info["cpu"]}), ${info["memory_gib"]} GiB, ${info["tarantool"]}, Node ${info["node"]}`;
  console.log(`\nBenchmarks (${mode}, ${elapsed_s} s) on ${machineLine}\n`);
  console.log(consoleTable(rows));
  console.log("");
  for (const note of notes) console.log(`- ${note}`);

  const dir = join(REPO_ROOT, "bench/results");
  mkdirSync(dir, { recursive: true });
  const stamp = when.replaceAll(":", "-").replace(/\.\d+Z$/, "Z");
  const json = {
    started_at: when, mode, elapsed_s, machine: { ...info, load_average_at_end: loadavg() }, plan,
    rows: rows.map((row) => ({ ...row, ratio: ratio(row) })), notes,
    distributions: ordered.flatMap((o) => o.distributions),
    scenarios: Object.fromEntries(Object.entries(outcomes).map(([name, o]) => [name, o.raw])),
  };
  const jsonPath = join(dir, `${stamp}-${mode}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 1)}\n`);
  // The committed table and chart come from complete full runs; quick and partial runs write beside them (git-ignored).
  const name = complete && !plan.quick ? "latest" : "quick";
  const command = `tsx bench/run.ts${plan.quick ? " --quick" : ""}${values.only === undefined ? "" : ` --only ${values.only}`}${values.pool === undefined ? "" : ` --pool ${values.pool}`}`;
  const subtitle = `${mode} run ${when}, ${machineLine}`;
  writeFileSync(join(dir, `${name}.svg`), latencyChart(json.distributions, subtitle));
  const markdown = [
    `# Benchmark results (${mode} run)`, "",
    `\`${command}\` on ${when}, ${elapsed_s} s; ${machineLine}; load average at start ${(info["load_average_at_start"] as number[]).map((l) => l.toFixed(2)).join(" ")}.`,
    `Raw numbers: \`bench/results/${stamp}-${mode}.json\` (not committed). Ratios are ours ÷ baseline, both measured in this run.`, "",
    markdownTable(rows), "", ...notes.map((note) => `- ${note}`), "", `![latency distributions](${name}.svg)`, "",
  ].join("\n");
  writeFileSync(join(dir, `${name}.md`), markdown);
  log(`wrote ${jsonPath}, bench/results/${name}.md and bench/results/${name}.svg`);
}

await main();
