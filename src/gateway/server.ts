/**
 * Starts the gateway: listen, and shut down gracefully on SIGTERM/SIGINT
 * (stop accepting, let in-flight requests finish within a bound, then close
 * the backend). `startGateway` is the programmatic entry (the cluster runner,
 * tests); running this file starts one from the environment (config.ts).
 */
import { pathToFileURL } from "node:url";
import type { FastifyInstance } from "fastify";
import { Router } from "../router/index.ts";
import { buildApp, type AppOptions } from "./app.ts";
import { parseTokens, type ApiToken } from "./auth.ts";
import { routerBackend, type BillingBackend } from "./backend.ts";
import { GATEWAY_DEFAULTS, loadConfig } from "./config.ts";

export interface GatewayOptions extends Omit<AppOptions, "tokens"> {
  backend: BillingBackend;
  tokens?: readonly ApiToken[] | string;
  /** Default 127.0.0.1; without tokens, any other address is refused in favour of 127.0.0.1. */
  host?: string;
  /** Default 8081; 0 picks a free port. */
  port?: number;
  /** Longest wait for in-flight requests at close; then their connections are cut. */
  shutdownTimeoutMs?: number;
}

export interface RunningGateway {
  app: FastifyInstance;
  /** http://host:port */
  url: string;
  /** Stops accepting, finishes in-flight requests (bounded), closes the backend. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const tokens = typeof options.tokens === "string" ? parseTokens(options.tokens) : [...(options.tokens ?? [])];
  const { host: requestedHost = GATEWAY_DEFAULTS.host, port = GATEWAY_DEFAULTS.port, shutdownTimeoutMs = GATEWAY_DEFAULTS.shutdown_timeout_ms, ...appOptions } = options;
  const app = await buildApp({ ...appOptions, tokens });
  let host = requestedHost;
  if (tokens.length === 0) {
    if (!isLoopback(host)) host = "127.0.0.1";
    app.log.warn({ requested_host: requestedHost, host }, "no API tokens configured (BILLING_API_TOKEN): every route is open, so the gateway listens on loopback only");
  }
  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
  app.log.info({ url: address, tokens: tokens.length }, "gateway listening");
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const timer = setTimeout(() => {
        app.log.warn({ shutdown_timeout_ms: shutdownTimeoutMs }, "in-flight requests still running at the shutdown bound: closing their connections");
        app.server.closeAllConnections();
      }, shutdownTimeoutMs);
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
        await options.backend.close().catch((error: unknown) => app.log.error({ err: error }, "closing the backend failed"));
      }
      app.log.info("gateway stopped");
    })();
    return closing;
  };
  return { app, url: address, close };
}

/** SIGTERM/SIGINT: one graceful close, then exit; a second signal exits at once. */
export function exitOnSignals(gateway: RunningGateway): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      gateway.app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    gateway.app.log.info({ signal }, "shutting down");
    gateway.close().then(() => process.exit(0), (error: unknown) => {
      gateway.app.log.error({ err: error }, "shutdown failed");
      process.exit(1);
    });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** The command-line entry: settings from the environment, the router as backend. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  const config = loadConfig(env);
  const topology = { replicasets: config.replicasets, bucket_count: config.bucket_count };
  const router = new Router({ ...topology, credentials: config.service_user });
  const adminRouter = config.admin_user === undefined ? undefined : new Router({ ...topology, credentials: config.admin_user });
  const backend = routerBackend(adminRouter === undefined ? { router } : { router, adminRouter });
  const gateway = await startGateway({
    backend,
    tokens: config.tokens,
    host: config.host,
    port: config.port,
    bodyLimit: config.body_limit,
    shutdownTimeoutMs: config.shutdown_timeout_ms,
    logger: { level: config.log_level },
  });
  exitOnSignals(gateway);
  // Serve at once: calls find masters on demand; this only warms the connections and reports.
  router.connect(config.connect_timeout_ms).then(
    () => gateway.app.log.info({ replicasets: Object.keys(config.replicasets) }, "router connected"),
    (error: unknown) => gateway.app.log.warn({ err: error }, "router not ready yet; calls will keep looking for masters"),
  );
  adminRouter?.connect(config.connect_timeout_ms).catch(() => {});
  return gateway;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`gateway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
