/**
 * Depletion-to-notification latency on one storage node with a real HTTP
 * receiver on loopback:
 *  - staggered: N accounts whose money runs out a few ms apart; latency from
 *    each account's exact zero instant to the receiver getting its GET;
 *  - burst: M accounts due at the same instant; time until every GET arrived.
 * Usage: tsx bench/depletion.ts [--staggered 1000] [--burst 10000] [--pool 32]
 */
import { parseArgs } from "node:util";
import { startSingleNode, type SingleNode } from "../test/support/single-node.ts";

const { values } = parseArgs({
  options: {
    staggered: { type: "string", default: "1000" },
    burst: { type: "string", default: "10000" },
    pool: { type: "string", default: "32" },
    spacing: { type: "string", default: "3" },
  },
});
const STAGGERED = Number(values.staggered);
const BURST = Number(values.burst);
const POOL = Number(values.pool);
const SPACING_MS = Number(values.spacing);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function inChunks<T>(items: T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

async function createAccounts(f: SingleNode, first: number, count: number): Promise<number[]> {
  const ids = Array.from({ length: count }, (_, i) => first + i);
  await inChunks(ids, 256, async (customer_id) => {
    const [, error] = await f.call("billing_create_customer", { customer_id, name: "b", accounts: [{ account_id: 1, name: "a" }] });
    if (error !== null) throw new Error(JSON.stringify(error));
  });
  return ids;
}

async function staggered(f: SingleNode): Promise<Record<string, number>> {
  const ids = await createAccounts(f, 1, STAGGERED);
  // Zero instants spaced SPACING_MS apart, starting 2 s out, so set-up never overlaps the measurement.
  const start_ms = Date.now() + 2000;
  const zero = new Map<string, number>();
  await inChunks(ids, 256, async (customer_id) => {
    const at = start_ms + (customer_id - 1) * SPACING_MS;
    await f.admin.call("billing_test_schedule_depletion", [{ accounts: [[customer_id, 1]], depletes_at_ms: at }]);
    zero.set(String(customer_id), at);
  });
  await f.receiver.waitFor((ds) => ds.length >= STAGGERED, 60_000 + STAGGERED * SPACING_MS);
  const latencies = f.receiver.deliveries.map((d) => d.received_at_ms - zero.get(d.user_id!)!).sort((a, b) => a - b);
  return {
    accounts: STAGGERED,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies.at(-1)!,
    early: latencies.filter((l) => l < 0).length,
  };
}

async function burst(f: SingleNode): Promise<Record<string, number>> {
  const ids = await createAccounts(f, 1_000_000, BURST);
  f.receiver.deliveries.length = 0;
  const at = Date.now() + 1500;
  for (let i = 0; i < ids.length; i += 10_000) {
    await f.admin.call("billing_test_schedule_depletion", [{ accounts: ids.slice(i, i + 10_000).map((id) => [id, 1]), depletes_at_ms: at }]);
  }
  await f.receiver.waitFor((ds) => ds.length >= BURST, 120_000);
  const last = Math.max(...f.receiver.deliveries.map((d) => d.received_at_ms));
  const unique = new Set(f.receiver.deliveries.map((d) => d.user_id)).size;
  const seconds = (last - at) / 1000;
  return { accounts: BURST, all_delivered_ms: last - at, per_second: Math.round(BURST / seconds), unique_users: unique };
}

const f = await startSingleNode({ test_hooks: true, memtx_memory_mb: 1024, poweroff: { url: "", pool_size: POOL } });
try {
  // startSingleNode's receiver URL is set after start; restart with it in the env.
  await f.node.stop();
  await f.node.start({ env: { BILLING_POWEROFF_URL: f.receiver.url } });
  await new Promise((r) => setTimeout(r, 500));
  const result = { staggered: await staggered(f), burst: await burst(f), pool_size: POOL };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await f.close();
}
