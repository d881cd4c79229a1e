/**
 * The router: customer → bucket → replica set → its master, the vshard way.
 * Its only contract with the storage is the procedure names and the error
 * catalogue (src/contract/errors.ts); it never imports storage code.
 *
 * Every call is bounded by one deadline (timeoutMs). Within it the router
 * retries what is safe to retry:
 * - WRONG_BUCKET: follow details.destination, or reload the bucket map;
 * - NOT_WRITABLE, a dropped connection, a master that is gone: look the
 *   master up again (billing_info.read_only) and resend;
 * - a call that was sent and then lost is resent only when it is idempotent
 *   (reads by default; a deposit with an idempotency key is, by the caller's word).
 */
import { IprotoConnectionError, IprotoOverloadError, IprotoServerError, IprotoTimeoutError } from "../iproto/index.ts";
import type { BillingErrorValue } from "../contract/errors.ts";
import { assertBucketCount, bucketOf } from "./buckets.ts";
import { BucketMap, parseOwnedRanges } from "./bucket-map.ts";
import {
  asErrorValue, RouterConfigError, RouterError, routerFailure, RouterUnavailableError,
  type RouteContext, type UnavailableReason,
} from "./errors.ts";
import { ReplicasetLinks, type Credentials, type InstanceAddress, type InstanceLink } from "./replicaset.ts";

export interface RouterOptions {
  /** Replica set name → its instances. Which one is master is discovered, not configured. */
  replicasets: Record<string, { instances: readonly InstanceAddress[] }>;
  /** The service user: execute rights on the published procedures only. */
  credentials: Credentials;
  /** Must equal the storage's; a mismatch is refused (BUCKET_COUNT_MISMATCH). */
  bucket_count: number;
  settings?: Partial<RouterSettings>;
}

export interface RouterSettings {
  /** Deadline of a call that gives none. */
  callTimeoutMs: number;
  /** TCP connect + greeting + auth, per instance. */
  connectTimeoutMs: number;
  /** One billing_info / billing_buckets_owned lookup. */
  probeTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Pause before the first retry; doubles per retry up to retryPauseMaxMs. */
  retryPauseMinMs: number;
  retryPauseMaxMs: number;
  /** Most attempts of one call, whatever its deadline. */
  attemptsMax: number;
}

export const ROUTER_DEFAULTS: RouterSettings = {
  callTimeoutMs: 5000,
  connectTimeoutMs: 1000,
  probeTimeoutMs: 1000,
  reconnectMinMs: 50,
  reconnectMaxMs: 1000,
  retryPauseMinMs: 5,
  retryPauseMaxMs: 250,
  attemptsMax: 100,
};

export interface CallOptions {
  /** A write goes to the master; so does a read, for now (always the freshest data). */
  write: boolean;
  timeoutMs?: number;
  /** May a call whose answer was lost be sent again? Default: true for reads, false for writes. */
  idempotent?: boolean;
}

export type ReplicasetOutcome =
  | { replicaset: string; ok: true; result: unknown }
  | { replicaset: string; ok: false; error: Error };

export interface RouterStats {
  calls: number;
  retries: number;
  reroutes: number;
  map_loads: number;
}

export interface RouterStatus {
  replicasets: Record<string, { master: string | null; instances: Record<string, string> }>;
  buckets: { per_replicaset: Record<string, number>; unknown: number };
}

type Route = { rs: ReplicasetLinks; link: InstanceLink };
type NoRoute = { reason: UnavailableReason; problem: string; context: RouteContext };
type Attempt =
  | { kind: "ok"; value: unknown }
  | { kind: "failure"; value: BillingErrorValue }
  | { kind: "lost"; sent: boolean; problem: string; cause: unknown };

/** Tarantool codes meaning "not serving yet, nothing ran": ER_NO_SUCH_PROC (a node still starting), ER_LOADING. */
const NOT_YET_SERVING_CODES = new Set([33, 116]);

export class Router {
  readonly bucket_count: number;
  private readonly settings: RouterSettings;
  private readonly replicasets = new Map<string, ReplicasetLinks>();
  private readonly map: BucketMap;
  private mapLoading: Promise<void> | undefined;
  private closed = false;
  private readonly counters: RouterStats = { calls: 0, retries: 0, reroutes: 0, map_loads: 0 };

