/**
 * Router and cluster runner on a real cluster of 2 replica sets × 2 instances
 * (master + replica): bucket spread, routing to the owner, WRONG_BUCKET and
 * rerouting on a stale map, replication, failover with a depletion falling
 * due during the switch, and a whole-cluster restart on its data.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster } from "../src/cluster/cluster.ts";
import { isRouterError, isRouterUnavailableError, Router, RouterError } from "../src/router/index.ts";
import { eventually, inBatches, startTestCluster, type TestCluster } from "./support/cluster.ts";

const CUSTOMERS = 2000;
/** Customer ids from 1000 up, so the ones the later tests create never collide with them. */
const FIRST_ID = 1000;

let t: TestCluster;
let router: Router;
/** customer_id → replica set that holds it, as the masters themselves report. */
const holder = new Map<number, string>();
/** Buckets moved by hand: bucket_id → its owner since. */
const moved = new Map<number, string>();

before(async () => {
  t = await startTestCluster({ replicasets: 2, instances: 2 });
  router = t.router;
});

after(async () => {
  await t?.close();
});

function isStorageError(name: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isRouterError(error), `expected a RouterError, got ${String(error)}`);
    assert.equal(error.errorName, name, `expected ${name}, got ${JSON.stringify(error.value)}`);
    return true;
  };
}

/** The other replica set of this 2×2 cluster. */
function other(replicaset: string): string {
  return replicaset === "rs1" ? "rs2" : "rs1";
}

/** Direct call to a replica set's current master, bypassing the router. */
function onMaster(replicaset: string, procedure: string, request: Record<string, unknown>): Promise<unknown> {
  return t.cluster.call(t.cluster.masterOf(replicaset), "service", procedure, request);
}

/** A customer id (not used yet) whose bucket the router maps to `replicaset`. */
function freshCustomerOn(replicaset: string, from: number): number {
  for (let id = from; id < from + 10_000; id++) if (router.routeOf(id).replicaset === replicaset) return id;
  throw new Error(`no customer id maps to ${replicaset}`);
}

