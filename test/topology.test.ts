/**
 * The topology file: the embedded default, defaults for omitted fields, and
 * one clear message per bad field (all of them at once). Also the first-start
 * bucket plan the cluster runner derives from it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pendingAssignments, planBucketRanges } from "../src/cluster/bucket-plan.ts";
import {
  DEFAULT_TOPOLOGY_PATH, instancesOf, loadDefaultTopology, parseTopology, routerOptionsOf, TOPOLOGY_DEFAULTS, TopologyError, validateTopology,
} from "../src/cluster/topology.ts";

const MINIMAL = `
replicasets:
  rs1:
    instances:
      - { name: a, host: 127.0.0.1, port: 4401, role: master }
users:
  service: { name: billing, password: s }
  admin: { name: billing_admin, password: a }
`;

/** The problems reported for a document, or [] when it is valid. */
function problemsOf(document: unknown): string[] {
  try {
    validateTopology(document);
    return [];
  } catch (error) {
    assert.ok(error instanceof TopologyError, `expected a TopologyError, got ${String(error)}`);
    return error.problems;
  }
}

/** A valid document to break one field at a time. */
function valid(): Record<string, any> {
  return {
    replicasets: {
      rs1: { instances: [{ name: "rs1-a", host: "127.0.0.1", port: 4401, role: "master" }, { name: "rs1-b", host: "127.0.0.1", port: 4402, role: "replica" }] },
      rs2: { instances: [{ name: "rs2-a", host: "127.0.0.1", port: 4403, role: "master" }] },
    },
    users: { service: { name: "billing", password: "s" }, admin: { name: "billing_admin", password: "a" } },
  };
}

describe("topology: the default file", () => {
  it("is 2 replica sets × master + replica on 127.0.0.1:3301..3304 with the gateway on 8081", () => {
    const topology = loadDefaultTopology();
    assert.ok(DEFAULT_TOPOLOGY_PATH.endsWith("config/topology.default.yaml"));
    assert.equal(topology.bucket_count, 3000);
    assert.equal(topology.data_dir, "./data");
    assert.deepEqual(topology.gateway, { host: "127.0.0.1", port: 8081 });
    assert.deepEqual(Object.keys(topology.replicasets), ["rs1", "rs2"]);
    const all = instancesOf(topology);
    assert.deepEqual(all.map((i) => `${i.replicaset}/${i.name}:${i.port}:${i.role}`),
      ["rs1/rs1-a:3301:master", "rs2/rs2-a:3303:master", "rs1/rs1-b:3302:replica", "rs2/rs2-b:3304:replica"]);
    assert.ok(all.every((i) => i.host === "127.0.0.1"));
  });

  it("gives the router the addresses, the service user and bucket_count", () => {
    const topology = loadDefaultTopology();
    const options = routerOptionsOf(topology);
    assert.equal(options.bucket_count, 3000);
    assert.equal(options.credentials.name, topology.users.service.name);
    assert.deepEqual(options.replicasets["rs2"]?.instances, [
      { name: "rs2-a", host: "127.0.0.1", port: 3303 }, { name: "rs2-b", host: "127.0.0.1", port: 3304 },
    ]);
  });
});

describe("topology: defaults", () => {
  it("fills every omitted optional field from TOPOLOGY_DEFAULTS", () => {
    const topology = parseTopology(MINIMAL);
    assert.equal(topology.bucket_count, TOPOLOGY_DEFAULTS.bucket_count);
    assert.equal(topology.data_dir, TOPOLOGY_DEFAULTS.data_dir);
    assert.equal(topology.sync_replication, false);
    assert.equal(topology.memtx_memory_mb, TOPOLOGY_DEFAULTS.memtx_memory_mb);
    assert.deepEqual(topology.gateway, { host: "127.0.0.1", port: 8081 });
    assert.deepEqual(topology.poweroff, {}, "power-off fields left out take the storage's own defaults");
  });

  it("keeps the fields that are given, including a partial gateway", () => {
    const topology = validateTopology({ ...valid(), bucket_count: 16, sync_replication: true, gateway: { port: 9000 }, poweroff: { url: "http://x/p?u={user_id}", pool_size: 4 } });
    assert.equal(topology.bucket_count, 16);
    assert.equal(topology.sync_replication, true);
    assert.deepEqual(topology.gateway, { host: "127.0.0.1", port: 9000 });
    assert.deepEqual(topology.poweroff, { url: "http://x/p?u={user_id}", pool_size: 4 });
  });
});