  constructor(options: RouterOptions) {
    assertBucketCount(options.bucket_count);
    this.bucket_count = options.bucket_count;
    this.settings = checkedSettings({ ...ROUTER_DEFAULTS, ...options.settings });
    const names = Object.keys(options.replicasets);
    if (names.length === 0) throw new RouterConfigError("router needs at least one replica set");
    for (const name of names) {
      const instances = options.replicasets[name]!.instances;
      if (instances.length === 0) throw new RouterConfigError(`replica set ${name} has no instances`);
      this.replicasets.set(name, new ReplicasetLinks(name, instances, {
        credentials: options.credentials,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        reconnectMinMs: this.settings.reconnectMinMs,
        reconnectMaxMs: this.settings.reconnectMaxMs,
      }));
    }
    this.map = new BucketMap(this.bucket_count, names);
  }

  /**
   * Opens every connection and waits until each bucket has an owner with a
   * reachable master. On timeout it throws, but the router stays usable:
   * calls look masters and owners up on demand.
   */
  async connect(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const rs of this.replicasets.values()) rs.connectAll();
    let missing = "";
    while (Date.now() < deadline) {
      await raceDeadline(this.refreshMap(), deadline);
      missing = await this.missingRoutes(deadline);
      if (missing === "") return;
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    }
    throw new RouterUnavailableError("timeout", `router not ready after ${timeoutMs} ms: ${missing}`);
  }

  /** The bucket and the replica set a customer maps to, as far as the router knows now. */
  routeOf(customer_id: number): { bucket_id: number; replicaset: string | undefined } {
    const bucket_id = this.bucketFor(customer_id);
    return { bucket_id, replicaset: this.map.ownerOf(bucket_id) };
  }

  /** Calls `procedure(request)` on the master owning the customer's bucket; resolves with its result. */
  async call<T = unknown>(customer_id: number, procedure: string, request: Record<string, unknown>, options: CallOptions): Promise<T> {
    const bucket_id = this.bucketFor(customer_id);
    const deadline = this.deadlineOf(options.timeoutMs);
    const idempotent = options.idempotent ?? !options.write;
    return (await this.execute({ bucket_id }, procedure, [request], deadline, idempotent)) as T;
  }

  /** Calls `procedure` on one replica set's master (operator reads, per-replica-set listings). */
  async callReplicaset<T = unknown>(replicaset: string, procedure: string, request?: Record<string, unknown>, options: { timeoutMs?: number; idempotent?: boolean } = {}): Promise<T> {
    const rs = this.replicasets.get(replicaset);
    if (rs === undefined) throw new RouterConfigError(`unknown replica set ${replicaset}`);
    const deadline = this.deadlineOf(options.timeoutMs);
    const args = request === undefined ? [] : [request];
    return (await this.execute({ rs }, procedure, args, deadline, options.idempotent ?? true)) as T;
  }

  /** Fans `procedure` out to every master; one outcome per replica set, failures included. */
  async callAll(procedure: string, request?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<ReplicasetOutcome[]> {
    return await Promise.all([...this.replicasets.keys()].map(async (replicaset): Promise<ReplicasetOutcome> => {
      try {
        return { replicaset, ok: true, result: await this.callReplicaset(replicaset, procedure, request, options) };
      } catch (error) {
        return { replicaset, ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
    }));
  }

  stats(): RouterStats {
    return { ...this.counters };
  }

  status(): RouterStatus {
    const replicasets: RouterStatus["replicasets"] = {};
    for (const rs of this.replicasets.values()) {
      const instances = Object.fromEntries(rs.instances.map((instance) => [instance.name, instance.client.state]));
      replicasets[rs.name] = { master: rs.master?.name ?? null, instances };
    }
    return { replicasets, buckets: this.map.counts() };
  }

  /** Reloads the bucket map from every reachable master now (also done on demand). */
  async reloadMap(): Promise<void> {
    await this.refreshMap();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.replicasets.values()].map((rs) => rs.close()));
  }

  private deadlineOf(timeoutMs: number | undefined): number {
    const bound = timeoutMs ?? this.settings.callTimeoutMs;
    if (!(bound > 0 && bound <= 0x7fffffff)) throw new RangeError(`timeoutMs must be in (0, 2^31-1], got ${bound}`);
    return Date.now() + bound;
  }

  private bucketFor(customer_id: number): number {
    try {
      return bucketOf(customer_id, this.bucket_count);
    } catch {
      throw routerFailure("INVALID_ARGUMENT", { field: "customer_id" });
    }
  }

  /** The retry loop shared by every kind of call; `target` is a bucket or a fixed replica set. */
  private async execute(target: { bucket_id?: number; rs?: ReplicasetLinks }, procedure: string, args: unknown[], deadline: number, idempotent: boolean): Promise<unknown> {
    this.counters.calls += 1;
    const retry = new Retry(deadline, this.settings, this.counters);
    for (;;) {
      // Checked at every turn: a call in flight when close() ran must end now, not at its deadline.
      if (this.closed) throw new RouterUnavailableError("closed", "router is closed");
      const route = await this.resolve(target, deadline);
      if ("problem" in route) {
        await retry.after(route.reason, route.problem, route.context);
        continue;
      }
      const context: RouteContext = { replicaset: route.rs.name, instance: route.link.name };
      if (target.bucket_id !== undefined) context.bucket_id = target.bucket_id;
      const outcome = await attempt(route.link, procedure, args, deadline, context);
      if (outcome.kind === "ok") return outcome.value;
      if (outcome.kind === "lost") {
        route.rs.forgetMaster(route.link);
        if (outcome.sent && !idempotent) {
          throw new RouterUnavailableError("outcome_unknown", `${procedure} on ${route.link.name}: ${outcome.problem}; it may or may not have been applied`,
            { outcomeUnknown: true, context, cause: outcome.cause });
        }
        await retry.after("timeout", `${route.link.name}: ${outcome.problem}`, context);
        continue;
      }
      await this.afterFailure(outcome.value, route, target.bucket_id, retry, context);
    }
  }

  /** Retries NOT_WRITABLE and WRONG_BUCKET (nothing was applied); any other failure is the caller's answer. */
  private async afterFailure(value: BillingErrorValue, route: Route, bucket_id: number | undefined, retry: Retry, context: RouteContext): Promise<void> {
    if (value.name === "NOT_WRITABLE") {
      route.rs.forgetMaster(route.link);
      return await retry.after("no_master", `${route.link.name} is read-only`, context);
    }
    if (value.name === "WRONG_BUCKET" && bucket_id !== undefined) {
      return await this.reroute(bucket_id, value, route.rs.name, retry, context);
    }
    throw new RouterError(value, context);
  }

  private async reroute(bucket_id: number, value: BillingErrorValue, from: string, retry: Retry, context: RouteContext): Promise<void> {
    this.counters.reroutes += 1;
    const destination = value.details?.["destination"];
    if (typeof destination === "string" && destination !== from && this.replicasets.has(destination)) {
      this.map.set(bucket_id, destination);
      return await retry.redirect(`bucket ${bucket_id} moved from ${from} to ${destination}`, context);
    }
    // The owner is not named (or unknown here): forget the entry so the next resolve reloads the map.
    this.map.forget(bucket_id);
    return await retry.after("no_owner", `${from} does not own bucket ${bucket_id}`, context);
  }

  private async resolve(target: { bucket_id?: number; rs?: ReplicasetLinks }, deadline: number): Promise<Route | NoRoute> {
    const rs = target.rs ?? (await this.ownerOf(target.bucket_id!, deadline));
    if (rs === undefined) {
      return { reason: "no_owner", problem: `no replica set is known to own bucket ${target.bucket_id!}`, context: { bucket_id: target.bucket_id! } };
    }
    // The common case, without a timer: the master is known and its connection is up.
    const known = rs.master;
    if (known !== undefined && known.client.connected) return { rs, link: known };
    const found = await raceDeadline(rs.findMaster(this.settings.probeTimeoutMs, this.bucket_count), deadline);
    if (found === undefined) return { reason: "timeout", problem: `looking up the master of ${rs.name}`, context: { replicaset: rs.name } };
    if (found.master === undefined) return { reason: "no_master", problem: found.problem, context: { replicaset: rs.name } };
    return { rs, link: found.master };
  }

  private async ownerOf(bucket_id: number, deadline: number): Promise<ReplicasetLinks | undefined> {
    let owner = this.map.ownerOf(bucket_id);
    if (owner === undefined) {
      await raceDeadline(this.refreshMap(), deadline);
      owner = this.map.ownerOf(bucket_id);
    }
    return owner === undefined ? undefined : this.replicasets.get(owner);
  }

  /** One shared map load at a time, however many calls found their bucket unknown. */
  private refreshMap(): Promise<void> {
    this.mapLoading ??= this.loadMap().finally(() => (this.mapLoading = undefined));
    return this.mapLoading;
  }

  private async loadMap(): Promise<void> {
    this.counters.map_loads += 1;
    await Promise.all([...this.replicasets.values()].map(async (rs) => {
      const ranges = await this.ownedRanges(rs);
      if (ranges !== undefined) this.map.replace(rs.name, ranges);
    }));
  }

  /** The ranges a replica set's master reports, or undefined when it cannot be asked now. */
  private async ownedRanges(rs: ReplicasetLinks): Promise<Array<[number, number]> | undefined> {
    const found = await rs.findMaster(this.settings.probeTimeoutMs, this.bucket_count);
    if (found.master === undefined) return undefined;
    let owned: unknown;
    try {
      [owned] = await found.master.client.call("billing_buckets_owned", [], { timeoutMs: this.settings.probeTimeoutMs });
    } catch {
      return undefined; // unreachable now: keep what the map knew about this replica set
    }
    return parseOwnedRanges(owned, rs.name, this.bucket_count);
  }

  /** What keeps the router from serving every bucket: "" when nothing does. */
  private async missingRoutes(deadline: number): Promise<string> {
    const counts = this.map.counts();
    if (counts.unknown > 0) return `${counts.unknown} buckets have no known owner`;
    for (const [name, owned] of Object.entries(counts.per_replicaset)) {
      if (owned === 0) continue;
      const found = await raceDeadline(this.replicasets.get(name)!.findMaster(this.settings.probeTimeoutMs, this.bucket_count), deadline);
      if (found?.master === undefined) return found?.problem ?? `no master found for ${name}`;
    }
    return "";
  }
}