describe("cluster 2×2: bootstrap and spread", () => {
  it("starts every node with the bootstrap roles and splits the buckets evenly", async () => {
    const status = await t.cluster.status();
    assert.deepEqual(status.masters, { rs1: "rs1-a", rs2: "rs2-a" });
    const byName = Object.fromEntries(status.instances.map((i) => [i.name, i]));
    for (const name of ["rs1-a", "rs2-a"]) assert.equal(byName[name]?.read_only, false, `${name} should be writable`);
    for (const name of ["rs1-b", "rs2-b"]) assert.equal(byName[name]?.read_only, true, `${name} should be read-only`);
    for (const name of ["rs1-a", "rs2-a"]) assert.equal(byName[name]?.buckets_owned, 1500, `${name} owns ${byName[name]?.buckets_owned}`);
    // The replicas learn their buckets by replication, a moment later.
    await eventually("replicas own their master's buckets", 5000, async () => {
      const replicas = (await t.cluster.status()).instances.filter((i) => i.role === "replica");
      return replicas.every((i) => i.buckets_owned === 1500) ? true : undefined;
    });
    assert.deepEqual(router.status().buckets, { per_replicaset: { rs1: 1500, rs2: 1500 }, unknown: 0 });
    assert.deepEqual(router.status().replicasets["rs1"]?.master, "rs1-a");
  });

  it("spreads customers created through the router over both replica sets within ±10% of even", async () => {
    const ids = Array.from({ length: CUSTOMERS }, (_, i) => FIRST_ID + i);
    await inBatches(ids, 100, (customer_id) =>
      router.call(customer_id, "billing_create_customer", { customer_id, name: `c${customer_id}`, accounts: [{ account_id: 1, name: "main" }] }, { write: true }));
    // Count on the storage side: who actually holds each customer.
    for (const replicaset of ["rs1", "rs2"]) {
      await inBatches(ids, 200, async (customer_id) => {
        try {
          await onMaster(replicaset, "billing_get_customer", { customer_id });
          assert.equal(holder.get(customer_id), undefined, `customer ${customer_id} is held by two replica sets`);
          holder.set(customer_id, replicaset);
        } catch (error) {
          isStorageError("WRONG_BUCKET")(error);
        }
      });
    }
    assert.equal(holder.size, CUSTOMERS, "every customer is held by exactly one replica set");
    const onRs1 = [...holder.values()].filter((rs) => rs === "rs1").length;
    const even = CUSTOMERS / 2;
    for (const count of [onRs1, CUSTOMERS - onRs1]) {
      assert.ok(Math.abs(count - even) <= even * 0.1, `uneven spread: ${onRs1} on rs1, ${CUSTOMERS - onRs1} on rs2`);
    }
  });

  it("lands every operation on the owner of the customer's bucket", async () => {
    const sample = Array.from({ length: 200 }, (_, i) => FIRST_ID + i);
    assert.ok(new Set(sample.map((id) => holder.get(id))).size === 2, "the sample spans both replica sets");
    await inBatches(sample, 50, async (customer_id) => {
      await router.call(customer_id, "billing_deposit", { customer_id, account_id: 1, amount: "10.5" }, { write: true });
      await router.call(customer_id, "billing_set_rate", { customer_id, account_id: 1, rate_per_s: "0" }, { write: true });
    });
    await inBatches(sample, 50, async (customer_id) => {
      const owner = holder.get(customer_id)!;
      assert.equal(router.routeOf(customer_id).replicaset, owner);
      const account = (await onMaster(owner, "billing_get_account", { customer_id, account_id: 1 })) as Record<string, unknown>;
      assert.equal(account["balance"], "10.5");
      const viaRouter = await router.call<Record<string, unknown>>(customer_id, "billing_get_account", { customer_id, account_id: 1 }, { write: false });
      assert.equal(viaRouter["balance"], "10.5");
      await assert.rejects(onMaster(other(owner), "billing_get_account", { customer_id, account_id: 1 }), isStorageError("WRONG_BUCKET"));
    });
  });

  it("returns the storage's expected failures as RouterError values", async () => {
    const customer_id = FIRST_ID;
    await assert.rejects(
      router.call(customer_id, "billing_create_customer", { customer_id, name: "again", accounts: [] }, { write: true }),
      (error) => isStorageError("CUSTOMER_EXISTS")(error) && (error as RouterError).context.replicaset === holder.get(customer_id),
    );
    await assert.rejects(router.call(customer_id, "billing_deposit", { customer_id, account_id: 1, amount: "0" }, { write: true }), isStorageError("AMOUNT_NOT_POSITIVE"));
    await assert.rejects(router.call(0, "billing_get_customer", { customer_id: 0 }, { write: false }), isStorageError("INVALID_ARGUMENT"));
  });
});

describe("cluster 2×2: fan-out", () => {
  it("calls every master with callAll, as the service user and as the admin user", async () => {
    const infos = await router.callAll("billing_info");
    assert.deepEqual(infos.map((o) => o.ok && (o.result as Record<string, unknown>)["instance_name"]), ["rs1-a", "rs2-a"]);
    // The admin user may not run billing_info: its router finds the masters through billing_stats.
    const admin = new Router({ ...t.cluster.routerOptions(), credentials: t.topology.users.admin });
    try {
      const stats = await admin.callAll("billing_stats", undefined, { timeoutMs: 3000 });
      assert.deepEqual(stats.map((o) => (o.ok ? (o.result as Record<string, unknown>)["instance_name"] : String(o.error))), ["rs1-a", "rs2-a"]);
      const notifier = (stats[0] as { result: { notifier: Record<string, unknown> } }).result.notifier;
      assert.equal(typeof notifier["outbox_depth"], "number");
    } finally {
      await admin.close();
    }
  });
});

