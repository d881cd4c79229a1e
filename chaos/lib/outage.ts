/**
 * Receiver outage: the power-off receiver is down (its port closed) while
 * many accounts run out of money, and one storage master is SIGKILLed and
 * started again in the middle of it. After the receiver is back, every
 * depletion must be notified at least once, with the event id its ledger row
 * names, for the right user and account, with the zero instant and a valid
 * signature; none lost, none invented, one episode per account.
 */
import type { Delivery } from "../../src/receiver/receiver.ts";
import type { ChaosCluster } from "./cluster.ts";
import { routerLedger } from "./ledger.ts";
import { inPool, prng, sleep, waitUntil } from "./util.ts";

export interface OutageOptions {
  accounts: number;
  outageMs: number;
  /** The master SIGKILLed and restarted at the middle of the outage; none when undefined. */
  restartVictim?: string;
  seed: number;
  /** Longest wait for every notification once the receiver is back. */
  drainTimeoutMs: number;
  firstCustomerId?: number;
}

export interface OutageFigures {
  accounts: number;
  outage_ms: number;
  depleted_during_outage: number;
  depleted_while_master_down: number;
  notified: number;
  lost: number;
  deliveries: number;
  duplicate_deliveries: number;
  /** Depletion episodes beyond one per account (an account depleted twice). */
  extra_episodes: number;
  phantom_deliveries: number;
  bad_deliveries: number;
  attempts_max: number;
  drain_ms: number;
  master_restart_ms: number;
}

const ACCOUNT_ID = 1;

interface Episode {
  customer_id: number;
  event_id: string;
  at_ms: number;
}

/** The account's depletion episodes as its ledger records them (reference = event id). */
async function episodesOf(c: ChaosCluster, customer_id: number): Promise<Episode[]> {
  return (await routerLedger(c.router, customer_id, ACCOUNT_ID)).filter((e) => e.kind === "depleted")
    .map((e) => ({ customer_id, event_id: e.reference, at_ms: e.at_ms }));
}

