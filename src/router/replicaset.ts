/**
 * One replica set as the router sees it: a connection per instance and the
 * current master. Tarantool 2.6.0 has no election, so the master is whichever
 * instance reports read_only = false in billing_info; it is looked up again
 * whenever a call suggests it moved (NOT_WRITABLE, a dropped connection).
 */
import { IprotoClient, IprotoServerError } from "../iproto/index.ts";
import { routerFailure, RouterConfigError } from "./errors.ts";

export interface InstanceAddress {
  name: string;
  host: string;
  port: number;
}

export interface Credentials {
  name: string;
  password: string;
}

export interface InstanceLink {
  readonly name: string;
  readonly replicaset: string;
  readonly client: IprotoClient;
}

export interface ConnectionSettings {
  credentials: Credentials;
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

/** Tarantool's "Execute access to function ... is denied". */
const ER_ACCESS_DENIED = 42;

/** What discovery concluded, with the reason when there is no master. */
export type Discovery = { master: InstanceLink } | { master: undefined; problem: string };

export class ReplicasetLinks {
  readonly instances: readonly InstanceLink[];
  private current: InstanceLink | undefined;
  /** What tells an instance's role: billing_info for the service user, billing_stats for the admin user. */
  private infoProcedure: "billing_info" | "billing_stats" = "billing_info";
  private probing: Promise<Discovery> | undefined;

  constructor(readonly name: string, addresses: readonly InstanceAddress[], settings: ConnectionSettings) {
    this.instances = addresses.map((address) => ({
      name: address.name,
      replicaset: name,
      client: new IprotoClient({
        host: address.host,
        port: address.port,
        user: settings.credentials.name,
        password: settings.credentials.password,
        connectTimeoutMs: settings.connectTimeoutMs,
        reconnect: { minDelayMs: settings.reconnectMinMs, maxDelayMs: settings.reconnectMaxMs },
      }),
    }));
  }

  /** Starts every connection; failures are retried in the background by the client. */
  connectAll(): void {
    for (const instance of this.instances) instance.client.connect().catch(() => {});
  }

  get master(): InstanceLink | undefined {
    return this.current;
  }

  /** Drops the master if it is still `link`: the next call looks it up again. */
  forgetMaster(link: InstanceLink): void {
    if (this.current === link) this.current = undefined;
  }

  /** The master if known and connected; otherwise one shared lookup over every instance. */
  async findMaster(probeTimeoutMs: number, bucket_count: number): Promise<Discovery> {
    const known = this.current;
    if (known !== undefined && known.client.connected) return { master: known };
    this.probing ??= this.probe(probeTimeoutMs, bucket_count).finally(() => (this.probing = undefined));
    return await this.probing;
  }

  private async probe(timeoutMs: number, bucket_count: number): Promise<Discovery> {
    const infos = await Promise.all(this.instances.map((instance) => this.info(instance, timeoutMs)));
    const writable: InstanceLink[] = [];
    infos.forEach((info, i) => {
      if (info === undefined) return;
      const instance = this.instances[i]!;
      this.check(instance, info, bucket_count);
      if (info["read_only"] === false) writable.push(instance);
    });
    // Two writable instances mean a failover left the old master writable:
    // writing to either could diverge the data, so route to neither.
    if (writable.length > 1) {
      this.current = undefined;
      return { master: undefined, problem: `${writable.length} writable instances in ${this.name}: ${writable.map((w) => w.name).join(", ")}` };
    }
    this.current = writable[0];
    if (this.current !== undefined) return { master: this.current };
    const reachable = infos.filter((info) => info !== undefined).length;
    return { master: undefined, problem: `no writable instance in ${this.name} (${reachable} of ${this.instances.length} reachable)` };
  }

  private async info(instance: InstanceLink, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    try {
      if (!(await this.ready(instance, timeoutMs))) return undefined;
      const [info] = await instance.client.call(this.infoProcedure, [], { timeoutMs: Math.max(1, deadline - Date.now()) });
      return typeof info === "object" && info !== null ? (info as Record<string, unknown>) : undefined;
    } catch (error) {
      if (error instanceof IprotoServerError && error.code === ER_ACCESS_DENIED && this.infoProcedure === "billing_info") {
        // An admin router (billing_stats fan-out) may not execute billing_info; billing_stats carries the same fields.
        this.infoProcedure = "billing_stats";
        return await this.info(instance, Math.max(1, deadline - Date.now()));
      }
      // Unreachable, timed out or still starting (no procedures yet): not a candidate this time.
      return undefined;
    }
  }

  /**
   * Connects a client never asked to (a router used without connect()) or
   * waits for one being opened. A client that lost its connection is left to
   * its own reconnect backoff: forcing attempts here would hammer a dead host.
   */
  private async ready(instance: InstanceLink, timeoutMs: number): Promise<boolean> {
    const client = instance.client;
    if (client.state !== "disconnected" && client.state !== "connecting") return client.connected;
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<void>((resolve) => {
      timer = setTimeout(() => resolve(), timeoutMs);
    });
    try {
      await Promise.race([client.connect(), expiry]);
    } finally {
      clearTimeout(timer);
    }
    return client.connected;
  }

  /** Refuses to route into an instance whose identity or bucket_count contradicts the router's. */
  private check(instance: InstanceLink, info: Record<string, unknown>, bucket_count: number): void {
    if (info["replicaset_name"] !== this.name) {
      throw new RouterConfigError(`instance ${instance.name} reports replica set ${String(info["replicaset_name"])}, expected ${this.name}`);
    }
    if (info["bucket_count"] !== bucket_count) {
      throw routerFailure("BUCKET_COUNT_MISMATCH", { expected: bucket_count, actual: info["bucket_count"] },
        { replicaset: this.name, instance: instance.name });
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.instances.map((instance) => instance.client.close()));
  }
}
