/**
 * A whole local cluster from one topology: starts every storage node (masters
 * first, then replicas), assigns buckets on the first start, and carries out
 * the operator's commands: promote (failover), kill, restart, stop, status.
 *
 * Tarantool 2.6.0 has no leader election, so who is master is decided here
 * and remembered in <data_dir>/cluster-state.json: after a failover, a
 * restart must bring the old master back read-only, whatever the topology
 * file says its role was at bootstrap.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { IprotoClient, IprotoConnectionError, IprotoTimeoutError } from "../iproto/index.ts";
import { asErrorValue, RouterError, type RouterOptions } from "../router/index.ts";
import { pendingAssignments, planBucketRanges } from "./bucket-plan.ts";
import { sleep, StorageProcess, type StartOptions, type StorageNodeConfig } from "./storage-process.ts";
import { instancesOf, routerOptionsOf, type Role, type Topology, type TopologyInstance } from "./topology.ts";

export interface ClusterOptions {
  /** Extra environment for every storage process. */
  env?: Record<string, string>;
  stdio?: "inherit" | "file";
  /** How long one node may take to start. */
  readyTimeoutMs?: number;
  /** One operator call (assign, promote, demote, info). */
  callTimeoutMs?: number;
  /** Node settings merged over what the topology gives every node (tests: `test_hooks`). */
  node?: Partial<StorageNodeConfig>;
}

export type ClusterInstance = TopologyInstance & { replicaset: string };

export interface InstanceStatus {
  name: string;
  replicaset: string;
  listen: string;
  /** The role the cluster gives it now (after any failover), not the bootstrap role. */
  role: Role;
  running: boolean;
  reachable: boolean;
  read_only: boolean | null;
  buckets_owned: number | null;
}

export interface ClusterStatus {
  masters: Record<string, string>;
  instances: InstanceStatus[];
}

type User = "service" | "admin";

const STATE_FILE = "cluster-state.json";
/** Longest wait for a promoted replica to have applied what the old master wrote. */
const CATCH_UP_TIMEOUT_MS = 5000;

export class Cluster {
  readonly dataDir: string;
  private readonly instances: Map<string, ClusterInstance>;
  private readonly masters: Map<string, string>;
  private readonly processes = new Map<string, StorageProcess>();
  private readonly clients = new Map<string, IprotoClient>();

  constructor(readonly topology: Topology, private readonly options: ClusterOptions = {}) {
    this.dataDir = resolve(topology.data_dir);
    this.instances = new Map(instancesOf(topology).map((instance) => [instance.name, instance]));
    this.masters = this.loadMasters();
  }