export async function runReceiverOutage(c: ChaosCluster, options: OutageOptions): Promise<OutageFigures> {
  const random = prng(options.seed);
  const first = options.firstCustomerId ?? 2_000_000;
  const customers = Array.from({ length: options.accounts }, (_, i) => first + i);
  const mine = new Set(customers.map(String));
  const router = c.router;
  await inPool(customers, 32, (customer_id) => router.call(customer_id, "billing_create_customer",
    { customer_id, name: `outage${customer_id}`, accounts: [{ account_id: ACCOUNT_ID, name: "main" }] }, { write: true }));

  await c.receiver.stop();
  const outageStarted = Date.now();
  // Each account runs out at its own instant within the first 60% of the outage:
  // amount = lifetime in seconds at 1 per second, so the zero instant is exact.
  const lifetimeMax = Math.max(200, Math.floor(options.outageMs * 0.6));
  const zeroAt = new Map<number, number>();
  await inPool(customers, 32, async (customer_id) => {
    const lifetime_ms = 100 + Math.floor(random() * (lifetimeMax - 100));
    await router.call(customer_id, "billing_deposit", { customer_id, account_id: ACCOUNT_ID, amount: (lifetime_ms / 1000).toFixed(3) }, { write: true });
    const account = await router.call<Record<string, number>>(customer_id, "billing_set_rate", { customer_id, account_id: ACCOUNT_ID, rate_per_s: "1" }, { write: true });
    zeroAt.set(customer_id, account["depletes_at_ms"]!);
  });

  const victimSet = options.restartVictim === undefined ? undefined
    : Object.entries(c.topology.replicasets).find(([, rs]) => rs.instances.some((i) => i.name === options.restartVictim))?.[0];
  let masterRestartMs = 0;
  let masterDown: [number, number] = [0, 0];
  if (options.restartVictim !== undefined) {
    await sleep(Math.max(0, outageStarted + options.outageMs / 2 - Date.now()));
    const killedAt = Date.now();
    await c.cluster.kill(options.restartVictim);
    await sleep(Math.min(1000, options.outageMs / 10));
    await c.cluster.restart(options.restartVictim);
    masterDown = [killedAt, Date.now()];
    masterRestartMs = masterDown[1] - killedAt;
  }
  await sleep(Math.max(0, outageStarted + options.outageMs - Date.now()));
  const deliveredDuringOutage = c.receiver.deliveries.filter((d) => d.user_id !== undefined && mine.has(d.user_id)).length;
  if (deliveredDuringOutage > 0) throw new Error(`${deliveredDuringOutage} deliveries while the receiver was down`);
  await c.receiver.start();
  const back = Date.now();

  // The ledger names each depletion's event id; the receiver must get each of them.
  const episodes = new Map<number, Episode[]>();
  await waitUntil("every account depleted in its ledger", options.drainTimeoutMs, async () => {
    const pending = customers.filter((id) => (episodes.get(id)?.length ?? 0) === 0);
    await inPool(pending, 32, async (id) => episodes.set(id, await episodesOf(c, id)));
    return customers.every((id) => (episodes.get(id)?.length ?? 0) > 0) ? true : undefined;
  }, 100);
  const expected = new Map<string, Episode>();
  for (const list of episodes.values()) for (const episode of list) expected.set(episode.event_id, episode);
  const delivered = (): Map<string, Delivery[]> => {
    const byEvent = new Map<string, Delivery[]>();
    for (const d of c.receiver.deliveries) {
      if (d.event_id === undefined || d.user_id === undefined || !mine.has(d.user_id)) continue;
      byEvent.set(d.event_id, [...(byEvent.get(d.event_id) ?? []), d]);
    }
    return byEvent;
  };
  let lastArrival = back;
  try {
    await c.receiver.waitFor(() => [...expected.keys()].every((id) => delivered().has(id)), options.drainTimeoutMs);
  } catch {
    // Counted as lost below.
  }
  await sleep(300); // late duplicates, if any, arrive now
  const byEvent = delivered();
  let bad = 0;
  let attemptsMax = 0;
  for (const [event_id, list] of byEvent) {
    const episode = expected.get(event_id);
    for (const d of list) {
      lastArrival = Math.max(lastArrival, d.received_at_ms);
      attemptsMax = Math.max(attemptsMax, Number(d.headers["x-billing-attempt"] ?? 0));
      if (episode === undefined) continue;
      const right = d.user_id === String(episode.customer_id) && d.account_id === String(ACCOUNT_ID) && d.kind === "depleted"
        && d.occurred_at_ms === episode.at_ms && d.signature_valid === true && episode.at_ms === zeroAt.get(episode.customer_id);
      if (!right) bad += 1;
    }
  }
  const deliveries = [...byEvent.values()].reduce((n, list) => n + list.length, 0);
  const notified = [...expected.keys()].filter((id) => byEvent.has(id)).length;
  const episodesTotal = [...episodes.values()].reduce((n, list) => n + list.length, 0);
  return {
    accounts: options.accounts,
    outage_ms: back - outageStarted,
    depleted_during_outage: [...zeroAt.values()].filter((at) => at < back).length,
    depleted_while_master_down: [...zeroAt.entries()].filter(([id, at]) => victimSet !== undefined && router.routeOf(id).replicaset === victimSet
      && at >= masterDown[0] && at <= masterDown[1]).length,
    notified,
    lost: expected.size - notified,
    deliveries,
    duplicate_deliveries: deliveries - byEvent.size,
    extra_episodes: episodesTotal - customers.length,
    phantom_deliveries: [...byEvent.keys()].filter((id) => !expected.has(id)).length,
    bad_deliveries: bad,
    attempts_max: attemptsMax,
    drain_ms: lastArrival - back,
    master_restart_ms: masterRestartMs,
  };
}
