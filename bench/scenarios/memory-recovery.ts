/**
 * Scenario 6: memory per account at scale, from the node's own figures
 * (box.slab.info, box.info.memory, space and index bsize) before and after
 * populating; baseline: the raw tuple bytes (MessagePack) of an account and
 * its customer.
 *
 * Scenario 7: recovery. The same master takes a checkpoint (as
 * checkpoint_interval would), gets accounts whose zero instants pass while
 * it is down, is killed (SIGKILL) and restarted: the time until it serves a
 * deposit, and until every overdue depletion is notified. Baselines: a bare
 * Tarantool recovering a copy of the same files (no billing start-up), and
 * that plus the time the raw-GET baseline of scenario 2 needs for as many GETs.
 */
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { IprotoClient } from "../../src/iproto/index.ts";
import { freePort } from "../../src/cluster/ports.ts";
import { wallMs } from "../lib/clock.ts";
import type { Context } from "../lib/context.ts";
import { IDS, chunks } from "../lib/plan.ts";
import { emptyOutcome, type Outcome } from "../lib/report.ts";
import { BenchInstance, BillingNode, SERVICE, sleep, tempDir } from "../lib/tarantool.ts";

interface MemoryReport {
  slab: { arena_used: number; items_used: number; quota_used: number; arena_size: number };
  memory: { data: number; index: number };
  spaces: Record<string, { len: number; bsize: number; indexes: Record<string, number> }>;
}

const POPULATE_CHUNK = 250_000;

function perAccount(before: MemoryReport, after: MemoryReport, count: number): Record<string, number> {
  const delta = (f: (r: MemoryReport) => number): number => (f(after) - f(before)) / count;
  const indexBytes = (r: MemoryReport, space: string): number => Object.values(r.spaces[space]!.indexes).reduce((a, b) => a + b, 0);
  return {
    arena_used: delta((r) => r.slab.arena_used),
    tuples: delta((r) => r.slab.items_used),
    indexes: delta((r) => r.memory.index),
    raw_msgpack: delta((r) => r.spaces["accounts"]!.bsize + r.spaces["customers"]!.bsize),
    raw_account: delta((r) => r.spaces["accounts"]!.bsize),
    raw_customer: delta((r) => r.spaces["customers"]!.bsize),
    index_accounts: delta((r) => indexBytes(r, "accounts")),
    index_customers: delta((r) => indexBytes(r, "customers")),
  };
}

/** Polls with fresh connections until `attempt` succeeds; the elapsed ms since `t0`. */
async function firstSuccess(port: number, user: { name: string; password: string } | undefined, t0: number, attempt: (client: IprotoClient) => Promise<unknown>): Promise<number> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const client = new IprotoClient({
      host: "127.0.0.1", port, reconnect: false, connectTimeoutMs: 1000, callTimeoutMs: 5000,
      ...(user === undefined ? {} : { user: user.name, password: user.password }),
    });
    try {
      await client.connect();
      const reply = await attempt(client) as unknown[];
      if (reply[1] === undefined || reply[1] === null) return wallMs() - t0;
    } catch {
      // not serving yet
    } finally {
      await client.close().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error("never served");
    await sleep(5);
  }
}