function checkedSettings(settings: RouterSettings): RouterSettings {
  for (const [name, value] of Object.entries(settings)) {
    // setTimeout fires at once beyond 2^31-1 ms, which would turn a bound into a busy loop.
    if (!(Number.isInteger(value) && value > 0 && value <= 0x7fffffff)) throw new RouterConfigError(`router setting ${name} must be a positive integer (ms or count), got ${value}`);
  }
  if (settings.retryPauseMinMs > settings.retryPauseMaxMs) throw new RouterConfigError("retryPauseMinMs must not exceed retryPauseMaxMs");
  if (settings.reconnectMinMs > settings.reconnectMaxMs) throw new RouterConfigError("reconnectMinMs must not exceed reconnectMaxMs");
  return settings;
}

/** Sends one call and sorts its outcome; unexpected server errors (access denied, bugs) are thrown as they are. */
async function attempt(link: InstanceLink, procedure: string, args: unknown[], deadline: number, context: RouteContext): Promise<Attempt> {
  try {
    const reply = await link.client.call(procedure, args, { timeoutMs: Math.max(1, deadline - Date.now()) });
    const second = reply[1];
    if (second === undefined || second === null) return { kind: "ok", value: reply[0] ?? null };
    const value = asErrorValue(second);
    if (value === undefined) throw new RouterConfigError(`${procedure} on ${link.name} returned an error outside the catalogue: ${JSON.stringify(second)}`);
    return { kind: "failure", value };
  } catch (error) {
    if (error instanceof IprotoConnectionError) return { kind: "lost", sent: error.sent, problem: error.message, cause: error };
    if (error instanceof IprotoTimeoutError) return { kind: "lost", sent: true, problem: error.message, cause: error };
    if (error instanceof IprotoServerError && NOT_YET_SERVING_CODES.has(error.code)) {
      return { kind: "lost", sent: false, problem: error.message, cause: error };
    }
    if (error instanceof IprotoOverloadError) throw new RouterUnavailableError("overloaded", error.message, { context, cause: error });
    throw error;
  }
}