describe("topology: validation", () => {
  const cases: Array<[string, (doc: Record<string, any>) => void, RegExp]> = [
    ["an unknown top-level field", (d) => (d["bucket_cuont"] = 10), /^bucket_cuont is not a known field$/],
    ["a bad bucket_count", (d) => (d["bucket_count"] = 0), /^bucket_count must be an integer from 1 to 1000000 \(got 0\)$/],
    ["fewer buckets than replica sets", (d) => (d["bucket_count"] = 1), /^bucket_count must be at least the number of replica sets \(2\)/],
    ["a non-boolean sync_replication", (d) => (d["sync_replication"] = "yes"), /^sync_replication must be true or false/],
    ["no replica sets", (d) => (d["replicasets"] = {}), /^replicasets must be a non-empty mapping/],
    ["a replica set without instances", (d) => (d["replicasets"].rs2 = { instances: [] }), /^replicasets\.rs2\.instances must be a non-empty list/],
    ["two masters", (d) => (d["replicasets"].rs1.instances[1].role = "master"), /^replicasets\.rs1\.instances must have exactly one role: master \(has 2\)$/],
    ["no master", (d) => (d["replicasets"].rs2.instances[0].role = "replica"), /^replicasets\.rs2\.instances must have exactly one role: master \(has 0\)$/],
    ["an unknown role", (d) => (d["replicasets"].rs1.instances[1].role = "primary"), /^replicasets\.rs1\.instances\[1\]\.role must be "master" or "replica" \(got "primary"\)$/],
    ["a port out of range", (d) => (d["replicasets"].rs1.instances[0].port = 70000), /^replicasets\.rs1\.instances\[0\]\.port must be an integer from 1 to 65535/],
    ["a missing host", (d) => delete d["replicasets"].rs1.instances[0].host, /^replicasets\.rs1\.instances\[0\]\.host is required$/],
    ["an unknown instance field", (d) => (d["replicasets"].rs1.instances[0].weight = 2), /^replicasets\.rs1\.instances\[0\]\.weight is not a known field$/],
    ["a name unfit for a folder", (d) => (d["replicasets"].rs1.instances[0].name = "../etc"), /^replicasets\.rs1\.instances\[0\]\.name must be 1-64 letters/],
    ["a bad replica set name", (d) => (d["replicasets"]["rs 3"] = d["replicasets"].rs2) && delete d["replicasets"].rs2, /^replicasets\.rs 3 name must be/],
    ["duplicate instance names", (d) => (d["replicasets"].rs2.instances[0].name = "rs1-a"), /^replicasets\.rs2\.instances\[0\]\.name duplicates replicasets\.rs1\.instances\[0\]\.name/],
    ["duplicate ports on one host", (d) => (d["replicasets"].rs2.instances[0].port = 4402), /^replicasets\.rs2\.instances\[0\] listens on 127\.0\.0\.1:4402, already used by replicasets\.rs1\.instances\[1\]$/],
    ["the gateway on a storage port", (d) => (d["gateway"] = { port: 4401 }), /^replicasets\.rs1\.instances\[0\] listens on 127\.0\.0\.1:4401, already used by gateway$/],
    ["missing users", (d) => delete d["users"], /^users is required$/],
    ["a missing admin user", (d) => delete d["users"].admin, /^users\.admin is required$/],
    ["the same user twice", (d) => (d["users"].admin.name = "billing"), /^users\.admin\.name must differ from users\.service\.name$/],
    ["Tarantool's built-in admin", (d) => (d["users"].service.name = "admin"), /^users\.service\.name must not be Tarantool's built-in admin or guest/],
    ["a password that breaks a replication URI", (d) => (d["users"].admin.password = "p@ss:word"), /^users\.admin\.password must be non-empty, without '@', ':', '\/' or spaces$/],
    ["a power-off URL that is not http", (d) => (d["poweroff"] = { url: "ftp://host/x" }), /^poweroff\.url must be an http:\/\/ or https:\/\/ URL/],
    ["an unknown power-off field", (d) => (d["poweroff"] = { retries: 3 }), /^poweroff\.retries is not a known field$/],
    ["backoff bounds the wrong way round", (d) => (d["poweroff"] = { backoff_min_ms: 500, backoff_max_ms: 100 }), /^poweroff\.backoff_min_ms must not exceed poweroff\.backoff_max_ms$/],
    ["a pool too large", (d) => (d["poweroff"] = { pool_size: 10_000 }), /^poweroff\.pool_size must be an integer from 1 to 512/],
  ];

  for (const [what, breakIt, expected] of cases) {
    it(`refuses ${what}`, () => {
      const document = valid();
      breakIt(document);
      const problems = problemsOf(document);
      assert.ok(problems.some((p) => expected.test(p)), `no problem matched ${expected}; got:\n${problems.join("\n")}`);
    });
  }

  it("accepts the valid document every case above breaks", () => {
    assert.deepEqual(problemsOf(valid()), []);
  });

  it("reports every problem at once, and never echoes a password", () => {
    const document = valid();
    document["bucket_count"] = -5;
    document["replicasets"].rs1.instances[0].port = "http";
    document["users"].service.password = "top secret value";
    const problems = problemsOf(document);
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.ok(!problems.join("\n").includes("top secret value"));
  });

  it("names the file and says what is wrong with text that is not YAML or not a mapping", () => {
    assert.throws(() => parseTopology("replicasets: [", "cluster.yaml"), (error: unknown) =>
      error instanceof TopologyError && error.message.startsWith("cluster.yaml: 1 problem") && /not valid YAML/.test(error.problems[0]!));
    assert.throws(() => parseTopology("- a\n- b\n"), (error: unknown) =>
      error instanceof TopologyError && /the document must be a mapping/.test(error.problems[0]!));
    assert.throws(() => parseTopology("a: 1\na: 2\n"), TopologyError, "duplicate keys are refused, not silently merged");
  });
});

describe("bucket plan", () => {
  it("splits the buckets into contiguous ranges whose sizes differ by at most one", () => {
    assert.deepEqual([...planBucketRanges(["rs1", "rs2"], 3000)], [["rs1", [1, 1500]], ["rs2", [1501, 3000]]]);
    const ranges = [...planBucketRanges(["a", "b", "c"], 3001).values()];
    assert.deepEqual(ranges, [[1, 1000], [1001, 2000], [2001, 3001]]);
  });

  it("assigns everything on a first start and nothing once bootstrapped", () => {
    const plan = planBucketRanges(["rs1", "rs2"], 10);
    assert.deepEqual([...pendingAssignments(plan, new Map([["rs1", []], ["rs2", []]]), 10)],
      [["rs1", [1, 2, 3, 4, 5]], ["rs2", [6, 7, 8, 9, 10]]]);
    // Bucket 5 was moved to rs2 after bootstrap: nothing is handed back.
    const bootstrapped = new Map<string, Array<[number, number]>>([["rs1", [[1, 4]]], ["rs2", [[5, 10]]]]);
    assert.equal(pendingAssignments(plan, bootstrapped, 10).size, 0);
  });

  it("completes a bootstrap cut short, without taking buckets another replica set owns", () => {
    const plan = planBucketRanges(["rs1", "rs2"], 10);
    const partial = new Map<string, Array<[number, number]>>([["rs1", [[1, 5], [7, 7]]], ["rs2", []]]);
    assert.deepEqual([...pendingAssignments(plan, partial, 10)], [["rs2", [6, 8, 9, 10]]]);
  });
});