  /** Starts every node, masters first; assigns buckets if this is the first start. Stops what it started on failure. */
  async start(): Promise<void> {
    mkdirSync(this.dataDir, { recursive: true });
    const all = [...this.instances.values()];
    try {
      await this.startEach(all.filter((instance) => this.isMaster(instance)));
      await this.startEach(all.filter((instance) => !this.isMaster(instance)));
      await this.meshReplication(all);
      await this.bootstrapBuckets();
      this.saveMasters();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Graceful stop of every node this cluster started, and of its connections. */
  async stop(): Promise<void> {
    await this.disconnect();
    await Promise.allSettled([...this.processes.values()].map((process) => process.stop()));
  }

  /** Closes the operator connections only, leaving the nodes running (e.g. after a one-off status or promote). */
  async disconnect(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((client) => client.close()));
    this.clients.clear();
  }

  /** SIGKILL: the crash case. The cluster does not fail over by itself (see promote). */
  async kill(instanceName: string): Promise<void> {
    this.instanceOf(instanceName);
    await this.processes.get(instanceName)?.kill();
  }

  /** Stops (or kills) one node and starts it again on its data, in the role it has now. */
  async restart(instanceName: string, options: { kill?: boolean } = {}): Promise<void> {
    const instance = this.instanceOf(instanceName);
    const process = this.processes.get(instanceName);
    if (options.kill === true) await process?.kill();
    else await process?.stop();
    await this.startInstance(instance);
    await this.rejoined(instance);
  }

  /**
   * A member is back: in synchronous mode the master may hold transactions of
   * a dead predecessor that only now can reach their quorum; clearing the
   * queue confirms them and lets writes through again.
   */
  private async rejoined(instance: ClusterInstance): Promise<void> {
    if (!this.topology.sync_replication || this.isMaster(instance)) return;
    const master = this.masters.get(instance.replicaset)!;
    const timeoutMs = 7000; // the storage default sync_timeout_s (5 s) and a margin
    await this.call(master, "admin", "billing_clear_synchro_queue", undefined, timeoutMs).catch(() => undefined);
  }

  /**
   * On a first start every node lists only what was up before it (see
   * replicationOf); once all run, each replicates from every other member,
   * so a promoted replica is followed by the rest of its replica set.
   */
  private async meshReplication(instances: ClusterInstance[]): Promise<void> {
    const admin = this.topology.users.admin;
    for (const instance of instances) {
      const peers = this.topology.replicasets[instance.replicaset]!.instances;
      const replication = peers.map((peer) => `${admin.name}:${admin.password}@${peer.host}:${peer.port}`);
      await this.call(instance.name, "admin", "billing_set_replication", { replication }, 30_000);
    }
  }

  /**
   * Failover: makes `instanceName` the master of its replica set. The old
   * master is demoted first when it answers, and the new one is promoted only
   * once it has applied what the old one wrote. A dead old master is skipped:
   * its last unreplicated writes (asynchronous replication) are the price.
   */
  async promote(replicaset: string, instanceName: string): Promise<void> {
    const target = this.instanceOf(instanceName);
    if (target.replicaset !== replicaset) throw new Error(`${instanceName} is not an instance of ${replicaset}`);
    const old = this.masters.get(replicaset)!;
    if (old !== instanceName && (await this.demoteIfReachable(old))) await this.waitCaughtUp(old, instanceName);
    const info = (await this.call(instanceName, "admin", "billing_promote")) as Record<string, unknown>;
    if (info["read_only"] !== false) throw new Error(`${instanceName} is still read-only after billing_promote`);
    this.masters.set(replicaset, instanceName);
    this.saveMasters();
  }

  async status(timeoutMs = 1000): Promise<ClusterStatus> {
    const instances = await Promise.all([...this.instances.values()].map((instance) => this.instanceStatus(instance, timeoutMs)));
    return { masters: Object.fromEntries(this.masters), instances };
  }

  /** The current master of a replica set (after any promote). */
  masterOf(replicaset: string): string {
    const master = this.masters.get(replicaset);
    if (master === undefined) throw new Error(`unknown replica set ${replicaset}`);
    return master;
  }

  /** The running process of an instance (logs, pid), if this cluster started it. */
  process(instanceName: string): StorageProcess | undefined {
    return this.processes.get(instanceName);
  }

  /** Router options for this cluster: addresses, the service user, bucket_count. */
  routerOptions(settings?: RouterOptions["settings"]): RouterOptions {
    const options: RouterOptions = routerOptionsOf(this.topology);
    if (settings !== undefined) options.settings = settings;
    return options;
  }

  /**
   * Calls a procedure on one instance as the service or admin user; resolves
   * with its result, throws RouterError with the storage's error value.
   */
  async call(instanceName: string, user: User, procedure: string, request?: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    const instance = this.instanceOf(instanceName);
    const bound = timeoutMs ?? this.options.callTimeoutMs ?? 5000;
    const client = this.clientOf(instance, user, bound);
    await client.connect();
    const reply = await client.call(procedure, request === undefined ? [] : [request], { timeoutMs: bound });
    if (reply[1] === undefined || reply[1] === null) return reply[0] ?? null;
    const value = asErrorValue(reply[1]);
    if (value === undefined) throw new Error(`${procedure} on ${instanceName} returned ${JSON.stringify(reply[1])}`);
    throw new RouterError(value, { instance: instanceName, replicaset: instance.replicaset });
  }

  private instanceOf(name: string): ClusterInstance {
    const instance = this.instances.get(name);
    if (instance === undefined) throw new Error(`unknown instance ${name}`);
    return instance;
  }

  private isMaster(instance: ClusterInstance): boolean {
    return this.masters.get(instance.replicaset) === instance.name;
  }

  private async startEach(instances: ClusterInstance[]): Promise<void> {
    const results = await Promise.allSettled(instances.map((instance) => this.startInstance(instance)));
    const failures = results.flatMap((result) => (result.status === "rejected" ? [String((result.reason as Error).message ?? result.reason)] : []));
    if (failures.length > 0) throw new Error(`cluster start failed:\n${failures.join("\n")}`);
  }

  /** A node's config is built at each start, since its role may have changed since the last one. */
  private async startInstance(instance: ClusterInstance): Promise<void> {
    if (this.processes.get(instance.name)?.running) throw new Error(`${instance.name} is already running`);
    const process = new StorageProcess(this.nodeConfig(instance));
    this.processes.set(instance.name, process);
    const options: StartOptions = {};
    if (this.options.env !== undefined) options.env = this.options.env;
    if (this.options.stdio !== undefined) options.stdio = this.options.stdio;
    if (this.options.readyTimeoutMs !== undefined) options.readyTimeoutMs = this.options.readyTimeoutMs;
    await process.start(options);
  }

  private nodeConfig(instance: ClusterInstance): StorageNodeConfig {
    const topology = this.topology;
    const members = topology.replicasets[instance.replicaset]!.instances.length;
    const work_dir = join(this.dataDir, instance.name);
    return {
      instance_name: instance.name,
      replicaset_name: instance.replicaset,
      listen: `${instance.host}:${instance.port}`,
      work_dir,
      read_only: !this.isMaster(instance),
      replication: this.replicationOf(instance, work_dir),
      memtx_memory_mb: topology.memtx_memory_mb,
      bucket_count: topology.bucket_count,
      sync_replication: topology.sync_replication,
      // A majority: a commit survives the loss of any minority of the replica set.
      sync_quorum: Math.floor(members / 2) + 1,
      service_user: topology.users.service,
      admin_user: topology.users.admin,
      poweroff: { ...topology.poweroff },
      ...this.options.node,
    };
  }

  /**
   * Every instance replicates from every other of its replica set (full
   * mesh), so a promoted replica's writes flow back to the old master when it
   * returns. On the very first start only, Tarantool waits
   * replication_connect_timeout (30 s) for each listed peer that is not up:
   * then a master lists none and a replica lists just the master.
   */
  private replicationOf(instance: ClusterInstance, work_dir: string): string[] {
    const admin = this.topology.users.admin;
    const uri = (peer: TopologyInstance): string => `${admin.name}:${admin.password}@${peer.host}:${peer.port}`;
    if (hasSnapshot(work_dir)) return this.topology.replicasets[instance.replicaset]!.instances.map(uri);
    if (this.isMaster(instance)) return [];
    return [uri(this.instanceOf(this.masters.get(instance.replicaset)!)), uri(instance)];
  }

  /** First start only: spreads the buckets over the replica sets; a bootstrapped replica set is never touched. */
  private async bootstrapBuckets(): Promise<void> {
    const names = Object.keys(this.topology.replicasets);
    const owned = new Map<string, Array<[number, number]>>();
    for (const name of names) {
      const answer = (await this.call(this.masterOf(name), "service", "billing_buckets_owned")) as { ranges?: unknown };
      owned.set(name, Array.isArray(answer.ranges) ? (answer.ranges as Array<[number, number]>) : []);
    }
    const pending = pendingAssignments(planBucketRanges(names, this.topology.bucket_count), owned, this.topology.bucket_count);
    for (const [name, bucket_ids] of pending) {
      await this.call(this.masterOf(name), "admin", "billing_buckets_assign", { bucket_ids });
    }
  }

  /** True when the old master answered and is now read-only; false when it is unreachable. */
  private async demoteIfReachable(name: string): Promise<boolean> {
    try {
      await this.call(name, "admin", "billing_demote", undefined, 2000);
      return true;
    } catch (error) {
      if (error instanceof IprotoConnectionError || error instanceof IprotoTimeoutError) return false;
      throw error;
    }
  }

  /**
   * Waits until `target` has applied every row `source` wrote, comparing the
   * vclocks that billing_stats reports. A storage that reports none gets a
   * short grace period instead: loopback replication lags by milliseconds.
   */
  private async waitCaughtUp(source: string, target: string): Promise<void> {
    const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
    const sourceClock = vclockOf(await this.call(source, "admin", "billing_stats"));
    if (sourceClock === undefined) return await sleep(200);
    while (Date.now() < deadline) {
      const targetClock = vclockOf(await this.call(target, "admin", "billing_stats")) ?? {};
      if (Object.entries(sourceClock).every(([id, lsn]) => (targetClock[id] ?? 0) >= lsn)) return;
      await sleep(20);
    }
    throw new Error(`${target} has not caught up with ${source} within ${CATCH_UP_TIMEOUT_MS} ms; not promoted`);
  }

  private async instanceStatus(instance: ClusterInstance, timeoutMs: number): Promise<InstanceStatus> {
    const base = {
      name: instance.name,
      replicaset: instance.replicaset,
      listen: `${instance.host}:${instance.port}`,
      role: this.isMaster(instance) ? ("master" as const) : ("replica" as const),
      running: this.processes.get(instance.name)?.running ?? false,
    };
    try {
      const info = (await this.call(instance.name, "service", "billing_info", undefined, timeoutMs)) as Record<string, unknown>;
      return { ...base, reachable: true, read_only: info["read_only"] === true, buckets_owned: Number(info["buckets_owned"]) };
    } catch {
      return { ...base, reachable: false, read_only: null, buckets_owned: null };
    }
  }

  private clientOf(instance: ClusterInstance, user: User, timeoutMs: number): IprotoClient {
    const key = `${user}@${instance.name}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      const credentials = this.topology.users[user];
      client = new IprotoClient({
        host: instance.host, port: instance.port, user: credentials.name, password: credentials.password,
        connectTimeoutMs: Math.min(timeoutMs, 2000), reconnect: { minDelayMs: 50, maxDelayMs: 500 },
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** Bootstrap roles from the topology, overridden by the failovers recorded in the state file. */
  private loadMasters(): Map<string, string> {
    const masters = new Map<string, string>();
    for (const instance of this.instances.values()) if (instance.role === "master") masters.set(instance.replicaset, instance.name);
    const path = join(this.dataDir, STATE_FILE);
    if (!existsSync(path)) return masters;
    const saved = (JSON.parse(readFileSync(path, "utf8")) as { masters?: Record<string, string> }).masters ?? {};
    for (const [replicaset, name] of Object.entries(saved)) {
      // An entry for an instance no longer in that replica set is stale: the topology wins.
      if (this.instances.get(name)?.replicaset === replicaset) masters.set(replicaset, name);
    }
    return masters;
  }

  private saveMasters(): void {
    const path = join(this.dataDir, STATE_FILE);
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify({ masters: Object.fromEntries(this.masters) }, null, 2) + "\n");
    renameSync(`${path}.tmp`, path); // atomic: a crash never leaves half a file
  }
}

function hasSnapshot(work_dir: string): boolean {
  return existsSync(work_dir) && readdirSync(work_dir).some((file) => file.endsWith(".snap"));
}

/** box.info.vclock as billing_stats may report it: {replica id: lsn}; msgpack may send it as an array. */
function vclockOf(stats: unknown): Record<string, number> | undefined {
  const vclock = (stats as Record<string, unknown> | null)?.["vclock"];
  if (typeof vclock !== "object" || vclock === null) return undefined;
  const entries = Array.isArray(vclock) ? vclock.map((lsn, i) => [String(i + 1), lsn] as const) : Object.entries(vclock);
  // Component 0 counts local-only rows, which are never replicated: not part of catching up.
  return Object.fromEntries(entries.filter(([id, lsn]) => id !== "0" && typeof lsn === "number")) as Record<string, number>;
}
