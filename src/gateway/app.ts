/**
 * Builds the gateway app; everything is a plugin. No socket here: tests use
 * `app.inject()`, server.ts listens.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from "fastify";
import fp from "fastify-plugin";
import type { BillingBackend } from "./backend.ts";
import { parseTokens, TokenSet, type ApiToken } from "./auth.ts";
import { GatewayProblem } from "./problems.ts";
import { Problem } from "./schemas.ts";
import { typeboxValidatorCompiler } from "./validation.ts";
import errorsPlugin, { frameworkErrorHandler } from "./plugins/errors.ts";
import authPlugin from "./plugins/auth.ts";
import docsPlugin from "./plugins/docs.ts";
import metricsPlugin from "./plugins/metrics.ts";
import healthPlugin from "./plugins/health.ts";
import { seedRoutes } from "./routes/seed.ts";
import { v1Routes } from "./routes/v1.ts";

/** Fits the largest valid create: 100 accounts with 256-character names. */
export const BODY_LIMIT_DEFAULT = 64 * 1024;

export interface AppOptions {
  backend: BillingBackend;
  /** Allowed bearer tokens, parsed or in BILLING_API_TOKEN's comma-separated form. None: every route is open. */
  tokens?: readonly ApiToken[] | string;
  /** Fastify's logger option (pino): false (default) for none, true, or pino options such as { level, stream }. */
  logger?: FastifyServerOptions["logger"];
  /** Largest request body in bytes; larger ones get 413. */
  bodyLimit?: number;
  /** Honour X-Forwarded-For from a proxy in front (for request.ip in logs). */
  trustProxy?: boolean;
}

/** Never logged, whatever a log line carries. */
export const REDACTED_PATHS = [
  "req.headers.authorization", "headers.authorization", "authorization",
  "*.password", "*.secret", "*.token", "*.tokens", "*.hmac_secret",
];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A caller's X-Request-Id when it is sane (it is echoed and logged), else a fresh UUID. */
function requestId(request: IncomingMessage): string {
  const given = request.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

function loggerOption(logger: AppOptions["logger"]): NonNullable<FastifyServerOptions["logger"]> {
  if (logger === undefined || logger === false) return false;
  const base = logger === true ? {} : logger;
  return { ...base, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } };
}

/** Request ids on every response; once close() began, 503 SHUTTING_DOWN for new requests and no keep-alive. */
const lifecyclePlugin = fp(async (app: FastifyInstance) => {
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", String(request.id));
    if (closing) throw new GatewayProblem("SHUTTING_DOWN", "The gateway is shutting down.");
    // Bodies are read as UTF-8 JSON: a body declared in another charset would be misread, so refuse it.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers["content-type"] ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      throw new GatewayProblem("UNSUPPORTED_MEDIA_TYPE", `Only UTF-8 bodies are accepted, not charset ${charset}.`);
    }
  });
  // A keep-alive connection that finishes its request after close() began would
  // otherwise stay open, idle, until the shutdown bound cuts it.
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });
}, { name: "billing-lifecycle", fastify: "5.x", dependencies: ["billing-errors"] });

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const tokens = new TokenSet(typeof options.tokens === "string" ? parseTokens(options.tokens) : options.tokens ?? []);
  const app = Fastify({
    logger: loggerOption(options.logger),
    bodyLimit: options.bodyLimit ?? BODY_LIMIT_DEFAULT,
    genReqId: requestId,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: "request_id" }),
    return503OnClosing: false,
    trustProxy: options.trustProxy ?? false,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 64 },
    frameworkErrors: frameworkErrorHandler,
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  // JSON only: a text/plain body would otherwise reach the schema as a string.
  app.removeContentTypeParser("text/plain");
  app.addSchema(Problem);

  await app.register(errorsPlugin);
  await app.register(lifecyclePlugin);
  await app.register(docsPlugin);
  await app.register(authPlugin, { tokens });
  await app.register(metricsPlugin, { backend: options.backend });
  await app.register(healthPlugin, { backend: options.backend });
  await app.register(seedRoutes, { prefix: "/storage", backend: options.backend });
  await app.register(v1Routes, { prefix: "/v1", backend: options.backend });
  return app;
}