/** Bounds the retries of one call: attemptsMax, the deadline, and a growing pause with jitter. */
class Retry {
  private attempts = 0;
  private redirects = 0;

  constructor(private readonly deadline: number, private readonly settings: RouterSettings, private readonly counters: RouterStats) {}

  async after(reason: UnavailableReason, problem: string, context: RouteContext): Promise<void> {
    this.count(problem, context);
    const ceiling = Math.min(this.settings.retryPauseMaxMs, this.settings.retryPauseMinMs * 2 ** Math.min(this.attempts - 1, 20));
    const pauseMs = ceiling / 2 + Math.random() * (ceiling / 2);
    await sleep(Math.min(pauseMs, Math.max(0, this.deadline - Date.now())));
    if (Date.now() >= this.deadline) throw new RouterUnavailableError(reason, `${problem} (deadline reached after ${this.attempts} attempts)`, { context });
  }

  /** The first redirect of a call is followed at once: the storage named the owner. Later ones pause, in case owners disagree. */
  async redirect(problem: string, context: RouteContext): Promise<void> {
    this.redirects += 1;
    if (this.redirects > 1) return await this.after("no_owner", problem, context);
    this.count(problem, context);
  }

  private count(problem: string, context: RouteContext): void {
    this.attempts += 1;
    this.counters.retries += 1;
    if (this.attempts >= this.settings.attemptsMax) {
      throw new RouterUnavailableError("attempts_exhausted", `${problem} (gave up after ${this.attempts} attempts)`, { context });
    }
  }
}

/** Resolves with the promise's value, or undefined once the deadline passes (the promise runs on, shared). */
async function raceDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
