/**
 * GET /metrics, Prometheus text: the gateway's requests (count and latency
 * per route pattern, never per raw URL, so cardinality stays bounded) and,
 * per replica set, what the storage's billing_stats reports: outbox depth,
 * notifications sent and failed, accounts depleted, and the
 * depletion-to-notification latency histogram.
 */
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { Type } from "@sinclair/typebox";
import type { BillingBackend, ReplicasetOutcome } from "../backend.ts";
import { Counter, FamilyWriter, Histogram } from "../prometheus.ts";
import { problems } from "../schemas.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Seconds; the storage is one or two loopback round trips away, so the low end matters. */
const HTTP_BOUNDS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATS_TIMEOUT_MS = 2000;

export interface MetricsOptions {
  backend: BillingBackend;
}

interface NotifierStats {
  sent: number;
  failed: number;
  outbox_depth: number;
  in_flight: number;
  latency_counts: number[];
  latency_buckets_ms: number[];
  latency_sum_ms: number;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function numbers(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list = value.map(num);
  return list.every((entry) => entry !== undefined) ? (list as number[]) : undefined;
}

/** The notifier part of billing_stats, checked field by field (the wire is untyped). */
function notifierOf(stats: unknown): NotifierStats | undefined {
  const notifier = (stats as { notifier?: Record<string, unknown> } | null)?.notifier;
  if (typeof notifier !== "object" || notifier === null) return undefined;
  const parsed = {
    sent: num(notifier["sent"]), failed: num(notifier["failed"]), outbox_depth: num(notifier["outbox_depth"]),
    in_flight: num(notifier["in_flight"]) ?? 0, latency_counts: numbers(notifier["latency_counts"]),
    latency_buckets_ms: numbers(notifier["latency_buckets_ms"]), latency_sum_ms: num(notifier["latency_sum_ms"]),
  };
  if (parsed.sent === undefined || parsed.failed === undefined || parsed.outbox_depth === undefined
    || parsed.latency_counts === undefined || parsed.latency_buckets_ms === undefined || parsed.latency_sum_ms === undefined
    || parsed.latency_counts.length !== parsed.latency_buckets_ms.length) return undefined;
  return parsed as NotifierStats;
}

export function renderStorageMetrics(outcomes: ReplicasetOutcome[]): string[] {
  const up = new FamilyWriter("billing_replicaset_stats_up", "1 when the replica set's master answered billing_stats for this scrape.", "gauge");
  const depth = new FamilyWriter("billing_outbox_depth", "Power-off notifications not yet delivered.", "gauge");
  const inFlight = new FamilyWriter("billing_notifications_in_flight", "Notifications being sent now.", "gauge");
  const sent = new FamilyWriter("billing_notifications_sent_total", "Notifications delivered (2xx), since the master started.", "counter");
  const failed = new FamilyWriter("billing_notifications_failed_total", "Delivery attempts that failed and were rescheduled, since the master started.", "counter");
  const depleted = new FamilyWriter("billing_accounts_depleted_total", "Accounts the scheduler marked depleted, since the master started.", "counter");
  const latency = new FamilyWriter("billing_depletion_notification_latency_seconds",
    "From the instant an account's balance reached zero to the 2xx of its first delivery attempt.", "histogram");
  for (const outcome of outcomes) {
    const labels = { replicaset: outcome.replicaset };
    const notifier = outcome.ok ? notifierOf(outcome.result) : undefined;
    up.sample("", labels, notifier === undefined ? 0 : 1);
    if (notifier === undefined) continue;
    depth.sample("", labels, notifier.outbox_depth);
    inFlight.sample("", labels, notifier.in_flight);
    sent.sample("", labels, notifier.sent);
    failed.sample("", labels, notifier.failed);
    const depletedTotal = num((outcome as { result?: { scheduler?: { depleted_total?: unknown } } }).result?.scheduler?.depleted_total);
    if (depletedTotal !== undefined) depleted.sample("", labels, depletedTotal);
    latency.histogram(labels, notifier.latency_buckets_ms.map((ms) => ms / 1000), notifier.latency_counts, notifier.latency_sum_ms / 1000);
  }
  return [up, depth, inFlight, sent, failed, depleted, latency].flatMap((family) => family.lines);
}

async function metricsPlugin(app: FastifyInstance, options: MetricsOptions): Promise<void> {
  const requests = new Counter("billing_http_requests_total", "HTTP requests answered, by route pattern, method and status.");
  const durations = new Histogram("billing_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method.", HTTP_BOUNDS_S);

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    durations.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  app.get("/metrics", {
    config: { access: "read" },
    schema: {
      tags: ["operations"],
      summary: "Prometheus metrics",
      description: "Text exposition format 0.0.4. Storage figures come from each replica set's master at scrape time.",
      response: { 200: { description: "Metrics", content: { "text/plain": { schema: Type.String() } } }, ...problems(401, 403) },
    },
  }, async (_request, reply) => {
    const outcomes = await options.backend.stats({ timeoutMs: STATS_TIMEOUT_MS }).catch((): ReplicasetOutcome[] => []);
    const lines = [...requests.render(), ...durations.render(), ...renderStorageMetrics(outcomes)];
    return reply.type(METRICS_CONTENT_TYPE).serializer((text: unknown) => String(text)).send(`${lines.join("\n")}\n`);
  });
}

export default fp(metricsPlugin, { name: "billing-metrics", fastify: "5.x" });
