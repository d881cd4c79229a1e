/**
 * Failover: a stream of deposits (each with its own idempotency key) into one
 * replica set; its master is SIGKILLed, a replica promoted (Cluster.promote,
 * the operator's command), and the writers, through the same router, carry on.
 *
 * Right after the promotion, before anything else can write to the new
 * master or the old one can come back, the new master's ledgers are read:
 * an acknowledged deposit whose key is not there is lost. With
 * sync_replication none may be; with asynchronous replication the loss is
 * measured: how many acknowledged deposits, and how far back before the kill
 * their acknowledgements go (the loss window, in ms of writes).
 */
import { isRouterError } from "../../src/router/index.ts";
import type { ChaosCluster } from "./cluster.ts";
import { inPool, prng, randomAmount, scaled, sleep, unscaled, waitUntil } from "./util.ts";

export interface FailoverOptions {
  replicaset: string;
  /** The replica to promote. */
  promoteTo: string;
  accounts: number;
  writers: number;
  /** Deposits flow this long before the kill. */
  streamMs: number;
  /** ... and this long after the router found the new master. */
  afterMs: number;
  seed: number;
  /**
   * Start the old master again (as a replica of the new one) after the loss
   * check: a 2-instance replica set with sync_replication needs it back to
   * reach its quorum of 2.
   */
  rejoinOldMaster: boolean;
  /** Longest wait for the first acknowledged deposit after the promotion. */
  resumeTimeoutMs: number;
  /**
   * Freeze the replica to promote (SIGSTOP) this long before the master is
   * killed, and thaw it (SIGCONT) right after: a lagging replica, the worst
   * case for asynchronous replication, while sync_replication must lose nothing.
   */
  freezeReplicaMs?: number;
  firstCustomerId?: number;
}

export interface FailoverFigures {
  sync_replication: boolean;
  acknowledged_before_kill: number;
  in_doubt_at_kill: number;
  in_doubt_present: number;
  lost: number;
  /** ms from the earliest lost acknowledgement to the master's death (SIGKILL done); 0 when nothing was lost. */
  loss_window_ms: number;
  promote_ms: number;
  /** Did the new master acknowledge a deposit within resumeTimeoutMs? */
  resumed: boolean;
  /** From the kill to the first deposit acknowledged by the new master (-1: not within resumeTimeoutMs). */
  write_outage_ms: number;
  acknowledged_after_promote: number;
  lost_after_promote: number;
  balance_mismatches: number;
  /** Storage refusals other than COMMIT_FAILED, by name: none expected. */
  unexpected_refusals: Record<string, number>;
}

const ACCOUNT_ID = 1;

interface Deposit {
  customer_id: number;
  key: string;
  amount: string;
  sent_at: number;
  acked_at?: number;
}

/** Keys (references) of the deposits in an account's ledger on one instance, read directly, bypassing the router. */
async function depositKeys(c: ChaosCluster, instance: string, customer_id: number): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  let after_seq = 0;
  for (let page = 0; page < 10_000; page++) {
    const result = (await c.cluster.call(instance, "service", "billing_ledger", { customer_id, account_id: ACCOUNT_ID, after_seq, limit: 1000 }, 10_000)) as {
      entries: Array<Record<string, string>>; has_more: boolean; next_after_seq?: number;
    };
    for (const entry of result.entries) if (entry["kind"] === "deposit") keys.set(entry["reference"]!, entry["amount"]!);
    if (!result.has_more) return keys;
    after_seq = result.next_after_seq!;
  }
  throw new Error("ledger too long");
}

