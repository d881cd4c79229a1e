/**
 * Gateway restart under load: HTTP clients deposit through the gateway, each
 * deposit with its own Idempotency-Key, and retry the same key and amount on
 * any failure (refused connection, cut connection, 503, 504) until it is
 * acknowledged; meanwhile the gateway is stopped (close(): gracefully, or
 * with in-flight connections cut at once) and started again on the same
 * port, several times. No deposit may count twice: every balance equals the
 * sum of its keys' amounts and each key is in the ledger exactly once.
 */
import type { RunningGateway } from "../../src/gateway/server.ts";
import { startGateway } from "../../src/gateway/server.ts";
import { routerBackend } from "../../src/gateway/backend.ts";
import { Router } from "../../src/router/index.ts";
import type { ChaosCluster } from "./cluster.ts";
import { routerLedger } from "./ledger.ts";
import { inPool, prng, randomAmount, scaled, sleep, unscaled } from "./util.ts";

export interface GatewayRestartOptions {
  accounts: number;
  clients: number;
  restarts: number;
  /** The gateway serves this long between restarts. */
  upMs: number;
  /** ... and is down this long. */
  downMs: number;
  seed: number;
  /** Longest a single deposit may keep retrying. */
  depositDeadlineMs: number;
  firstCustomerId?: number;
}

export interface GatewayRestartFigures {
  restarts: number;
  deposits: number;
  attempts: number;
  retried_deposits: number;
  replayed_answers: number;
  status_counts: Record<string, number>;
  connection_errors: number;
  unfinished: number;
  unexpected_answers: number;
  double_counted_accounts: number;
  ledger_mismatches: number;
}

const ACCOUNT_ID = 1;

interface Attempted {
  customer_id: number;
  key: string;
  amount: string;
  attempts: number;
  done: boolean;
}

export async function runGatewayRestart(c: ChaosCluster, options: GatewayRestartOptions): Promise<GatewayRestartFigures> {
  const random = prng(options.seed);
  const first = options.firstCustomerId ?? 4_000_000;
  const customers = Array.from({ length: options.accounts }, (_, i) => first + i);
  await inPool(customers, 16, (customer_id) => c.router.call(customer_id, "billing_create_customer",
    { customer_id, name: `gw${customer_id}`, accounts: [{ account_id: ACCOUNT_ID, name: "main" }] }, { write: true }));

  const start = async (port: number, shutdownTimeoutMs: number): Promise<RunningGateway> => {
    const router = new Router(c.cluster.routerOptions({ callTimeoutMs: 3000 }));
    return await startGateway({ backend: routerBackend({ router }), port, shutdownTimeoutMs });
  };
  let gateway = await start(0, 10_000);
  const base = gateway.url;
  const port = Number(new URL(base).port);

  const statuses = new Map<string, number>();
  const count = (label: string): void => {
    statuses.set(label, (statuses.get(label) ?? 0) + 1);
  };
  const attempted: Attempted[] = [];
  let replayed = 0;
  let unexpected = 0;
  let connectionErrors = 0;
  let stop = false;
  let sequence = 0;

  const depositOnce = async (d: Attempted, viaSeed: boolean): Promise<boolean> => {
    const url = viaSeed ? `${base}/storage/customers/${d.customer_id}/update_balance` : `${base}/v1/customers/${d.customer_id}/accounts/${ACCOUNT_ID}/deposits`;
    const body = viaSeed ? { amount: d.amount, account_id: ACCOUNT_ID } : { amount: d.amount };
    d.attempts += 1;
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(5000),
        headers: { "content-type": "application/json", "idempotency-key": d.key },
      });
    } catch {
      connectionErrors += 1;
      return false;
    }
    count(String(response.status));
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 200) {
      if (answer["replayed"] === true) replayed += 1;
      return true;
    }
    if (response.status !== 503 && response.status !== 504) unexpected += 1;
    return false;
  };

  const client = async (): Promise<void> => {
    while (!stop) {
      const d: Attempted = { customer_id: customers[Math.floor(random() * customers.length)]!, key: `g-${sequence++}`, amount: randomAmount(random, 50), attempts: 0, done: false };
      attempted.push(d);
      const deadline = Date.now() + options.depositDeadlineMs;
      // The same key and amount, again and again, until acknowledged: a client that cannot tell whether it was applied.
      while (!d.done && Date.now() < deadline) {
        d.done = await depositOnce(d, random() < 0.5);
        if (!d.done) await sleep(20);
      }
    }
  };

  const clients = Array.from({ length: options.clients }, client);
  try {
    for (let restart = 0; restart < options.restarts; restart++) {
      await sleep(options.upMs);
      await gateway.close();
      await sleep(options.downMs);
      // Every other restart cuts in-flight requests at once: their deposits may or may not have been applied.
      gateway = await start(port, restart % 2 === 0 ? 0 : 10_000);
    }
    await sleep(options.upMs);
  } finally {
    stop = true;
    await Promise.allSettled(clients);
    await gateway.close();
  }

  // Balances and ledgers, read through the router: each key exactly once.
  const byCustomer = new Map<number, Attempted[]>();
  for (const d of attempted) byCustomer.set(d.customer_id, [...(byCustomer.get(d.customer_id) ?? []), d]);
  let doubled = 0;
  let ledgerMismatches = 0;
  await inPool(customers, 16, async (customer_id) => {
    const mine = (byCustomer.get(customer_id) ?? []).filter((d) => d.done);
    const account = await c.router.call<Record<string, string>>(customer_id, "billing_get_account", { customer_id, account_id: ACCOUNT_ID }, { write: false });
    const expected = mine.reduce((sum, d) => sum + scaled(d.amount), 0n);
    if (account["balance"] !== unscaled(expected)) doubled += 1;
    const references = (await routerLedger(c.router, customer_id, ACCOUNT_ID)).filter((e) => e.kind === "deposit").map((e) => e.reference).sort();
    if (JSON.stringify(references) !== JSON.stringify(mine.map((d) => d.key).sort())) ledgerMismatches += 1;
  });

  return {
    restarts: options.restarts,
    deposits: attempted.length,
    attempts: attempted.reduce((n, d) => n + d.attempts, 0),
    retried_deposits: attempted.filter((d) => d.attempts > 1).length,
    replayed_answers: replayed,
    status_counts: Object.fromEntries(statuses),
    connection_errors: connectionErrors,
    unfinished: attempted.filter((d) => !d.done).length,
    unexpected_answers: unexpected,
    double_counted_accounts: doubled,
    ledger_mismatches: ledgerMismatches,
  };
}
