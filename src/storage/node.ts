/**
 * A storage node's start: box.cfg from the validated config, schema, users
 * and grants, published procedures, then the scheduler and notifier.
 */
import * as log from "log";
import * as fiber from "fiber";
import { loadConfig, type NodeConfig } from "./config";
import { migrate, SCHEMA_VERSION } from "./schema";
import { failure } from "./errors";
import { assignBuckets, bucketCount, ownedBucketRanges, releaseBuckets, setBucketCount } from "./buckets";
import * as procedures from "./procedures";
import { schedulerStats, startScheduler, wakeScheduler } from "./scheduler";
import { notifierStats, startNotifier, wakeNotifier } from "./notifier";
import { space } from "./db";
import { janitorStats, startJanitor } from "./janitor";
import * as testhooks from "./testhooks";
import * as faults from "./faults";
import { advanceClock, nowMs } from "./time";

type Procedure = (this: void, request: Record<string, unknown>) => unknown;

/** Published to the service user: the versioned storage API the router and any connector call. */
const SERVICE_PROCEDURES: Record<string, Procedure> = {
  billing_create_customer: procedures.createCustomer,
  billing_add_account: procedures.addAccount,
  billing_deposit: procedures.deposit,
  billing_set_rate: procedures.setRate,
  billing_get_account: procedures.getAccount,
  billing_get_customer: procedures.getCustomer,
  billing_ledger: procedures.ledgerPage,
  billing_pending_notifications: procedures.pendingNotifications,
  billing_info: () => nodeInfo(),
  billing_buckets_owned: () => ({ replicaset_name: node.config!.replicaset_name, ranges: ownedBucketRanges() }),
  billing_noop: () => true,
};

/** Operator procedures: bucket ownership and promotion. Granted to the admin user only. */
const ADMIN_PROCEDURES: Record<string, Procedure> = {
  billing_buckets_assign: (request) => assignBuckets(request["bucket_ids"] as number[]),
  billing_buckets_release: (request) => releaseBuckets(request["bucket_ids"] as number[], request["destination"] as string),
  billing_promote: () => promote(),
  billing_demote: () => demote(),
  billing_clear_synchro_queue: () => clearSynchroQueue(),
  billing_set_replication: (request) => setReplication(request["replication"]),
  billing_stats: () => ({
    ...nodeInfo(), vclock: box.info.vclock, scheduler: schedulerStats(), notifier: notifierStats(), janitor: janitorStats(),
  }),
};

/** Set-up points for tests and benchmarks; published only with `test_hooks: true`. */
const TEST_PROCEDURES: Record<string, Procedure> = {
  billing_test_advance_clock: (request) => {
    const now_ms = advanceClock(request["ms"] as number);
    wakeScheduler();
    wakeNotifier();
    return now_ms;
  },
  billing_test_schedule_depletion: (request) => testhooks.scheduleDepletion(request),
  billing_test_schedule_depletions: (request) => testhooks.scheduleDepletions(request),
  billing_test_populate: (request) => testhooks.populate(request),
  billing_test_memory: () => testhooks.memoryReport(),
  billing_test_snapshot: () => testhooks.snapshot(),
  billing_test_profile: (request) => testhooks.profile(request ?? {}, notifierStats),
  billing_test_fault: (request) => faults.fault(request ?? {}),
  billing_test_checksum: () => faults.checksum(),
  billing_test_security_report: (request) => faults.securityReport(request ?? {}),
};

export const API_VERSION = 1;

/** The wait for a dead master's confirmations while clearing the synchronous queue. */
const CLEAR_WAIT_S = 0.1;

const node = { config: undefined as NodeConfig | undefined, clearing: false };

function nodeInfo(): Record<string, unknown> {
  const config = node.config!;
  return {
    api_version: API_VERSION,
    schema_version: SCHEMA_VERSION,
    instance_name: config.instance_name,
    replicaset_name: config.replicaset_name,
    read_only: box.info.ro,
    bucket_count: bucketCount(),
    buckets_owned: space("buckets").index["status"]!.count(["active"]),
    now_ms: nowMs(),
  };
}

/**
 * Wraps a procedure so an unexpected Lua error becomes INTERNAL (logged here
 * with its detail, never sent to the caller) and an open transaction is rolled back.
 */
function guarded(name: string, procedure: Procedure): (this: void, request: Record<string, unknown>) => LuaMultiReturn<[unknown, unknown]> {
  return (request) => {
    const [ok, result, problem] = pcall(procedure as (this: void, r: Record<string, unknown>) => LuaMultiReturn<[unknown, unknown]>, request);
    if (ok) return $multi(result, problem);
    if (box.is_in_txn()) box.rollback();
    const text = tostring(result);
    log.error(`${name}: ${text}`);
    if (string.find(text, "sync transactions", 1, true)[0] !== undefined) {
      // A dead master's unconfirmed transaction blocks every write here: try to clear it (one fiber at a time).
      fiber.create(clearSynchroQueue);
      return failure("COMMIT_FAILED") as LuaMultiReturn<[unknown, unknown]>;
    }
    if (string.find(text, "Quorum", 1, true)[0] !== undefined || string.find(text, "synchro", 1, true)[0] !== undefined) {
      return failure("COMMIT_FAILED") as LuaMultiReturn<[unknown, unknown]>;
    }
    return failure("INTERNAL") as LuaMultiReturn<[unknown, unknown]>;
  };
}

function publish(procedures: Record<string, Procedure>, users: string[]): void {
  const globals = _G as unknown as Record<string, unknown>;
  const schema = box.schema as unknown as {
    func: { create(this: void, name: string, options: object): void };
    user: { grant(this: void, user: string, privileges: string, type: string, name: string, options: object): void };
  };
  for (const [name, procedure] of pairs(procedures)) {
    globals[name] = guarded(name, procedure);
    if (box.info.ro) continue;
    schema.func.create(name, { setuid: true, if_not_exists: true });
    for (const user of users) schema.user.grant(user, "execute", "function", name, { if_not_exists: true });
  }
}