export async function runFailover(c: ChaosCluster, options: FailoverOptions): Promise<FailoverFigures> {
  const router = c.router;
  const random = prng(options.seed);
  const first = options.firstCustomerId ?? 3_000_000;
  const customers: number[] = [];
  for (let id = first; customers.length < options.accounts; id++) if (router.routeOf(id).replicaset === options.replicaset) customers.push(id);
  await inPool(customers, 16, (customer_id) => router.call(customer_id, "billing_create_customer",
    { customer_id, name: `fo${customer_id}`, accounts: [{ account_id: ACCOUNT_ID, name: "main" }] }, { write: true }));

  const deposits: Deposit[] = [];
  const refusals = new Map<string, number>();
  let stop = false;
  let sequence = 0;
  const writer = async (w: number): Promise<void> => {
    while (!stop) {
      const d: Deposit = { customer_id: customers[Math.floor(random() * customers.length)]!, key: `f${w}-${sequence++}`, amount: randomAmount(random, 100), sent_at: Date.now() };
      deposits.push(d);
      try {
        await router.call(d.customer_id, "billing_deposit", { customer_id: d.customer_id, account_id: ACCOUNT_ID, amount: d.amount, idempotency_key: d.key },
          { write: true, idempotent: false, timeoutMs: 2000 });
        d.acked_at = Date.now();
      } catch (error) {
        // COMMIT_FAILED (no quorum) and lost connections are expected here; anything else is counted.
        if (isRouterError(error) && error.errorName !== "COMMIT_FAILED") refusals.set(error.errorName, (refusals.get(error.errorName) ?? 0) + 1);
        await sleep(10);
      }
    }
  };

  const oldMaster = c.cluster.masterOf(options.replicaset);
  const writers = Array.from({ length: options.writers }, (_, w) => writer(w));
  let figures: FailoverFigures;
  try {
    await sleep(options.streamMs);
    const frozen = options.freezeReplicaMs === undefined ? undefined : c.cluster.process(options.promoteTo)?.pid;
    if (frozen !== undefined) {
      process.kill(frozen, "SIGSTOP");
      await sleep(options.freezeReplicaMs!);
    }
    const killedAt = Date.now();
    await c.cluster.kill(oldMaster).finally(() => {
      if (frozen !== undefined) process.kill(frozen, "SIGCONT");
    });
    // Until the promotion no instance is writable: an acknowledgement before this instant came from the old master.
    const deadAt = Date.now();
    await c.cluster.promote(options.replicaset, options.promoteTo);
    const promotedAt = Date.now();

    // The loss check: what the new master holds of what was acknowledged before the kill.
    const held = new Map<number, Map<string, string>>();
    await inPool(customers, 16, async (id) => held.set(id, await depositKeys(c, options.promoteTo, id)));
    const before = deposits.filter((d) => d.sent_at < killedAt);
    const ackedBefore = before.filter((d) => d.acked_at !== undefined && d.acked_at <= deadAt);
    const lost = ackedBefore.filter((d) => !held.get(d.customer_id)!.has(d.key));
    const doubt = before.filter((d) => d.acked_at === undefined || d.acked_at > deadAt);

    if (options.rejoinOldMaster) await c.cluster.restart(oldMaster);
    const firstAck = await waitUntil("a deposit acknowledged by the new master", options.resumeTimeoutMs, () => {
      const acked = deposits.filter((d) => d.sent_at >= promotedAt && d.acked_at !== undefined);
      return acked.length > 0 ? Math.min(...acked.map((d) => d.acked_at!)) : undefined;
    }).catch(() => undefined);
    if (firstAck !== undefined) await sleep(options.afterMs);
    stop = true;
    await Promise.all(writers);

    // Everything acknowledged after the promotion is on the new master, and balances match its ledger.
    const final = new Map<number, Map<string, string>>();
    await inPool(customers, 16, async (id) => final.set(id, await depositKeys(c, options.promoteTo, id)));
    const ackedAfter = deposits.filter((d) => d.sent_at >= promotedAt && d.acked_at !== undefined);
    let balanceMismatches = 0;
    await inPool(customers, 16, async (id) => {
      const account = (await c.cluster.call(options.promoteTo, "service", "billing_get_account", { customer_id: id, account_id: ACCOUNT_ID })) as Record<string, string>;
      const sum = [...final.get(id)!.values()].reduce((total, amount) => total + scaled(amount), 0n);
      if (account["balance"] !== unscaled(sum)) balanceMismatches += 1;
    });
    figures = {
      sync_replication: c.topology.sync_replication,
      acknowledged_before_kill: ackedBefore.length,
      in_doubt_at_kill: doubt.length,
      in_doubt_present: doubt.filter((d) => held.get(d.customer_id)!.has(d.key)).length,
      lost: lost.length,
      loss_window_ms: lost.length === 0 ? 0 : deadAt - Math.min(...lost.map((d) => d.acked_at!)),
      promote_ms: promotedAt - killedAt,
      resumed: firstAck !== undefined,
      write_outage_ms: firstAck === undefined ? -1 : firstAck - killedAt,
      acknowledged_after_promote: ackedAfter.length,
      lost_after_promote: ackedAfter.filter((d) => !final.get(d.customer_id)!.has(d.key)).length,
      balance_mismatches: balanceMismatches,
      unexpected_refusals: Object.fromEntries(refusals),
    };
  } finally {
    stop = true;
    await Promise.allSettled(writers);
  }
  return figures;
}
