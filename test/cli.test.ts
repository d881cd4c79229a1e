/**
 * The operator CLI and the README's main command, end to end on a real 2×2
 * cluster: `billing start` brings up storage, gateway and the demo receiver;
 * the seed's curl flow ends with the receiver logging GET ?user_id=18; the
 * operator commands answer with the documented exit codes; `billing stop`
 * stops everything.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "../src/cluster/ports.ts";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";
import { makeTopology } from "./support/cluster.ts";

const CLI = join(REPO_ROOT, "src/cli/main.ts");
let dir: string;
let topologyPath: string;
let gatewayUrl: string;
let server: ChildProcess | undefined;
let output = "";

function billing(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args, "--topology", topologyPath], {
    cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, BILLING_POWEROFF_URL: "" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(output)) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in output within ${timeoutMs} ms:\n${output}`);
    if (server?.exitCode !== null && server?.exitCode !== undefined) throw new Error(`billing start exited ${server.exitCode}:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function post(path: string, body: string): Promise<{ status: number; json: any }> {
  // curl -d sends application/x-www-form-urlencoded: the seed routes must take it as JSON.
  const res = await fetch(`${gatewayUrl}${path}`, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
  return { status: res.status, json: await res.json() };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "billing-cli-"));
  const topology = await makeTopology({ replicasets: 2, instances: 2 }, join(dir, "data"), `http://127.0.0.1:${await freePort()}/poweroff`);
  topologyPath = join(dir, "topology.yaml");
  writeFileSync(topologyPath, stringify(topology));
  gatewayUrl = `http://${topology.gateway.host}:${topology.gateway.port}`;
  server = spawn(process.execPath, ["--import", "tsx", CLI, "start", "--topology", topologyPath], {
    cwd: REPO_ROOT, env: { ...process.env, BILLING_POWEROFF_URL: "", BILLING_API_TOKEN: "" }, stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  server.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await waitForOutput(/billing cluster is up/, 90_000);
});

after(async () => {
  if (server !== undefined && server.exitCode === null) {
    // A test failed before `billing stop`: SIGTERM stops the storage nodes too; SIGKILL only as a last resort.
    server.kill("SIGTERM");
    const exited = new Promise<void>((resolve) => server!.once("exit", () => resolve()));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (server.exitCode === null) server.kill("SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("billing start", () => {
  it("serves the seed's flow, and the receiver gets the GET with user_id=18 once the money runs out", async () => {
    const created = await post("/storage/customers/create", '{"customer_id":18,"name":"Victor","accounts":[{"account_id":22,"name":"Victor"}]}');
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const deposited = await post("/storage/customers/18/update_balance", '{"amount":"0.5","account_id":22}');
    assert.equal(deposited.status, 200, JSON.stringify(deposited.json));
    assert.equal(deposited.json.balance, "0.5");
    const rated = await post("/storage/customers/18/update_consumption", '{"consumption":"5","account_id":22}');
    assert.equal(rated.status, 200, JSON.stringify(rated.json));
    await waitForOutput(/\[receiver\] GET \/poweroff\?user_id=18 .*depleted account=22 signature ok/, 10_000);
    const customer = await (await fetch(`${gatewayUrl}/storage/customers/18`)).json() as any;
    assert.equal(customer.accounts[0].status, "depleted");
    assert.equal(customer.accounts[0].balance, "0");
  });

  it("refuses a second start while one runs", () => {
    const second = billing("start");
    assert.equal(second.status, 1);
    assert.match(second.stderr, /already running/);
  });
});

describe("operator commands", () => {
  it("prints help and exits 0; exits 2 on bad usage", () => {
    const help = billing("--help");
    assert.equal(help.status, 0);
    for (const command of ["start", "stop", "status", "promote", "deposit", "rate", "balance", "ledger", "pending"]) {
      assert.match(help.stdout, new RegExp(`billing ${command}`));
    }
    assert.equal(billing("frobnicate").status, 2);
    assert.equal(billing("deposit", "18").status, 2);
    assert.equal(billing("deposit", "x", "1", "5").status, 2);
  });

  it("creates, deposits, sets the rate, shows balance and ledger; a refused operation exits 1 with its code", () => {
    assert.equal(billing("customer", "create", "42", "Ada", "1").status, 0);
    const deposit = billing("deposit", "42", "1", "12.5", "--key", "cli-1");
    assert.equal(deposit.status, 0, deposit.stderr);
    assert.equal(JSON.parse(deposit.stdout).balance, "12.5");
    assert.equal(JSON.parse(billing("deposit", "42", "1", "12.5", "--key", "cli-1").stdout).replayed, true);
    assert.equal(billing("rate", "42", "1", "0.001").status, 0);
    const balance = JSON.parse(billing("balance", "42", "1").stdout);
    assert.equal(balance.rate_per_s, "0.001");
    const ledger = JSON.parse(billing("ledger", "42", "1").stdout);
    assert.deepEqual(ledger.entries.map((e: any) => e.kind), ["deposit", "rate"]);
    const refused = billing("deposit", "42", "1", "1.0000001");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /AMOUNT_SCALE_EXCEEDED/);
    const missing = billing("balance", "4242");
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /CUSTOMER_NOT_FOUND/);
    const pending = billing("pending");
    assert.equal(pending.status, 0);
    assert.equal(JSON.parse(pending.stdout).length, 2, "one answer per replica set");
  });

  it("reports status and stops the cluster", async () => {
    const status = billing("status");
    assert.equal(status.status, 0, status.stdout + status.stderr);
    assert.equal((status.stdout.match(/writable/g) ?? []).length, 2);
    assert.equal((status.stdout.match(/read-only/g) ?? []).length, 2);
    const stop = billing("stop");
    assert.equal(stop.status, 0, stop.stderr);
    await new Promise<void>((resolve) => (server!.exitCode !== null ? resolve() : server!.once("exit", () => resolve())));
    assert.equal(server!.exitCode, 0);
    assert.match(output, /stopped/);
    const after = billing("status");
    assert.equal(after.status, 1, "nothing answers once stopped");
  });
});
