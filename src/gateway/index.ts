/**
 * The gateway: one entry point. buildApp (app.ts) makes the Fastify app,
 * startGateway (server.ts) listens and shuts down gracefully, and
 * BillingBackend (backend.ts) is all it needs from the storage side.
 */
export { buildApp, BODY_LIMIT_DEFAULT, type AppOptions } from "./app.ts";
export { startGateway, exitOnSignals, main, isLoopback, type GatewayOptions, type RunningGateway } from "./server.ts";
export { routerBackend, type BillingBackend, type BackendCallOptions, type ReplicasetOutcome, type ReplicasetHealth, type RouterBackendOptions } from "./backend.ts";
export { loadConfig, GatewayConfigError, GATEWAY_DEFAULTS, type GatewayConfig } from "./config.ts";
export { parseTokens, TokenConfigError, type ApiToken, type TokenScope } from "./auth.ts";
export { PROBLEM_KINDS, GatewayProblem, type Problem, type ProblemCode } from "./problems.ts";
