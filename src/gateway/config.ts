/**
 * The gateway's settings from the environment, validated by a schema
 * field by field, with defaults in one place. Secrets (tokens, passwords)
 * are never echoed in an error.
 */
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { parseTokens, type ApiToken } from "./auth.ts";
import { BODY_LIMIT_DEFAULT } from "./app.ts";

export const GATEWAY_DEFAULTS = {
  host: "127.0.0.1",
  port: 8081,
  bucket_count: 3000,
  body_limit: BODY_LIMIT_DEFAULT,
  log_level: "info",
  shutdown_timeout_ms: 10_000,
  connect_timeout_ms: 10_000,
} as const;

const Credentials = Type.Object({ name: Type.String({ minLength: 1 }), password: Type.String() }, { additionalProperties: false });

const Replicasets = Type.Record(Type.String({ minLength: 1 }), Type.Object({
  instances: Type.Array(Type.Object({
    name: Type.String({ minLength: 1 }),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  }, { additionalProperties: false }), { minItems: 1 }),
}, { additionalProperties: false }), { minProperties: 1 });

const GatewaySettings = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  body_limit: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 }),
  log_level: Type.Union([
    Type.Literal("fatal"), Type.Literal("error"), Type.Literal("warn"), Type.Literal("info"),
    Type.Literal("debug"), Type.Literal("trace"), Type.Literal("silent"),
  ]),
  shutdown_timeout_ms: Type.Integer({ minimum: 0, maximum: 600_000 }),
  connect_timeout_ms: Type.Integer({ minimum: 0, maximum: 600_000 }),
  bucket_count: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  replicasets: Replicasets,
  service_user: Credentials,
  admin_user: Type.Optional(Credentials),
});
type GatewaySettings = Static<typeof GatewaySettings>;

export type GatewayConfig = GatewaySettings & { tokens: ApiToken[] };

const checkSettings = TypeCompiler.Compile(GatewaySettings);

export class GatewayConfigError extends Error {
  override readonly name = "GatewayConfigError";
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^[0-9]+$/.test(text)) throw new GatewayConfigError(`${name} must be a whole number`);
  return Number(text);
}

function json(env: NodeJS.ProcessEnv, name: string): unknown {
  const text = env[name];
  if (text === undefined || text === "") throw new GatewayConfigError(`${name} is required`);
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayConfigError(`${name} is not valid JSON`);
  }
}

/**
 * Reads:
 * - BILLING_GATEWAY_HOST (127.0.0.1), BILLING_GATEWAY_PORT (8081)
 * - BILLING_API_TOKEN: comma-separated tokens, each optionally `:read`
 * - BILLING_REPLICASETS: JSON, {"rs1":{"instances":[{"name":"rs1-a","host":"127.0.0.1","port":3301}]}}
 * - BILLING_BUCKET_COUNT (3000), BILLING_SERVICE_USER/BILLING_SERVICE_PASSWORD (billing/""),
 *   BILLING_ADMIN_USER/BILLING_ADMIN_PASSWORD (optional: storage figures in /metrics)
 * - BILLING_BODY_LIMIT (bytes), BILLING_LOG_LEVEL (info), BILLING_SHUTDOWN_TIMEOUT_MS, BILLING_CONNECT_TIMEOUT_MS
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const settings: Record<string, unknown> = {
    host: env["BILLING_GATEWAY_HOST"] || GATEWAY_DEFAULTS.host,
    port: integer(env, "BILLING_GATEWAY_PORT", GATEWAY_DEFAULTS.port),
    body_limit: integer(env, "BILLING_BODY_LIMIT", GATEWAY_DEFAULTS.body_limit),
    log_level: env["BILLING_LOG_LEVEL"] || GATEWAY_DEFAULTS.log_level,
    shutdown_timeout_ms: integer(env, "BILLING_SHUTDOWN_TIMEOUT_MS", GATEWAY_DEFAULTS.shutdown_timeout_ms),
    connect_timeout_ms: integer(env, "BILLING_CONNECT_TIMEOUT_MS", GATEWAY_DEFAULTS.connect_timeout_ms),
    bucket_count: integer(env, "BILLING_BUCKET_COUNT", GATEWAY_DEFAULTS.bucket_count),
    replicasets: json(env, "BILLING_REPLICASETS"),
    service_user: { name: env["BILLING_SERVICE_USER"] || "billing", password: env["BILLING_SERVICE_PASSWORD"] ?? "" },
  };
  if (env["BILLING_ADMIN_USER"]) settings["admin_user"] = { name: env["BILLING_ADMIN_USER"], password: env["BILLING_ADMIN_PASSWORD"] ?? "" };
  if (!checkSettings.Check(settings)) {
    // Paths and messages only: a value may be a password.
    const problems = [...checkSettings.Errors(settings)].slice(0, 5).map((error) => `${error.path || "/"}: ${error.message}`);
    throw new GatewayConfigError(`invalid gateway settings: ${problems.join("; ")}`);
  }
  return { ...settings, tokens: parseTokens(env["BILLING_API_TOKEN"] ?? "") };
}
