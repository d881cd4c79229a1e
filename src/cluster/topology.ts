/**
 * The topology file: the whole cluster in one YAML document (replica sets and
 * their instances, users, power-off target, gateway, data folder). Validated
 * at load, field by field; every problem is reported at once, each naming its
 * field. Defaults live in TOPOLOGY_DEFAULTS and nowhere else; the power-off
 * fields left out fall back to the storage's own defaults (src/storage/config.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { POWEROFF_BOUNDS } from "../contract/limits.ts";
import { REPO_ROOT, type PoweroffSettings } from "./storage-process.ts";

export type Role = "master" | "replica";

export interface TopologyInstance {
  name: string;
  host: string;
  port: number;
  /** The master at bootstrap. After a failover the cluster's state file says who is master now. */
  role: Role;
}

export interface TopologyUser {
  name: string;
  password: string;
}

/** Same fields and bounds as the storage config's `poweroff`; absent fields take the storage's defaults. */
export type { PoweroffSettings };

export interface Topology {
  bucket_count: number;
  /** Each instance keeps its data in <data_dir>/<instance name>; relative to the current directory. */
  data_dir: string;
  /** Synchronous replication: a commit waits for a majority of its replica set. */
  sync_replication: boolean;
  memtx_memory_mb: number;
  replicasets: Record<string, { instances: TopologyInstance[] }>;
  users: { service: TopologyUser; admin: TopologyUser };
  poweroff: PoweroffSettings;
  gateway: { host: string; port: number };
}

export const TOPOLOGY_DEFAULTS = {
  bucket_count: 3000,
  data_dir: "./data",
  sync_replication: false,
  memtx_memory_mb: 256,
  gateway: { host: "127.0.0.1", port: 8081 },
} as const;

/** The embedded default: 2 replica sets × (master + replica) on 127.0.0.1:3301..3304, gateway on 8081. */
export const DEFAULT_TOPOLOGY_PATH = join(REPO_ROOT, "config/topology.default.yaml");