describe("cluster 2×2: wrong bucket and stale maps", () => {
  it("refuses a write sent straight to the wrong master with WRONG_BUCKET naming the bucket", async () => {
    const customer_id = freshCustomerOn("rs1", 100_000);
    const { bucket_id } = router.routeOf(customer_id);
    await assert.rejects(
      onMaster("rs2", "billing_create_customer", { customer_id, name: "lost", accounts: [] }),
      (error) => isStorageError("WRONG_BUCKET")(error) && (error as RouterError).details?.["bucket_id"] === bucket_id,
    );
    await assert.rejects(onMaster("rs1", "billing_get_customer", { customer_id }), isStorageError("CUSTOMER_NOT_FOUND"));
  });

  it("follows WRONG_BUCKET's destination when a bucket moved after the map was loaded", async () => {
    const customer_id = freshCustomerOn("rs1", 110_000);
    const { bucket_id } = router.routeOf(customer_id);
    await moveBucket(bucket_id, "rs1", "rs2", "rs2");
    const before = router.stats();
    await router.call(customer_id, "billing_create_customer", { customer_id, name: "moved", accounts: [] }, { write: true });
    assert.equal(router.stats().reroutes, before.reroutes + 1, "exactly one reroute");
    assert.equal(router.stats().map_loads, before.map_loads, "the destination was enough: no map reload");
    assert.equal(router.routeOf(customer_id).replicaset, "rs2");
    await onMaster("rs2", "billing_get_customer", { customer_id });
    await assert.rejects(onMaster("rs1", "billing_get_customer", { customer_id }), isStorageError("WRONG_BUCKET"));
  });

  it("reloads the map when WRONG_BUCKET names no usable destination", async () => {
    const customer_id = freshCustomerOn("rs2", 120_000);
    const { bucket_id } = router.routeOf(customer_id);
    await moveBucket(bucket_id, "rs2", "rs1", "");
    const before = router.stats();
    await router.call(customer_id, "billing_create_customer", { customer_id, name: "reloaded", accounts: [] }, { write: true });
    assert.ok(router.stats().map_loads > before.map_loads, "the map was reloaded");
    assert.equal(router.routeOf(customer_id).replicaset, "rs1");
    await onMaster("rs1", "billing_get_customer", { customer_id });
  });

  it("routes a fresh router straight to the new owner after the moves", async () => {
    const fresh = t.newRouter();
    await fresh.connect(10_000);
    assert.deepEqual(fresh.status().buckets, { per_replicaset: { rs1: 1500, rs2: 1500 }, unknown: 0 });
    const customer_id = freshCustomerOn("rs2", 130_000);
    const before = fresh.stats();
    await fresh.call(customer_id, "billing_create_customer", { customer_id, name: "direct", accounts: [] }, { write: true });
    assert.equal(fresh.stats().retries, before.retries, "no retry needed");
  });
});

/** Moves a bucket's ownership the vshard way: the new owner takes it, then the old one hands it over. */
async function moveBucket(bucket_id: number, from: string, to: string, destination: string): Promise<void> {
  await t.cluster.call(t.cluster.masterOf(to), "admin", "billing_buckets_assign", { bucket_ids: [bucket_id] });
  await t.cluster.call(t.cluster.masterOf(from), "admin", "billing_buckets_release", { bucket_ids: [bucket_id], destination });
  moved.set(bucket_id, to);
}

describe("cluster 2×2: replication", () => {
  it("a replica holds the master's data and refuses writes", async () => {
    // One of the customers given 10.5 above.
    const customer_id = Array.from({ length: 200 }, (_, i) => FIRST_ID + i).find((id) => holder.get(id) === "rs2")!;
    await router.call(customer_id, "billing_deposit", { customer_id, account_id: 1, amount: "7.25", idempotency_key: "repl-1" }, { write: true });
    const onReplica = await eventually("deposit replicated to rs2-b", 5000, async () => {
      const account = (await t.cluster.call("rs2-b", "service", "billing_get_account", { customer_id, account_id: 1 })) as Record<string, unknown>;
      return account["balance"] === "17.75" ? account : undefined;
    });
    assert.equal(onReplica["ledger_seq"], 3, "deposit, rate change and this deposit replicated");
    await assert.rejects(
      t.cluster.call("rs2-b", "service", "billing_deposit", { customer_id, account_id: 1, amount: "1" }),
      isStorageError("NOT_WRITABLE"),
    );
  });
});

