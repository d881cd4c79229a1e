/**
 * What the gateway needs from the storage side, as an interface, so routes
 * are tested against a real node through the real router and against fakes
 * that fail on purpose.
 *
 * Error contract (the router's, src/router/errors.ts):
 * - RouterError: an expected failure from the catalogue; `value` is the
 *   storage's {code, name, message, details}; nothing was applied.
 * - RouterUnavailableError: no answer in time; `outcomeUnknown` tells whether
 *   a write may have run.
 * - anything else: a fault, answered 500 without its text.
 */
import type { Router } from "../router/index.ts";

export interface BackendCallOptions {
  /** Writes go to the master of the customer's replica set. */
  write: boolean;
  /** May a call whose answer was lost be sent again? (a deposit with an idempotency key is) */
  idempotent?: boolean;
  timeoutMs?: number;
}

/** One replica set's answer to a fan-out: every replica set answers, failures included. */
export type ReplicasetOutcome =
  | { replicaset: string; ok: true; result: unknown }
  | { replicaset: string; ok: false; error: Error };

export interface BillingBackend {
  /** Calls a service procedure on the master owning the customer; resolves with its result. */
  call(customer_id: number, procedure: string, request: Record<string, unknown>, options: BackendCallOptions): Promise<unknown>;
  /** Calls a service procedure on every replica set's master. */
  callAll(procedure: string, request: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<ReplicasetOutcome[]>;
  /** billing_stats (an admin procedure) from every replica set's master, for /metrics. */
  stats(options?: { timeoutMs?: number }): Promise<ReplicasetOutcome[]>;
  /** Is there a reachable, writable master in each replica set? For /health. */
  health(options?: { timeoutMs?: number }): Promise<ReplicasetHealth[]>;
  /** Closes every connection; called once, after the HTTP server has drained. */
  close(): Promise<void>;
}

export interface ReplicasetHealth {
  replicaset: string;
  ready: boolean;
  /** Why not, for the logs; never sent to clients. */
  problem?: string;
}

export interface RouterBackendOptions {
  /** Service credentials: runs the published procedures. */
  router: Router;
  /**
   * The same topology with the admin user, for billing_stats only. Without
   * it, /metrics reports the HTTP side and `billing_replicaset_stats_up 0`.
   */
  adminRouter?: Router;
}

const PROBE_TIMEOUT_MS = 1000;

/** The production backend: the router library. */
export function routerBackend(options: RouterBackendOptions): BillingBackend {
  const { router, adminRouter } = options;
  return {
    async call(customer_id, procedure, request, callOptions) {
      return await router.call(customer_id, procedure, request, callOptions);
    },
    async callAll(procedure, request, fanOut = {}) {
      return await router.callAll(procedure, request, fanOut);
    },
    async stats(fanOut = {}) {
      if (adminRouter === undefined) {
        return Object.keys(router.status().replicasets).map((replicaset) => ({ replicaset, ok: false as const, error: new Error("no admin credentials configured") }));
      }
      return await adminRouter.callAll("billing_stats", undefined, fanOut);
    },
    async health(probe = {}) {
      const outcomes = await router.callAll("billing_info", undefined, { timeoutMs: probe.timeoutMs ?? PROBE_TIMEOUT_MS });
      return outcomes.map((outcome): ReplicasetHealth => {
        if (!outcome.ok) return { replicaset: outcome.replicaset, ready: false, problem: outcome.error.message };
        const info = outcome.result as { read_only?: unknown } | null;
        if (info?.read_only === false) return { replicaset: outcome.replicaset, ready: true };
        return { replicaset: outcome.replicaset, ready: false, problem: "the instance answering is read-only" };
      });
    },
    async close() {
      await Promise.all([router.close(), adminRouter?.close()]);
    },
  };
}
