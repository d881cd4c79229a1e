/**
 * A real cluster for the router and runner tests: N replica sets × M
 * instances on loopback ports picked by the OS, data in a temp folder, and a
 * power-off receiver every node notifies. close() stops all of it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster } from "../../src/cluster/cluster.ts";
import type { StorageNodeConfig } from "../../src/cluster/storage-process.ts";
import { freePort } from "../../src/cluster/ports.ts";
import { validateTopology, type Topology } from "../../src/cluster/topology.ts";
import { PoweroffReceiver } from "../../src/receiver/receiver.ts";
import { Router, type RouterSettings } from "../../src/router/index.ts";

export const HMAC_SECRET = "cluster-hmac-secret";

export interface ClusterShape {
  replicasets: number;
  instances: number;
  sync_replication?: boolean;
  bucket_count?: number;
  /** Node settings beyond the topology's, merged into every node's config (e.g. test_hooks). */
  node?: Partial<StorageNodeConfig>;
  /** Power-off settings beyond the fixture's (backoff 20..200 ms, pool 8). */
  poweroff?: Topology["poweroff"];
  readyTimeoutMs?: number;
}

export interface TestCluster {
  dir: string;
  topology: Topology;
  cluster: Cluster;
  receiver: PoweroffReceiver;
  router: Router;
  /** A second router over the same cluster (its own connections and bucket map). */
  newRouter(settings?: Partial<RouterSettings>): Router;
  /** Calls a procedure on one instance as the admin user (test hooks, stats). */
  hook(instance: string, procedure: string, request?: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/** `count` distinct free ports: the OS may hand the same just-released port out twice in a row. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count && tries < count * 20; tries++) ports.add(await freePort());
  if (ports.size < count) throw new Error(`could not find ${count} distinct free ports`);
  return [...ports];
}

export async function makeTopology(shape: ClusterShape, dir: string, receiverUrl: string): Promise<Topology> {
  const ports = await freePorts(shape.replicasets * shape.instances + 1);
  const replicasets: Record<string, unknown> = {};
  for (let r = 1; r <= shape.replicasets; r++) {
    const instances = [];
    for (let i = 0; i < shape.instances; i++) {
      instances.push({ name: `rs${r}-${"abcdefgh"[i]}`, host: "127.0.0.1", port: ports.pop()!, role: i === 0 ? "master" : "replica" });
    }
    replicasets[`rs${r}`] = { instances };
  }
  return validateTopology({
    bucket_count: shape.bucket_count ?? 3000,
    data_dir: dir,
    sync_replication: shape.sync_replication ?? false,
    memtx_memory_mb: 64,
    replicasets,
    users: { service: { name: "billing", password: "service-secret" }, admin: { name: "billing_admin", password: "admin-secret" } },
    poweroff: { url: receiverUrl, secret: HMAC_SECRET, backoff_min_ms: 20, backoff_max_ms: 200, pool_size: 8 },
    gateway: { host: "127.0.0.1", port: ports.pop()! },
  });
}

export async function startTestCluster(shape: ClusterShape): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "billing-cluster-"));
  const receiver = new PoweroffReceiver({ secret: HMAC_SECRET });
  await receiver.start();
  let topology: Topology;
  try {
    topology = await makeTopology(shape, dir, receiver.url);
    if (shape.poweroff !== undefined) topology.poweroff = { ...topology.poweroff, ...shape.poweroff };
  } catch (error) {
    // Nothing may stay open, or the test process would never exit.
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const cluster = new Cluster(topology, { readyTimeoutMs: shape.readyTimeoutMs ?? 30_000, ...(shape.node ? { node: shape.node } : {}) });
  const routers: Router[] = [];
  const newRouter = (settings: Partial<RouterSettings> = {}): Router => {
    const router = new Router(cluster.routerOptions({ callTimeoutMs: 10_000, ...settings }));
    routers.push(router);
    return router;
  };
  const close = async (): Promise<void> => {
    await Promise.allSettled(routers.map((router) => router.close()));
    await cluster.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await cluster.start();
    const router = newRouter();
    await router.connect(15_000);
    const hook = (instance: string, procedure: string, request: Record<string, unknown> = {}): Promise<unknown> =>
      cluster.call(instance, "admin", procedure, request);
    return { dir, topology, cluster, receiver, router, newRouter, hook, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? "" : ` (last error: ${String(last)})`}`);
}

/** Runs `task` over `items` with at most `width` in flight. */
export async function inBatches<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(task))));
  return results;
}