describe("cluster 2×2: failover", () => {
  it("promotes the replica of a killed master; writes go on and a depletion due during the switch is notified", async () => {
    const customer_id = freshCustomerOn("rs1", 140_000);
    await router.call(customer_id, "billing_create_customer", { customer_id, name: "dying", accounts: [{ account_id: 7, name: "vm" }] }, { write: true });
    await router.call(customer_id, "billing_deposit", { customer_id, account_id: 7, amount: "1.5", idempotency_key: "fo-1" }, { write: true });
    const account = await router.call<Record<string, unknown>>(customer_id, "billing_set_rate", { customer_id, account_id: 7, rate_per_s: "1" }, { write: true });
    const depletes_at_ms = account["depletes_at_ms"] as number;
    assert.ok(depletes_at_ms > Date.now(), "the deadline is still ahead");
    await eventually("rate replicated to rs1-b", 5000, async () => {
      const copy = (await t.cluster.call("rs1-b", "service", "billing_get_account", { customer_id, account_id: 7 })) as Record<string, unknown>;
      return copy["rate_per_s"] === "1" ? true : undefined;
    });

    const survivor = freshCustomerOn("rs1", 150_000);
    await router.call(survivor, "billing_create_customer", { customer_id: survivor, name: "survivor", accounts: [{ account_id: 1, name: "main" }] }, { write: true });
    await eventually("survivor replicated to rs1-b", 5000, async () =>
      (await t.cluster.call("rs1-b", "service", "billing_get_customer", { customer_id: survivor })) ?? undefined);

    await t.cluster.kill("rs1-a");
    // A write issued while rs1 has no master: the router keeps looking for one until its deadline.
    // It may have been sent to the dying master before the router saw the connection go, so it
    // carries an idempotency key and says it is idempotent: a resend can never count twice.
    const pendingWrite = router.call(survivor, "billing_deposit", { customer_id: survivor, account_id: 1, amount: "3", idempotency_key: "during-failover" },
      { write: true, idempotent: true, timeoutMs: 15_000 });
    // Let the deadline pass while nobody is master, so the depletion falls due in the middle of the switch.
    await sleepUntil(depletes_at_ms + 300);
    assert.equal(deliveriesFor(customer_id).length, 0, "nobody could notify before the promotion");
    await t.cluster.promote("rs1", "rs1-b");

    await pendingWrite;
    const deposited = (await onMaster("rs1", "billing_get_account", { customer_id: survivor, account_id: 1 })) as Record<string, unknown>;
    assert.equal(deposited["balance"], "3", "the deposit made during the switch counted exactly once");
    await t.receiver.waitFor(() => deliveriesFor(customer_id).length > 0, 10_000);
    const [delivery] = deliveriesFor(customer_id);
    assert.equal(delivery?.kind, "depleted");
    assert.equal(delivery?.account_id, "7");
    assert.equal(delivery?.signature_valid, true);
    assert.equal(delivery?.occurred_at_ms, depletes_at_ms, "the depletion is dated at the deadline, not at the promotion");

    assert.equal(t.cluster.masterOf("rs1"), "rs1-b");
    assert.equal(router.status().replicasets["rs1"]?.master, "rs1-b");
    const after = await router.call<Record<string, unknown>>(customer_id, "billing_get_account", { customer_id, account_id: 7 }, { write: false });
    assert.equal(after["status"], "depleted");
    assert.equal(after["balance"], "0");
  });

  it("brings the old master back read-only and it catches up with the new master", async () => {
    await t.cluster.restart("rs1-a");
    const customer_id = freshCustomerOn("rs1", 160_000);
    await router.call(customer_id, "billing_create_customer", { customer_id, name: "after", accounts: [] }, { write: true });
    await eventually("new master's write replicated to rs1-a", 10_000, async () =>
      (await t.cluster.call("rs1-a", "service", "billing_get_customer", { customer_id })) ?? undefined);
    const status = await t.cluster.status();
    const old = status.instances.find((i) => i.name === "rs1-a")!;
    assert.equal(old.role, "replica");
    assert.equal(old.read_only, true);
    const state = JSON.parse(readFileSync(join(t.dir, "cluster-state.json"), "utf8"));
    assert.deepEqual(state.masters, { rs1: "rs1-b", rs2: "rs2-a" });
  });
});

