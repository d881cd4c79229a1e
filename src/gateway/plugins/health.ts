/**
 * GET /health: 200 {"status":"ready"} only when every replica set has a
 * reachable, writable master; 503 otherwise. Public (load balancers probe it
 * without a token), so the body carries counts only; the reasons go to the log.
 */
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { BillingBackend, ReplicasetHealth } from "../backend.ts";
import { Health } from "../schemas.ts";

const HEALTH_TIMEOUT_MS = 1000;

async function healthPlugin(app: FastifyInstance, options: { backend: BillingBackend }): Promise<void> {
  app.get("/health", {
    config: { access: "public" },
    logLevel: "warn", // probes every second would drown the request log
    schema: {
      tags: ["operations"],
      summary: "Readiness: every replica set has a reachable master",
      security: [],
      response: { 200: Health, 503: Health },
    },
  }, async (request, reply) => {
    const replicasets = await options.backend.health({ timeoutMs: HEALTH_TIMEOUT_MS }).catch((error: unknown): ReplicasetHealth[] => {
      request.log.warn({ err: error }, "health probe failed");
      return [];
    });
    const ready = replicasets.filter((entry) => entry.ready).length;
    const allReady = replicasets.length > 0 && ready === replicasets.length;
    if (!allReady) {
      request.log.warn({ replicasets: replicasets.filter((entry) => !entry.ready) }, "not ready");
    }
    return reply.code(allReady ? 200 : 503).send({ status: allReady ? "ready" : "not_ready", replicasets: replicasets.length, replicasets_ready: ready });
  });
}

export default fp(healthPlugin, { name: "billing-health", fastify: "5.x" });