export async function memoryRecoveryScenario(ctx: Context, rawGetsPerS: number): Promise<Outcome> {
  const { plan, receiver } = ctx;
  const outcome = emptyOutcome();
  const count = plan.memory_accounts;
  const node = await BillingNode.start({ memtx_memory_mb: plan.memory_memtx_mb, poweroff_url: receiver.url });
  try {
    ctx.log(`6 memory: populating ${count.toLocaleString("en-US")} accounts (memtx_memory ${plan.memory_memtx_mb} MB)`);
    const before = await node.adminCall<MemoryReport>("billing_test_memory");
    for (let first = 0; first < count; first += POPULATE_CHUNK) {
      await node.adminCall("billing_test_populate", {
        first_customer_id: IDS.background_first + first, count: Math.min(POPULATE_CHUNK, count - first),
        balance: "36000", rate_per_s: "0.001", customer_name: "Victor", account_name: "Victor",
      });
    }
    const after = await node.adminCall<MemoryReport>("billing_test_memory");
    const bytes = perAccount(before, after, count);
    const label6 = `6 memory (${count.toLocaleString("en-US")} accounts)`;
    outcome.rows.push(
      { scenario: label6, metric: "bytes per account (tuples + indexes)", unit: "B", ours: bytes["arena_used"]!, baseline_name: "raw tuple bytes, account + customer", baseline: bytes["raw_msgpack"]!, goal: "≤ 250 B", met: bytes["arena_used"]! <= 250 },
    );
    outcome.notes.push(`6 memory per account: tuples ${bytes["tuples"]!.toFixed(1)} B (raw MessagePack: account ${bytes["raw_account"]!.toFixed(1)} B + customer ${bytes["raw_customer"]!.toFixed(1)} B), indexes ${bytes["indexes"]!.toFixed(1)} B (accounts: primary, bucket_id, deadline ${bytes["index_accounts"]!.toFixed(1)} B; customers: primary, bucket_id ${bytes["index_customers"]!.toFixed(1)} B)`);

    const overdue = plan.overdue_accounts;
    ctx.log(`7 recovery: checkpoint, ${overdue.toLocaleString("en-US")} accounts to run out while the master is down, SIGKILL, restart`);
    await node.adminCall("billing_test_snapshot");
    const at_ms = Date.now() + 1500 + Math.ceil(overdue / 20);
    const ids = Array.from({ length: overdue }, (_, i) => IDS.background_first + i);
    for (const chunk of chunks(ids, 10_000)) {
      await node.adminCall("billing_test_schedule_depletion", { accounts: chunk.map((id) => [id, 1]), depletes_at_ms: at_ms });
    }
    if (Date.now() >= at_ms) throw new Error("7 recovery: the zero instant came before the kill; raise the lead time");
    await node.process.kill();
    await sleep(Math.max(0, at_ms - Date.now()) + 500);
    const copy = tempDir("bare");
    for (const file of readdirSync(node.process.config.work_dir)) {
      if (file.endsWith(".snap") || file.endsWith(".xlog")) copyFileSync(join(node.process.config.work_dir, file), join(copy, file));
    }

    await receiver.reset();
    const t0 = wallMs();
    const starting = node.process.start({ readyTimeoutMs: 600_000 });
    const probe_id = IDS.background_first + overdue;
    const writes_ms = await firstSuccess(node.port, SERVICE, t0, (client) => client.call("billing_deposit", [{ customer_id: probe_id, account_id: 1, amount: "1" }]));
    await starting;
    await receiver.waitFor(overdue, 600_000);
    const deliveries = await receiver.dump();
    const notified_ms = Math.max(...deliveries.times) - t0;
    const unique = new Set(deliveries.users).size;

    ctx.log("7 recovery: baseline, bare Tarantool on a copy of the same files");
    const bare_port = await freePort();
    const t1 = wallMs();
    const bare = BenchInstance.spawn("bare", copy, bare_port, plan.memory_memtx_mb);
    let bare_accounts = 0;
    const bare_ms = await firstSuccess(bare_port, undefined, t1, async (client) => {
      const reply = await client.call("bench_ready", []);
      bare_accounts = reply[0] as number;
      return reply;
    });
    bare.kill("SIGKILL");
    if (bare_accounts !== count) outcome.notes.push(`7 recovery: the bare instance recovered ${bare_accounts} accounts, not ${count}`);

    const label7 = `7 recovery (${count.toLocaleString("en-US")} accounts, ${overdue.toLocaleString("en-US")} overdue)`;
    const drain_ms = (overdue / rawGetsPerS) * 1000;
    outcome.rows.push(
      { scenario: label7, metric: "restart → serves a deposit", unit: "ms", ours: writes_ms, baseline_name: "bare Tarantool recovering the same files", baseline: bare_ms, goal: "", met: null },
      { scenario: label7, metric: "restart → every overdue GET received", unit: "ms", ours: notified_ms, baseline_name: "bare recovery + raw GETs of scenario 2", baseline: bare_ms + drain_ms, goal: "", met: null },
    );
    outcome.notes.push(`7 recovery: ${deliveries.users.length} GETs for ${overdue} overdue accounts, ${unique} distinct users`);
    const end = await node.adminCall<MemoryReport>("billing_test_memory");
    const ledger = end.spaces["ledger"]!;
    const ledgerIndexes = Object.values(ledger.indexes).reduce((a, b) => a + b, 0);
    if (ledger.len > 0) outcome.notes.push(`6 memory: a ledger row costs ${(ledger.bsize / ledger.len).toFixed(1)} B of MessagePack + ${(ledgerIndexes / ledger.len).toFixed(1)} B of index (${ledger.len} rows), on top of the account`);
    outcome.raw = { accounts: count, bytes_per_account: bytes, before, after, end, recovery: { overdue, writes_ms, notified_ms, bare_ms, drain_ms, deliveries: deliveries.users.length, unique } };
  } finally {
    await node.stop();
  }
  return outcome;
}
