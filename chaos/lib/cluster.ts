/**
 * A real cluster for the reliability tests: the fixture of test/support/cluster.ts
 * (N replica sets × M instances on loopback ports the OS picks, a receiver,
 * a router) with the storage test hooks published (`test_hooks: true`:
 * advance the clock, faults, checksums), which the cluster runner itself never
 * turns on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster } from "../../src/cluster/cluster.ts";
import type { StorageNodeConfig } from "../../src/cluster/storage-process.ts";
import type { Topology } from "../../src/cluster/topology.ts";
import { PoweroffReceiver } from "../../src/receiver/receiver.ts";
import { Router, type RouterSettings } from "../../src/router/index.ts";
import { HMAC_SECRET, makeTopology, type ClusterShape } from "../../test/support/cluster.ts";

export { HMAC_SECRET };

export interface ChaosCluster {
  dir: string;
  topology: Topology;
  cluster: Cluster;
  receiver: PoweroffReceiver;
  router: Router;
  newRouter(settings?: Partial<RouterSettings>): Router;
  /** Calls a test hook (admin user) on one instance. */
  hook(instance: string, procedure: string, request?: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

export interface ChaosShape extends ClusterShape {
  /** Node settings beyond the topology's (merged into every node's config). */
  node?: Partial<StorageNodeConfig>;
  /** Power-off settings beyond the fixture's (backoff 20..200 ms, pool 8). */
  poweroff?: Topology["poweroff"];
  readyTimeoutMs?: number;
}

/** Every node of `cluster` starts with test hooks on (and `extra` merged in). */
function publishTestHooks(cluster: Cluster, extra: Partial<StorageNodeConfig>): void {
  const target = cluster as unknown as { nodeConfig(instance: unknown): StorageNodeConfig };
  const original = target.nodeConfig.bind(cluster);
  target.nodeConfig = (instance: unknown) => ({ ...original(instance), ...extra, test_hooks: true });
}

export async function startChaosCluster(shape: ChaosShape): Promise<ChaosCluster> {
  const dir = mkdtempSync(join(tmpdir(), "billing-chaos-"));
  const receiver = new PoweroffReceiver({ secret: HMAC_SECRET });
  await receiver.start();
  let topology: Topology;
  try {
    topology = await makeTopology(shape, dir, receiver.url);
    if (shape.poweroff !== undefined) topology.poweroff = { ...topology.poweroff, ...shape.poweroff };
  } catch (error) {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const cluster = new Cluster(topology, { readyTimeoutMs: shape.readyTimeoutMs ?? 30_000 });
  publishTestHooks(cluster, shape.node ?? {});
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