export class TopologyError extends Error {
  override readonly name = "TopologyError";
  constructor(readonly problems: string[], source: string) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Collects problems with the path of the field they concern. */
class Problems {
  readonly list: string[] = [];
  add(path: string, message: string, value?: unknown): void {
    this.list.push(value === undefined ? `${path} ${message}` : `${path} ${message} (got ${describe(value)})`);
  }
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A field check: undefined when the value is fine, otherwise what is wrong. */
type Check = (value: unknown) => string | undefined;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const isName: Check = (v) => (typeof v === "string" && NAME_RE.test(v) ? undefined
  : "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");
const isHost: Check = (v) => (typeof v === "string" && /^[A-Za-z0-9.:_-]{1,253}$/.test(v) ? undefined : "must be a host name or IP address");
const isBoolean: Check = (v) => (typeof v === "boolean" ? undefined : "must be true or false");
const isNonEmpty: Check = (v) => (typeof v === "string" && v.length > 0 ? undefined : "must be a non-empty string");
const isString: Check = (v) => (typeof v === "string" ? undefined : "must be a string");
const intIn = (min: number, max: number): Check => (v) =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? undefined : `must be an integer from ${min} to ${max}`;
const isPort = intIn(1, 65535);
const isUrlOrEmpty: Check = (v) =>
  typeof v === "string" && (v === "" || /^https?:\/\/\S+$/.test(v)) ? undefined : "must be an http:// or https:// URL without spaces, or empty";
const isRole: Check = (v) => (v === "master" || v === "replica" ? undefined : 'must be "master" or "replica"');
// Credentials go into replication URIs (user:password@host:port), where these characters would split the URI.
const isUriSafe: Check = (v) => (typeof v === "string" && v.length > 0 && !/[@:/\s]/.test(v) ? undefined
  : "must be non-empty, without '@', ':', '/' or spaces");
// Tarantool's built-in users: reusing one would hand it the billing grants (or change the superuser's password).
const isUserName: Check = (v) => isUriSafe(v) ?? (v === "admin" || v === "guest" ? "must not be Tarantool's built-in admin or guest" : undefined);

const POWEROFF_CHECKS: Record<keyof PoweroffSettings, Check> = {
  url: isUrlOrEmpty,
  resumed_url: isUrlOrEmpty,
  secret: isString,
  pool_size: intIn(...POWEROFF_BOUNDS.pool_size),
  request_timeout_ms: intIn(...POWEROFF_BOUNDS.request_timeout_ms),
  backoff_min_ms: intIn(...POWEROFF_BOUNDS.backoff_min_ms),
  backoff_max_ms: intIn(...POWEROFF_BOUNDS.backoff_max_ms),
};

const INSTANCE_CHECKS: Record<keyof TopologyInstance, Check> = { name: isName, host: isHost, port: isPort, role: isRole };
const USER_CHECKS: Record<keyof TopologyUser, Check> = { name: isUserName, password: isUriSafe };
const GATEWAY_CHECKS = { host: isHost, port: isPort };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads an object field by field: unknown fields are refused (a typo must not
 * be silently ignored), absent ones take `defaults`, absent required ones are
 * reported unless the whole object is optional.
 */
function readFields(
  raw: unknown, path: string, checks: Record<string, Check>, defaults: Record<string, unknown>, problems: Problems, allOptional = false,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!isObject(raw)) {
    problems.add(path, "must be a mapping", raw);
    return result;
  }
  for (const key of Object.keys(raw)) if (!(key in checks)) problems.add(`${path}.${key}`, "is not a known field");
  for (const [key, check] of Object.entries(checks)) {
    const value = raw[key] ?? defaults[key];
    if (value === undefined) {
      if (!(key in defaults) && !allOptional) problems.add(`${path}.${key}`, "is required");
      continue;
    }
    const problem = check(value);
    // A rejected password or secret is not echoed: error messages end up in logs.
    if (problem !== undefined) problems.add(`${path}.${key}`, problem, /password|secret/.test(key) ? undefined : value);
    result[key] = value;
  }
  return result;
}

function readInstances(name: string, raw: unknown, problems: Problems): TopologyInstance[] {
  const path = `replicasets.${name}`;
  const body = readFields(raw, path, { instances: () => undefined }, {}, problems);
  const list = body["instances"];
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.length === 0) {
    problems.add(`${path}.instances`, "must be a non-empty list", list);
    return [];
  }
  const instances = list.map((entry, i) => readFields(entry, `${path}.instances[${i}]`, INSTANCE_CHECKS, {}, problems) as unknown as TopologyInstance);
  const masters = instances.filter((instance) => instance.role === "master").length;
  if (masters !== 1) problems.add(`${path}.instances`, `must have exactly one role: master (has ${masters})`);
  return instances;
}

function readReplicasets(raw: unknown, problems: Problems): Topology["replicasets"] {
  const replicasets: Topology["replicasets"] = {};
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    problems.add("replicasets", "must be a non-empty mapping of replica set name to {instances}", raw);
    return replicasets;
  }
  for (const [name, body] of Object.entries(raw)) {
    const problem = isName(name);
    if (problem !== undefined) problems.add(`replicasets.${name}`, `name ${problem}`);
    replicasets[name] = { instances: readInstances(name, body, problems) };
  }
  return replicasets;
}

/** Names are data folder names and log keys; addresses are listen sockets: each must be unique. */
function checkUniqueness(topology: Topology, problems: Problems): void {
  const names = new Map<string, string>();
  const addresses = new Map<string, string>([[`${topology.gateway.host}:${topology.gateway.port}`, "gateway"]]);
  for (const [rsName, rs] of Object.entries(topology.replicasets)) {
    rs.instances.forEach((instance, i) => {
      const path = `replicasets.${rsName}.instances[${i}]`;
      if (instance.name !== undefined) {
        const other = names.get(instance.name);
        if (other !== undefined) problems.add(`${path}.name`, `duplicates ${other}`, instance.name);
        else names.set(instance.name, `${path}.name`);
      }
      const address = `${instance.host}:${instance.port}`;
      const taken = addresses.get(address);
      if (taken !== undefined) problems.add(path, `listens on ${address}, already used by ${taken}`);
      else addresses.set(address, path);
    });
  }
}

