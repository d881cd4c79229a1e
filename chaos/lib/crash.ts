/**
 * Crash: a stream of deposits (each with its own idempotency key) while the
 * master of a replica set is SIGKILLed and started again on its data, several
 * times. The client keeps its own record: a deposit is acknowledged when its
 * answer came back, in doubt when the call failed. Afterwards:
 * - every acknowledged deposit is there: its key replays (replayed: true)
 *   with the ledger sequence number the acknowledgement carried;
 * - each in-doubt one is settled by replaying its key: replayed (it had been
 *   applied) or applied now (it had not);
 * - every balance is exact: before the replays it equals the acknowledged sum
 *   plus the in-doubt deposits that turned out applied; after, the sum of
 *   every key; and the ledger holds each key exactly once.
 */
import { isRouterError, type Router } from "../../src/router/index.ts";
import type { ChaosCluster } from "./cluster.ts";
import { routerLedger } from "./ledger.ts";
import { prng, randomAmount, scaled, sleep, unscaled, inPool } from "./util.ts";

export interface CrashOptions {
  accounts: number;
  writers: number;
  cycles: number;
  /** Deposits flow this long before each kill. */
  streamMs: number;
  /** The master stays dead this long before it is started again. */
  downMs: number;
  seed: number;
  /** The instance to kill (a master); default: the master of rs1. */
  victim?: string;
  firstCustomerId?: number;
}

interface Deposit {
  customer_id: number;
  key: string;
  amount: string;
  /** "acked" with the ledger seq it got, or "doubt" (failed, may or may not be applied). */
  outcome: "acked" | "doubt";
  ledger_seq?: number;
}

export interface CrashFigures {
  cycles: number;
  accounts: number;
  acknowledged: number;
  in_doubt: number;
  in_doubt_applied: number;
  in_doubt_not_applied: number;
  acknowledged_lost: number;
  balance_mismatches: number;
  ledger_mismatches: number;
  restart_ms_max: number;
  deposits_per_s: number;
}

const ACCOUNT_ID = 1;

async function deposit(router: Router, d: Pick<Deposit, "customer_id" | "key" | "amount">, timeoutMs: number): Promise<Record<string, unknown>> {
  return await router.call(d.customer_id, "billing_deposit",
    { customer_id: d.customer_id, account_id: ACCOUNT_ID, amount: d.amount, idempotency_key: d.key },
    { write: true, idempotent: false, timeoutMs });
}

export async function runCrashScenario(c: ChaosCluster, options: CrashOptions): Promise<CrashFigures> {
  const router = c.router;
  const random = prng(options.seed);
  const first = options.firstCustomerId ?? 1_000_000;
  const customers = Array.from({ length: options.accounts }, (_, i) => first + i);
  await inPool(customers, 32, (customer_id) => router.call(customer_id, "billing_create_customer",
    { customer_id, name: `crash${customer_id}`, accounts: [{ account_id: ACCOUNT_ID, name: "main" }] }, { write: true }));

  const deposits: Deposit[] = [];
  let stop = false;
  let sequence = 0;
  const writer = async (w: number): Promise<void> => {
    while (!stop) {
      const d = { customer_id: customers[Math.floor(random() * customers.length)]!, key: `w${w}-${sequence++}`, amount: randomAmount(random) };
      try {
        const result = await deposit(router, d, 1000);
        deposits.push({ ...d, outcome: "acked", ledger_seq: result["ledger_seq"] as number });
      } catch (error) {
        // A refusal from the catalogue applied nothing; none is expected here.
        if (isRouterError(error)) throw error;
        deposits.push({ ...d, outcome: "doubt" });
        await sleep(5);
      }
    }
  };

  const victim = options.victim ?? c.cluster.masterOf("rs1");
  const started = Date.now();
  const writers = Array.from({ length: options.writers }, (_, w) => writer(w));
  let restartMsMax = 0;
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      await sleep(options.streamMs);
      await c.cluster.kill(victim);
      await sleep(options.downMs);
      const restartStarted = Date.now();
      await c.cluster.restart(victim);
      restartMsMax = Math.max(restartMsMax, Date.now() - restartStarted);
    }
    await sleep(options.streamMs);
  } finally {
    stop = true;
    await Promise.allSettled(writers);
  }
  const elapsedMs = Date.now() - started;
  const rejected = await Promise.allSettled(writers);
  for (const outcome of rejected) if (outcome.status === "rejected") throw outcome.reason;

  // Balances as the crashes left them: acknowledged sum plus whatever in-doubt deposits landed.
  const balancesBefore = new Map<number, bigint>();
  await inPool(customers, 32, async (customer_id) => {
    const account = await router.call<Record<string, string>>(customer_id, "billing_get_account", { customer_id, account_id: ACCOUNT_ID }, { write: false });
    balancesBefore.set(customer_id, scaled(account["balance"]!));
  });

  let acknowledgedLost = 0;
  let doubtApplied = 0;
  let doubtNotApplied = 0;
  const landedBefore = new Map<number, bigint>();
  await inPool(deposits, 32, async (d) => {
    const replay = await deposit(router, d, 10_000);
    const replayed = replay["replayed"] === true;
    if (d.outcome === "acked") {
      if (!replayed || replay["ledger_seq"] !== d.ledger_seq) acknowledgedLost += 1;
    } else if (replayed) {
      doubtApplied += 1;
    } else {
      doubtNotApplied += 1;
    }
    if (d.outcome === "acked" || replayed) landedBefore.set(d.customer_id, (landedBefore.get(d.customer_id) ?? 0n) + scaled(d.amount));
  });

  let balanceMismatches = 0;
  let ledgerMismatches = 0;
  const keysOf = new Map<number, Deposit[]>();
  for (const d of deposits) keysOf.set(d.customer_id, [...(keysOf.get(d.customer_id) ?? []), d]);
  await inPool(customers, 16, async (customer_id) => {
    const mine = keysOf.get(customer_id) ?? [];
    const expectedBefore = landedBefore.get(customer_id) ?? 0n;
    if (balancesBefore.get(customer_id) !== expectedBefore) balanceMismatches += 1;
    const total = mine.reduce((sum, d) => sum + scaled(d.amount), 0n);
    const account = await router.call<Record<string, string>>(customer_id, "billing_get_account", { customer_id, account_id: ACCOUNT_ID }, { write: false });
    if (account["balance"] !== unscaled(total)) balanceMismatches += 1;
    const references = (await routerLedger(router, customer_id, ACCOUNT_ID)).filter((e) => e.kind === "deposit").map((e) => e.reference);
    const expected = mine.map((d) => d.key).sort();
    if (JSON.stringify([...references].sort()) !== JSON.stringify(expected)) ledgerMismatches += 1;
  });

  const acknowledged = deposits.filter((d) => d.outcome === "acked").length;
  return {
    cycles: options.cycles,
    accounts: options.accounts,
    acknowledged,
    in_doubt: deposits.length - acknowledged,
    in_doubt_applied: doubtApplied,
    in_doubt_not_applied: doubtNotApplied,
    acknowledged_lost: acknowledgedLost,
    balance_mismatches: balanceMismatches,
    ledger_mismatches: ledgerMismatches,
    restart_ms_max: restartMsMax,
    deposits_per_s: Math.round((acknowledged * 1000) / elapsedMs),
  };
}