describe("cluster 2×2: faults within one deadline", () => {
  it("gives up on a hung master at the deadline: a lost write is reported as outcome unknown, a read as a timeout", async () => {
    const pid = t.cluster.process("rs2-a")?.pid;
    assert.ok(pid !== undefined);
    const customer_id = freshCustomerOn("rs2", 170_000);
    process.kill(pid, "SIGSTOP");
    try {
      const started = Date.now();
      await assert.rejects(
        router.call(customer_id, "billing_create_customer", { customer_id, name: "hung", accounts: [] }, { write: true, timeoutMs: 300 }),
        (error) => isRouterUnavailableError(error) && error.reason === "outcome_unknown" && error.outcomeUnknown,
      );
      await assert.rejects(
        router.call(customer_id, "billing_get_customer", { customer_id }, { write: false, timeoutMs: 300 }),
        (error) => isRouterUnavailableError(error) && error.reason !== "outcome_unknown" && !error.outcomeUnknown,
      );
      assert.ok(Date.now() - started < 1500, `both calls should end near their 300 ms deadlines, took ${Date.now() - started} ms`);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // The write was in fact applied once the node resumed: exactly why it was not retried blindly.
    await eventually("the hung write applied after SIGCONT", 5000, async () =>
      (await router.call(customer_id, "billing_get_customer", { customer_id }, { write: false })) ?? undefined);
  });

  it("fails a call to a replica set without a master at its deadline, and recovers when the master is back", async () => {
    await t.cluster.kill("rs2-a");
    const customer_id = freshCustomerOn("rs2", 180_000);
    const started = Date.now();
    // A read: a write could race the router noticing the kill and end as outcome_unknown (see the test above).
    await assert.rejects(
      router.call(customer_id, "billing_get_customer", { customer_id }, { write: false, timeoutMs: 400 }),
      (error) => isRouterUnavailableError(error) && error.reason === "no_master" && error.context.replicaset === "rs2",
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 1500, `gave up after ${elapsed} ms`);
    await t.cluster.restart("rs2-a");
    await router.call(customer_id, "billing_create_customer", { customer_id, name: "back", accounts: [] }, { write: true });
  });

  it("refuses a router whose bucket_count differs from the storage's", async () => {
    const wrong = new Router({ ...t.cluster.routerOptions(), bucket_count: 2999 });
    try {
      await assert.rejects(
        wrong.call(FIRST_ID, "billing_get_customer", { customer_id: FIRST_ID }, { write: false, timeoutMs: 2000 }),
        isStorageError("BUCKET_COUNT_MISMATCH"),
      );
    } finally {
      await wrong.close();
    }
  });
});

describe("cluster 2×2: restart of the whole cluster", () => {
  it("keeps data, roles and bucket ownership; buckets are not bootstrapped again", async () => {
    await router.close();
    await t.cluster.stop();
    assert.ok(existsSync(join(t.dir, "rs1-a")));
    const again = new Cluster(t.topology);
    t.cluster = again; // so the after hook stops this one
    await again.start();
    router = t.newRouter();
    await router.connect(15_000);
    assert.equal(again.masterOf("rs1"), "rs1-b", "the failover survived the restart");
    assert.deepEqual(router.status().buckets, { per_replicaset: { rs1: 1500, rs2: 1500 }, unknown: 0 });
    // A second bootstrap would hand the buckets moved by hand back to their planned replica set.
    assert.equal(moved.size, 2);
    for (const [bucket_id, owner] of moved) {
      const owned = (await onMaster(other(owner), "billing_buckets_owned", {})) as { ranges: Array<[number, number]> };
      assert.ok(!owned.ranges.some(([first, last]) => first <= bucket_id && bucket_id <= last), `bucket ${bucket_id} went back to ${other(owner)}`);
    }
    const customer_id = [...holder.keys()][0]!;
    const customer = await router.call<Record<string, unknown>>(customer_id, "billing_get_customer", { customer_id }, { write: false });
    assert.equal(customer["name"], `c${customer_id}`);
  });

  it("refuses to start on the same data with another bucket_count", async () => {
    await t.cluster.stop();
    const wrong = new Cluster({ ...t.topology, bucket_count: 3001 }, { readyTimeoutMs: 15_000 });
    await assert.rejects(wrong.start(), /bucket_count/);
    const status = await wrong.status(300);
    await wrong.stop();
    assert.ok(status.instances.every((i) => !i.running), "a failed start stops what it started");
  });
});

function deliveriesFor(customer_id: number): typeof t.receiver.deliveries {
  return t.receiver.deliveries.filter((d) => d.user_id === String(customer_id));
}

async function sleepUntil(at_ms: number): Promise<void> {
  const wait = at_ms - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
