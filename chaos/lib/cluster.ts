/**
 * A real cluster for the reliability tests: the fixture of test/support/cluster.ts
 * (N replica sets × M instances on loopback ports the OS picks, a receiver,
 * a router) with the storage test hooks published (`test_hooks: true`:
 * advance the clock, faults, checksums), which the cluster runner itself never
 * turns on.
 */
import { HMAC_SECRET, startTestCluster, type ClusterShape, type TestCluster } from "../../test/support/cluster.ts";

export { HMAC_SECRET };

export type ChaosCluster = TestCluster;
export type ChaosShape = ClusterShape;

export async function startChaosCluster(shape: ChaosShape): Promise<ChaosCluster> {
  return await startTestCluster({ ...shape, node: { ...shape.node, test_hooks: true } });
}