function checkCrossFields(topology: Topology, problems: Problems): void {
  checkUniqueness(topology, problems);
  const replicasetCount = Object.keys(topology.replicasets).length;
  if (Number.isInteger(topology.bucket_count) && topology.bucket_count >= 1 && topology.bucket_count < replicasetCount) {
    problems.add("bucket_count", `must be at least the number of replica sets (${replicasetCount})`, topology.bucket_count);
  }
  if (topology.users.service?.name !== undefined && topology.users.service.name === topology.users.admin?.name) {
    problems.add("users.admin.name", "must differ from users.service.name");
  }
  const poweroff = topology.poweroff;
  if (typeof poweroff.backoff_min_ms === "number" && typeof poweroff.backoff_max_ms === "number" && poweroff.backoff_min_ms > poweroff.backoff_max_ms) {
    problems.add("poweroff.backoff_min_ms", "must not exceed poweroff.backoff_max_ms");
  }
}

const TOP_LEVEL_CHECKS: Record<string, Check> = {
  bucket_count: intIn(1, 1_000_000),
  data_dir: isNonEmpty,
  sync_replication: isBoolean,
  memtx_memory_mb: intIn(32, 65536),
  // Checked by their own readers below; listed so they count as known fields.
  replicasets: () => undefined,
  users: () => undefined,
  poweroff: () => undefined,
  gateway: () => undefined,
};

function readUsers(raw: unknown, problems: Problems): Topology["users"] {
  const users = readFields(raw, "users", { service: () => undefined, admin: () => undefined }, {}, problems);
  const read = (role: "service" | "admin"): TopologyUser =>
    (users[role] === undefined ? {} : readFields(users[role], `users.${role}`, USER_CHECKS, {}, problems)) as unknown as TopologyUser;
  return { service: read("service"), admin: read("admin") };
}

/** Validates a parsed document; throws TopologyError listing every problem. */
export function validateTopology(raw: unknown, source = "topology"): Topology {
  const problems = new Problems();
  if (!isObject(raw)) throw new TopologyError([`the document must be a mapping (got ${describe(raw)})`], source);
  const top = readFields(raw, "", TOP_LEVEL_CHECKS, { ...TOPOLOGY_DEFAULTS, poweroff: {}, gateway: {} }, problems);
  const topology: Topology = {
    bucket_count: top["bucket_count"] as number,
    data_dir: top["data_dir"] as string,
    sync_replication: top["sync_replication"] as boolean,
    memtx_memory_mb: top["memtx_memory_mb"] as number,
    replicasets: top["replicasets"] === undefined ? {} : readReplicasets(top["replicasets"], problems),
    users: top["users"] === undefined ? { service: {} as TopologyUser, admin: {} as TopologyUser } : readUsers(top["users"], problems),
    poweroff: readFields(top["poweroff"], "poweroff", POWEROFF_CHECKS, {}, problems, true) as PoweroffSettings,
    gateway: readFields(top["gateway"], "gateway", GATEWAY_CHECKS, TOPOLOGY_DEFAULTS.gateway, problems) as Topology["gateway"],
  };
  checkCrossFields(topology, problems);
  // Top-level fields were read under the path "", so their messages start with ".".
  if (problems.list.length > 0) throw new TopologyError(problems.list.map((p) => p.replace(/^\./, "")), source);
  return topology;
}

/** Parses YAML text and validates it. */
export function parseTopology(text: string, source = "topology"): Topology {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new TopologyError([`not valid YAML: ${(error as Error).message.split("\n")[0]}`], source);
  }
  return validateTopology(raw, source);
}

export function loadTopology(path: string): Topology {
  return parseTopology(readFileSync(path, "utf8"), path);
}

export function loadDefaultTopology(): Topology {
  return loadTopology(DEFAULT_TOPOLOGY_PATH);
}

/** Every instance with its replica set name, masters first (the order they must start in). */
export function instancesOf(topology: Topology): Array<TopologyInstance & { replicaset: string }> {
  const all = Object.entries(topology.replicasets).flatMap(([replicaset, rs]) => rs.instances.map((instance) => ({ ...instance, replicaset })));
  return [...all.filter((i) => i.role === "master"), ...all.filter((i) => i.role !== "master")];
}

/** What the router needs from a topology: addresses, the service user, bucket_count. */
export function routerOptionsOf(topology: Topology): {
  replicasets: Record<string, { instances: Array<{ name: string; host: string; port: number }> }>;
  credentials: TopologyUser;
  bucket_count: number;
} {
  const replicasets = Object.fromEntries(Object.entries(topology.replicasets).map(([name, rs]) => [
    name, { instances: rs.instances.map(({ name: instance, host, port }) => ({ name: instance, host, port })) },
  ]));
  return { replicasets, credentials: topology.users.service, bucket_count: topology.bucket_count };
}
