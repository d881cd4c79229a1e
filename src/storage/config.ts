/**
 * Storage node configuration: read once at start from the JSON file named by
 * BILLING_NODE_CONFIG, validated field by field; a bad value stops the node
 * with a message naming the field. Defaults live here and nowhere else.
 */
import * as json from "json";
import { POWEROFF_BOUNDS } from "../contract/limits";

export interface PoweroffConfig {
  /** GET target; may contain {user_id}, {account_id}, {event_id}. Empty: notifications wait in the outbox. */
  url: string;
  /** Optional GET target for "resumed" (a deposit revived a depleted account). Empty: off. */
  resumed_url: string;
  /** HMAC-SHA256 key for the X-Billing-Signature header. Empty: unsigned. */
  secret: string;
  pool_size: number;
  request_timeout_ms: number;
  backoff_min_ms: number;
  backoff_max_ms: number;
}

export interface UserConfig {
  name: string;
  password: string;
}

export interface NodeConfig {
  instance_name: string;
  replicaset_name: string;
  listen: string;
  work_dir: string;
  read_only: boolean;
  replication: string[];
  memtx_memory_mb: number;
  bucket_count: number;
  /** Single-node mode: this replica set owns every bucket from bootstrap on. */
  own_all_buckets: boolean;
  /** Synchronous replication: sharded spaces are is_sync, a commit waits for the quorum. */
  sync_replication: boolean;
  sync_quorum: number;
  sync_timeout_s: number;
  service_user: UserConfig;
  admin_user: UserConfig;
  poweroff: PoweroffConfig;
  depletion_batch_max: number;
  idempotency_ttl_ms: number;
  /** Publishes set-up procedures for tests and benchmarks. Never in production. */
  test_hooks: boolean;
}

type Check = (value: unknown) => string | undefined;

const isString: Check = (v) => (typeof v === "string" ? undefined : "must be a string");
const isNonEmpty: Check = (v) => (typeof v === "string" && v.length > 0 ? undefined : "must be a non-empty string");
const isBoolean: Check = (v) => (typeof v === "boolean" ? undefined : "must be true or false");
const intIn = (min: number, max: number): Check => (v) =>
  typeof v === "number" && math.floor(v) === v && v >= min && v <= max ? undefined : `must be an integer from ${min} to ${max}`;
const isUrlOrEmpty: Check = (v) =>
  typeof v === "string" && (v === "" || string.match(v, "^https?://[^%s]+$")[0] !== undefined)
    ? undefined
    : "must be an http:// or https:// URL without spaces, or empty";
const isStringList: Check = (v) => {
  if (typeof v !== "object" || v === null) return "must be a list of strings";
  for (const item of v as unknown[]) if (typeof item !== "string") return "must be a list of strings";
  return undefined;
};
const isUser: Check = (v) => {
  if (typeof v !== "object" || v === null) return "must be {name, password}";
  const user = v as Record<string, unknown>;
  return isNonEmpty(user["name"]) ?? isNonEmpty(user["password"]);
};

const DEFAULT_POWEROFF: PoweroffConfig = {
  url: "",
  resumed_url: "",
  secret: "",
  pool_size: 32,
  request_timeout_ms: 2000,
  backoff_min_ms: 100,
  backoff_max_ms: 60000,
};

const POWEROFF_CHECKS: Record<keyof PoweroffConfig, Check> = {
  url: isUrlOrEmpty,
  resumed_url: isUrlOrEmpty,
  secret: isString,
  pool_size: intIn(...POWEROFF_BOUNDS.pool_size),
  request_timeout_ms: intIn(...POWEROFF_BOUNDS.request_timeout_ms),
  backoff_min_ms: intIn(...POWEROFF_BOUNDS.backoff_min_ms),
  backoff_max_ms: intIn(...POWEROFF_BOUNDS.backoff_max_ms),
};

const NODE_DEFAULTS: Omit<NodeConfig, "instance_name" | "listen" | "work_dir" | "service_user" | "admin_user" | "poweroff"> = {
  replicaset_name: "rs1",
  read_only: false,
  replication: [],
  memtx_memory_mb: 256,
  bucket_count: 3000,
  own_all_buckets: false,
  sync_replication: false,
  sync_quorum: 2,
  sync_timeout_s: 5,
  // Accounts depleted per transaction; the scheduler also caps it at 128 (SLICE_MAX) so HTTP keeps flowing in a storm.
  depletion_batch_max: 128,
  idempotency_ttl_ms: 24 * 3600 * 1000,
  test_hooks: false,
};

const NODE_CHECKS: Record<Exclude<keyof NodeConfig, "poweroff">, Check> = {
  instance_name: isNonEmpty,
  replicaset_name: isNonEmpty,
  listen: isNonEmpty,
  work_dir: isNonEmpty,
  read_only: isBoolean,
  replication: isStringList,
  memtx_memory_mb: intIn(32, 65536),
  bucket_count: intIn(1, 1000000),
  own_all_buckets: isBoolean,
  sync_replication: isBoolean,
  sync_quorum: intIn(1, 32),
  sync_timeout_s: intIn(1, 3600),
  service_user: isUser,
  admin_user: isUser,
  depletion_batch_max: intIn(1, 100000),
  idempotency_ttl_ms: intIn(1000, 30 * 24 * 3600 * 1000),
  test_hooks: isBoolean,
};

function merge<T extends object>(defaults: object, given: unknown, checks: Record<string, Check>, prefix: string): T {
  if (typeof given !== "object" || given === null) error(`config: ${prefix || "root"} must be an object`, 0);
  const source = given as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const [key] of pairs(source)) {
    if (checks[key as string] === undefined && !(prefix === "" && key === "poweroff")) {
      error(`config: unknown field ${prefix}${key as string}`, 0);
    }
  }
  for (const [key, check] of pairs(checks)) {
    const value = source[key] ?? (defaults as Record<string, unknown>)[key];
    if (value === undefined) error(`config: ${prefix}${key} is required`, 0);
    const problem = check(value);
    if (problem !== undefined) error(`config: ${prefix}${key} ${problem} (got ${tostring(value)})`, 0);
    result[key] = value;
  }
  return result as T;
}

/** Parses and validates the node config; raises a one-line message on the first bad field. */
export function loadConfig(text: string, env: { poweroff_url?: string | undefined }): NodeConfig {
  const [ok, raw] = pcall(json.decode, text);
  if (!ok) error(`config: not valid JSON: ${tostring(raw)}`, 0);
  const config = merge<NodeConfig>(NODE_DEFAULTS, raw, NODE_CHECKS as Record<string, Check>, "");
  const poweroffGiven = ((raw as Record<string, unknown>)["poweroff"] ?? {}) as Record<string, unknown>;
  if (env.poweroff_url !== undefined && env.poweroff_url !== "") poweroffGiven["url"] = env.poweroff_url;
  config.poweroff = merge<PoweroffConfig>(DEFAULT_POWEROFF, poweroffGiven, POWEROFF_CHECKS as Record<string, Check>, "poweroff.");
  if (config.poweroff.backoff_min_ms > config.poweroff.backoff_max_ms) {
    error("config: poweroff.backoff_min_ms must not exceed poweroff.backoff_max_ms", 0);
  }
  return config;
}