function ensureUsers(config: NodeConfig): void {
  if (box.info.ro) return;
  const schema = box.schema as unknown as {
    user: {
      create(this: void, name: string, options: object): void;
      passwd(this: void, name: string, password: string): void;
      grant(this: void, user: string, privileges: string, type?: string, name?: string, options?: object): void;
    };
  };
  for (const user of [config.service_user, config.admin_user]) {
    schema.user.create(user.name, { password: user.password, if_not_exists: true });
    schema.user.passwd(user.name, user.password);
  }
  // The admin user also carries replication between the instances of a replica set.
  schema.user.grant(config.admin_user.name, "replication", undefined, undefined, { if_not_exists: true });
}

/**
 * Synchronous mode: a master that died between replicating a transaction and
 * its CONFIRM leaves it in this node's queue ("limbo"), and every later write
 * fails until the queue is cleared. Clearing waits for the quorum (up to
 * sync_timeout_s), so it runs in its own fiber and is called again whenever a
 * member rejoins (Cluster does that), until the quorum can confirm it.
 */
function clearSynchroQueue(): boolean {
  if (!node.config!.sync_replication || box.info.ro || node.clearing) return false;
  node.clearing = true;
  const ctl = box.ctl as unknown as { clear_synchro_queue(this: void): void };
  // clear_synchro_queue first waits 2 × replication_synchro_timeout for the
  // dead master's confirmations, which never come: 10 s of refused writes with
  // the default. Shorten the wait for this call only, then confirm what a
  // quorum of the live members holds and roll back the rest.
  // Only when the live members can form a quorum: without one nothing can be
  // confirmed, and a long wait here would only delay the clear that matters,
  // the one when a member returns (Cluster calls it; so does the next write).
  if (liveMembers() < node.config!.sync_quorum) {
    node.clearing = false;
    return false;
  }
  box.cfg({ replication_synchro_timeout: CLEAR_WAIT_S } as never);
  const [ok, problem] = pcall(ctl.clear_synchro_queue);
  box.cfg({ replication_synchro_timeout: node.config!.sync_timeout_s } as never);
  node.clearing = false;
  if (!ok) log.warn(`clear_synchro_queue: ${tostring(problem)}`);
  return ok;
}

/** This instance plus the replicas it is feeding right now. */
function liveMembers(): number {
  let live = 1;
  const peers = box.info.replication as unknown as Record<string, { downstream?: { status?: string } }>;
  for (const [, peer] of pairs(peers)) if (peer.downstream?.status === "follow") live += 1;
  return live;
}

/** Points replication at the given peers (full mesh after bootstrap; a changed replica set). */
function setReplication(uris: unknown): boolean {
  if (typeof uris !== "object" || uris === null) error("replication must be a list of URIs");
  box.cfg({ replication: uris } as never);
  return true;
}

function promote(): Record<string, unknown> {
  box.cfg({ read_only: false } as never);
  if (node.config!.sync_replication) fiber.create(clearSynchroQueue);
  wakeScheduler();
  wakeNotifier();
  return nodeInfo();
}

function demote(): Record<string, unknown> {
  box.cfg({ read_only: true } as never);
  return nodeInfo();
}

function configureBox(config: NodeConfig): void {
  const options: Record<string, unknown> = {
    listen: config.listen,
    work_dir: config.work_dir,
    memtx_memory: config.memtx_memory_mb * 1024 * 1024,
    read_only: config.read_only,
    log: "tarantool.log",
    log_level: 5,
    replication: config.replication,
    replication_connect_quorum: 0,
    replication_synchro_quorum: config.sync_quorum,
    replication_synchro_timeout: config.sync_timeout_s,
    checkpoint_count: 2,
  };
  box.cfg(options as never);
}

/** The node's entry point, called by the Lua bootstrap with the config JSON text. */
export function start(this: void, configText: string, poweroffUrlFromEnv: string | undefined): void {
  const config = loadConfig(configText, { poweroff_url: poweroffUrlFromEnv });
  node.config = config;
  setBucketCount(config.bucket_count);
  configureBox(config);
  if (!box.info.ro) {
    migrate(config);
    ensureUsers(config);
    if (config.own_all_buckets && space("buckets").len() === 0) {
      const all: number[] = [];
      for (let bucket_id = 1; bucket_id <= config.bucket_count; bucket_id++) all.push(bucket_id);
      assignBuckets(all);
    }
  } else {
    waitForSchema();
  }
  procedures.configureProcedures(config.poweroff.resumed_url !== "");
  publish(SERVICE_PROCEDURES, [config.service_user.name, config.admin_user.name]);
  publish(ADMIN_PROCEDURES, [config.admin_user.name]);
  if (config.test_hooks) publish(TEST_PROCEDURES, [config.admin_user.name]);
  startScheduler(config.depletion_batch_max, wakeNotifier);
  startNotifier(config.poweroff);
  startJanitor(config.idempotency_ttl_ms);
  log.info(`billing node ${config.instance_name} (${config.replicaset_name}) ready on ${config.listen}, read_only=${tostring(box.info.ro)}`);
}

/** A replica serves once the master's schema has replicated; bounded wait, then it starts anyway and logs it. */
function waitForSchema(): void {
  for (let i = 0; i < 300; i++) {
    const meta = (box.space as unknown as Record<string, unknown>)["billing_meta"];
    if (meta !== undefined) return;
    fiber.sleep(0.1);
  }
  log.warn("billing: schema has not replicated yet after 30 s");
}
