/**
 * Soak: a 2×2 cluster, the gateway and the power-off receiver, each its own
 * process, under a steady load of half the peak measured at the start, for
 * --minutes (10 by default), with depletions flowing all along.
 *
 * Checks at the end (exit code 1 if any fails): no request failed; every
 * steady account's balance equals the sum of its acknowledged deposits (the
 * client's own record); every depletion (a ledger row naming its event id)
 * was delivered, none invented, each with a valid signature; the outbox
 * drained. Reports the RSS of every process and each node's arena
 * (box.slab.info) at the start and at the end.
 *
 * Usage: node --import tsx chaos/soak.ts [--minutes 10] [--peak-seconds 15]
 *        [--accounts 1000] [--depleting 200] [--clients 32] [--out file.json]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../src/cluster/ports.ts";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";
import { stopChild } from "../src/cluster/child-process.ts";
import { HMAC_SECRET, startChaosCluster, type ChaosCluster } from "./lib/cluster.ts";
import { routerLedger } from "./lib/ledger.ts";
import { inPool, percentile, prng, randomAmount, rssKiB, scaled, sleep, unscaled, waitUntil } from "./lib/util.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    "peak-seconds": { type: "string", default: "15" },
    accounts: { type: "string", default: "1000" },
    depleting: { type: "string", default: "200" },
    clients: { type: "string", default: "32" },
    out: { type: "string" },
  },
});
const MINUTES = Number(args.minutes);
const PEAK_S = Number(args["peak-seconds"]);
const STEADY = Number(args.accounts);
const DEPLETING = Number(args.depleting);
const CLIENTS = Number(args.clients);
const IN_FLIGHT_MAX = 256;
const FIRST_STEADY = 10_000_000;
const FIRST_DEPLETING = 20_000_000;
const ACCOUNT_ID = 1;

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

// ---------------------------------------------------------------- processes

function startChild(command: string[], env: Record<string, string>, ready: RegExp, ipc = false): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(process.execPath, command, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(" ")} not ready in 30 s: ${Buffer.concat(chunks).toString()}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      const match = ready.exec(Buffer.concat(chunks).toString());
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, match, output: () => Buffer.concat(chunks).toString() });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${command.join(" ")} exited (${code}): ${Buffer.concat(chunks).toString()}`)));
  });
}


function askReceiver(child: ChildProcess, question: "stats" | "events"): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`receiver ${question}: no answer`)), 10_000);
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve(message as Record<string, any>);
    });
    child.send(question);
  });
}

const receiverStats = (child: ChildProcess): Promise<Record<string, any>> => askReceiver(child, "stats");

// ---------------------------------------------------------------- HTTP

interface Outcome {
  ok: boolean;
  status: number;
  latency_ms: number;
  body: Record<string, any>;
}

async function http(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Outcome> {
  const started = performance.now();
  try {
    const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers }, signal: AbortSignal.timeout(10_000) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${base}${path}`, init);
    const parsed = (await res.json().catch(() => ({}))) as Record<string, any>;
    return { ok: res.status >= 200 && res.status < 300, status: res.status, latency_ms: performance.now() - started, body: parsed };
  } catch (error) {
    return { ok: false, status: 0, latency_ms: performance.now() - started, body: { error: String(error) } };
  }
}

// ---------------------------------------------------------------- memory

async function memory(c: ChaosCluster, gateway: ChildProcess, receiver: ChildProcess): Promise<Record<string, unknown>> {
  const nodes: Record<string, unknown> = {};
  for (const rs of Object.values(c.topology.replicasets)) {
    for (const instance of rs.instances) {
      const report = (await c.hook(instance.name, "billing_test_memory")) as { slab: Record<string, unknown>; spaces: Record<string, { len: number }> };
      nodes[instance.name] = {
        rss_kib: rssKiB(c.cluster.process(instance.name)?.pid),
        arena_used: report.slab["arena_used"], arena_size: report.slab["arena_size"], quota_used: report.slab["quota_used"], quota_size: report.slab["quota_size"],
        items_used: report.slab["items_used"],
        rows: Object.fromEntries(Object.entries(report.spaces).map(([name, space]) => [name, space.len])),
      };
    }
  }
  return { nodes, gateway_rss_kib: rssKiB(gateway.pid), receiver_rss_kib: rssKiB(receiver.pid), driver_rss_kib: rssKiB(process.pid) };
}

// ---------------------------------------------------------------- the run

async function main(): Promise<number> {
  let c: ChaosCluster | undefined;
  let gateway: ChildProcess | undefined;
  let receiver: ChildProcess | undefined;
  const random = prng(8);
  try {
    const started = await startChild(["--import", "tsx", join(REPO_ROOT, "chaos/lib/receiver-child.ts"), HMAC_SECRET], {}, /listening (\S+)/, true);
    receiver = started.child;
    const receiverUrl = started.match[1]!;
    c = await startChaosCluster({
      replicasets: 2, instances: 2, bucket_count: 3000, poweroff: { url: receiverUrl, backoff_min_ms: 50, backoff_max_ms: 2000, pool_size: 16 },
      // Room for a long run's ledger; idempotency keys expire after 2 minutes so their table stays bounded.
      node: { memtx_memory_mb: 1024, idempotency_ttl_ms: 120_000 },
    });
    const port = await freePort();
    const gw = await startChild(["--import", "tsx", join(REPO_ROOT, "src/gateway/server.ts")], {
      BILLING_GATEWAY_PORT: String(port),
      BILLING_REPLICASETS: JSON.stringify(c.cluster.routerOptions().replicasets),
      BILLING_BUCKET_COUNT: "3000",
      BILLING_SERVICE_USER: c.topology.users.service.name, BILLING_SERVICE_PASSWORD: c.topology.users.service.password,
      BILLING_ADMIN_USER: c.topology.users.admin.name, BILLING_ADMIN_PASSWORD: c.topology.users.admin.password,
      BILLING_LOG_LEVEL: "warn",
    }, /no API tokens|gateway listening/);
    gateway = gw.child;
    const base = `http://127.0.0.1:${port}`;
    await waitUntil("gateway ready", 20_000, async () => ((await http(base, "GET", "/health")).status === 200 ? true : undefined), 100);
    log(`cluster 2x2, gateway ${base}, receiver ${receiverUrl}`);

    // Accounts: steady ones take deposits (rate 0: balances must add up exactly); depleting ones run out over and over.
    const steady = Array.from({ length: STEADY }, (_, i) => FIRST_STEADY + i);
    const depleting = Array.from({ length: DEPLETING }, (_, i) => FIRST_DEPLETING + i);
    await inPool([...steady, ...depleting], 32, async (customer_id) => {
      const res = await http(base, "POST", "/v1/customers", { customer_id, name: `soak${customer_id}`, accounts: [{ account_id: ACCOUNT_ID, name: "main" }] });
      if (!res.ok) throw new Error(`create ${customer_id}: ${res.status} ${JSON.stringify(res.body)}`);
    });

    const acked = new Map<number, bigint>();
    const errors: Record<string, number> = {};
    const countError = (what: string, outcome: Outcome): void => {
      const key = `${what} ${outcome.status}`;
      errors[key] = (errors[key] ?? 0) + 1;
      if ((errors[key] ?? 0) <= 3) log(`error: ${key} ${JSON.stringify(outcome.body).slice(0, 200)}`);
    };
    let sequence = 0;
    const deposit = async (): Promise<Outcome> => {
      const customer_id = steady[Math.floor(random() * steady.length)]!;
      const amount = randomAmount(random, 100);
      const outcome = await http(base, "POST", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}/deposits`, { amount }, { "idempotency-key": `s${sequence++}` });
      if (outcome.ok) acked.set(customer_id, (acked.get(customer_id) ?? 0n) + scaled(amount));
      else countError("deposit", outcome);
      return outcome;
    };

    // Peak: closed loop, CLIENTS at once, deposits only.
    let peakDone = false;
    let peakCount = 0;
    const peakStarted = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (!peakDone) {
        if ((await deposit()).ok) peakCount += 1;
        if (performance.now() - peakStarted >= PEAK_S * 1000) peakDone = true;
      }
    }));
    const peak = peakCount / ((performance.now() - peakStarted) / 1000);
    const target = peak / 2;
    log(`peak ${peak.toFixed(0)} deposits/s over ${PEAK_S} s; soak at ${target.toFixed(0)} requests/s for ${MINUTES} min`);
    const memoryStart = await memory(c, gateway, receiver);
    log(`memory at start: ${JSON.stringify(memoryStart)}`);

    // Soak: open loop at half the peak: 85% deposits, 10% account reads, 5% ledger reads.
    const latencies: number[] = [];
    let inFlight = 0;
    let sent = 0;
    let skipped = 0;
    const pending = new Set<Promise<unknown>>();
    const issue = (): void => {
      const roll = random();
      const customer_id = steady[Math.floor(random() * steady.length)]!;
      const work = roll < 0.85 ? deposit()
        : roll < 0.95 ? http(base, "GET", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}`).then((o) => (o.ok ? o : (countError("get", o), o)))
          : http(base, "GET", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}/ledger?limit=10`).then((o) => (o.ok ? o : (countError("ledger", o), o)));
      inFlight += 1;
      sent += 1;
      const tracked: Promise<unknown> = work.then((o) => {
        if (latencies.length < 2_000_000) latencies.push(o.latency_ms);
      }).finally(() => {
        inFlight -= 1;
        pending.delete(tracked);
      });
      pending.add(tracked);
    };
    // Depletions: every second half the depleting accounts get 0.5..2.5 s of money at 1/s; refunded every 2 s, some run out first.
    let refunds = 0;
    const depleter = async (stopAt: number): Promise<void> => {
      let turn = 0;
      while (Date.now() < stopAt) {
        const batch = depleting.filter((_, i) => i % 2 === turn % 2);
        turn += 1;
        await inPool(batch, 16, async (customer_id) => {
          const seconds = (0.5 + random() * 2).toFixed(3);
          const funded = await http(base, "POST", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}/deposits`, { amount: seconds });
          if (!funded.ok) return countError("refund", funded);
          const rate = await http(base, "PUT", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}/rate`, { rate_per_s: "1" });
          if (!rate.ok) return countError("rate", rate);
          refunds += 1;
        });
        await sleep(1000);
      }
    };
    const soakStarted = Date.now();
    const stopAt = soakStarted + MINUTES * 60_000;
    const depletion = depleter(stopAt);
    let credit = 0;
    let lastTick = performance.now();
    let nextReport = Date.now() + 30_000;
    while (Date.now() < stopAt) {
      await sleep(10);
      const now = performance.now();
      credit += ((now - lastTick) / 1000) * target;
      lastTick = now;
      while (credit >= 1) {
        credit -= 1;
        if (inFlight >= IN_FLIGHT_MAX) skipped += 1;
        else issue();
      }
      if (Date.now() >= nextReport) {
        nextReport += 30_000;
        const stats = await receiverStats(receiver);
        log(`t=${Math.round((Date.now() - soakStarted) / 1000)}s sent ${sent} skipped ${skipped} errors ${JSON.stringify(errors)} notifications ${stats["distinct_events"]}`);
      }
    }
    await depletion;
    await Promise.all([...pending]);
    const soakSeconds = (Date.now() - soakStarted) / 1000;

    // Drain: no more consumption, every notification out of the outbox.
    await inPool(depleting, 16, async (customer_id) => {
      const res = await http(base, "PUT", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}/rate`, { rate_per_s: "0" });
      if (!res.ok) countError("final rate", res);
    });
    await waitUntil("outbox drained", 60_000, async () => {
      const res = await http(base, "GET", "/v1/notifications/pending?limit=1");
      return res.ok && res.body["total"] === 0 && res.body["complete"] === true ? true : undefined;
    }, 250);
    await sleep(500);
    // Every depletion is a ledger row naming its event id (the scheduler's or a settle's); each must have been delivered.
    let schedulerDepleted = 0;
    for (const rs of Object.keys(c.topology.replicasets)) {
      const stats = (await c.cluster.call(c.cluster.masterOf(rs), "admin", "billing_stats")) as { scheduler: { depleted_total: number } };
      schedulerDepleted += stats.scheduler.depleted_total;
    }
    const ledgerEvents = new Set<string>();
    await inPool(depleting, 16, async (customer_id) => {
      for (const entry of await routerLedger(c!.router, customer_id, ACCOUNT_ID)) if (entry.kind === "depleted") ledgerEvents.add(entry.reference);
    });
    const depletedTotal = ledgerEvents.size;
    const notified = await receiverStats(receiver);
    const received = new Set<string>((await askReceiver(receiver, "events"))["events"] as string[]);
    const missing = [...ledgerEvents].filter((id) => !received.has(id)).length;
    const phantom = [...received].filter((id) => !ledgerEvents.has(id)).length;

    // Exact balances against the client's record.
    let balanceMismatches = 0;
    await inPool(steady, 32, async (customer_id) => {
      const res = await http(base, "GET", `/v1/customers/${customer_id}/accounts/${ACCOUNT_ID}`);
      if (!res.ok || res.body["balance"] !== unscaled(acked.get(customer_id) ?? 0n)) balanceMismatches += 1;
    });
    const memoryEnd = await memory(c, gateway, receiver);
    const gatewayErrors = gw.output().split("\n").filter((line) => /"level":(50|60)/.test(line)).length;
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      minutes: MINUTES, peak_per_s: Math.round(peak), target_per_s: Math.round(target),
      achieved_per_s: Math.round(sent / soakSeconds), requests: sent, skipped_at_in_flight_cap: skipped,
      latency_ms: { p50: +percentile(sorted, 50).toFixed(2), p99: +percentile(sorted, 99).toFixed(2), p999: +percentile(sorted, 99.9).toFixed(2), max: +(sorted.at(-1) ?? 0).toFixed(2) },
      errors, gateway_error_lines: gatewayErrors,
      refunds, depleted_total: depletedTotal, depleted_by_scheduler: schedulerDepleted, notifications: notified,
      notifications_missing: missing, notifications_phantom: phantom,
      balance_mismatches: balanceMismatches,
      memory_start: memoryStart, memory_end: memoryEnd,
    };
    const failures: string[] = [];
    if (Object.keys(errors).length > 0) failures.push(`request errors: ${JSON.stringify(errors)}`);
    if (gatewayErrors > 0) failures.push(`${gatewayErrors} error lines in the gateway's log`);
    if (skipped > 0) failures.push(`${skipped} requests skipped: ${IN_FLIGHT_MAX} in flight (the system fell behind half its peak)`);
    if (balanceMismatches > 0) failures.push(`${balanceMismatches} steady balances differ from the acknowledged deposits`);
    if (missing > 0) failures.push(`${missing} of ${depletedTotal} depletions (ledger rows) were never notified`);
    if (phantom > 0) failures.push(`${phantom} notifications for depletions no ledger holds`);
    if (notified["invalid_signatures"] !== 0) failures.push(`${notified["invalid_signatures"]} notifications with an invalid signature`);
    if (depletedTotal === 0) failures.push("no depletion happened");
    log(`result: ${JSON.stringify(result)}`);
    if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify({ ...result, failures }, null, 2)}\n`);
    log(failures.length === 0 ? "soak passed" : `soak FAILED:\n  ${failures.join("\n  ")}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await stopChild(gateway);
    await c?.close();
    await stopChild(receiver);
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  log(`soak error: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
