/**
 * server.ts and config.ts: listening, loopback-only without tokens, graceful
 * shutdown (in-flight requests finish, new connections are refused, the
 * backend closes last, a bound cuts stragglers), the process's SIGTERM, and
 * settings from the environment.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { startGateway, isLoopback } from "../src/gateway/server.ts";
import { GatewayConfigError, loadConfig } from "../src/gateway/config.ts";
import type { BillingBackend, ReplicasetOutcome } from "../src/gateway/backend.ts";
import { freePort } from "../src/cluster/ports.ts";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";

const TOKEN = "server-test-token-0123456789";

/** A backend whose calls wait until the test lets them go. */
class GatedBackend implements BillingBackend {
  calls = 0;
  closed = 0;
  private releases: Array<() => void> = [];

  async call(customer_id: number): Promise<unknown> {
    this.calls += 1;
    await new Promise<void>((resolve) => this.releases.push(resolve));
    return { customer_id, bucket_id: 1, name: "a", created_at_ms: 1, accounts: [] };
  }
  release(): void {
    for (const release of this.releases.splice(0)) release();
  }
  async callAll(): Promise<ReplicasetOutcome[]> {
    return [];
  }
  async stats(): Promise<ReplicasetOutcome[]> {
    return [];
  }
  async health() {
    return [{ replicaset: "rs1", ready: true }];
  }
  async close(): Promise<void> {
    this.closed += 1;
  }
}

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function capture(): { stream: Writable; lines: () => any[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { chunks.push(String(chunk)); done(); } });
  return { stream, lines: () => chunks.join("").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line)) };
}

describe("startGateway", () => {
  it("finishes in-flight requests, refuses new connections, then closes the backend", async () => {
    const backend = new GatedBackend();
    const gateway = await startGateway({ backend, port: 0 });
    const inFlight = fetch(`${gateway.url}/v1/customers/5`);
    await until(() => backend.calls === 1);
    const closing = gateway.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(fetch(`${gateway.url}/health`, { headers: { connection: "close" } }), "no new connection once closing");
    assert.equal(backend.closed, 0, "the backend stays open while a request is in flight");

    backend.release();
    const released_at = Date.now();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("connection"), "close", "no keep-alive once closing");
    assert.equal((await res.json() as { customer_id: number }).customer_id, 5);
    await closing;
    assert.ok(Date.now() - released_at < 2000, "close ends with the last request, not at the shutdown bound");
    assert.equal(backend.closed, 1);
    await gateway.close();
    assert.equal(backend.closed, 1, "close is idempotent");
  });

  it("cuts requests still running at the shutdown bound", async () => {
    const backend = new GatedBackend();
    const gateway = await startGateway({ backend, port: 0, shutdownTimeoutMs: 200 });
    const inFlight = fetch(`${gateway.url}/v1/customers/5`).then(() => "answered", () => "cut");
    await until(() => backend.calls === 1);
    const started = Date.now();
    await gateway.close();
    assert.ok(Date.now() - started < 3000, "close did not wait for the stuck request");
    assert.equal(await inFlight, "cut");
    assert.equal(backend.closed, 1);
    backend.release();
  });

  it("without tokens it binds loopback only, whatever host it is given, and warns", async () => {
    const log = capture();
    const gateway = await startGateway({ backend: new GatedBackend(), host: "0.0.0.0", port: 0, logger: { level: "info", stream: log.stream } });
    try {
      assert.match(gateway.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const warning = log.lines().find((line) => line.level === 40);
      assert.ok(warning, "a warning was logged");
      assert.match(warning.msg, /no API tokens/);
      assert.equal(warning.host, "127.0.0.1");
    } finally {
      await gateway.close();
    }
  });

  it("with tokens it requires them and logs how many, never their value", async () => {
    const log = capture();
    const gateway = await startGateway({ backend: new GatedBackend(), tokens: TOKEN, port: 0, logger: { level: "info", stream: log.stream } });
    try {
      assert.equal((await fetch(`${gateway.url}/v1/customers/5`)).status, 401);
      assert.equal((await fetch(`${gateway.url}/health`)).status, 200);
      assert.ok(log.lines().some((line) => line.msg === "gateway listening" && line.tokens === 1));
      assert.equal(log.lines().some((line) => line.level === 40), false, "no warning with tokens");
      assert.doesNotMatch(JSON.stringify(log.lines()), new RegExp(TOKEN));
    } finally {
      await gateway.close();
    }
  });

  it("knows loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.equal(isLoopback(host), true, host);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com", "127.0.0.1.example.com"]) assert.equal(isLoopback(host), false, host);
  });
});

describe("settings from the environment", () => {
  const replicasets = JSON.stringify({ rs1: { instances: [{ name: "a", host: "127.0.0.1", port: 3301 }] } });

  it("applies the defaults", () => {
    const config = loadConfig({ BILLING_REPLICASETS: replicasets });
    assert.deepEqual({ ...config, replicasets: undefined }, {
      host: "127.0.0.1", port: 8081, body_limit: 65536, log_level: "info", shutdown_timeout_ms: 10_000, connect_timeout_ms: 10_000,
      bucket_count: 3000, replicasets: undefined, service_user: { name: "billing", password: "" }, tokens: [],
    });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      BILLING_REPLICASETS: replicasets, BILLING_GATEWAY_HOST: "0.0.0.0", BILLING_GATEWAY_PORT: "9000", BILLING_API_TOKEN: `${TOKEN}:read`,
      BILLING_BODY_LIMIT: "2048", BILLING_LOG_LEVEL: "warn", BILLING_BUCKET_COUNT: "16", BILLING_SERVICE_USER: "svc", BILLING_SERVICE_PASSWORD: "p1",
      BILLING_ADMIN_USER: "adm", BILLING_ADMIN_PASSWORD: "p2", BILLING_SHUTDOWN_TIMEOUT_MS: "500", BILLING_CONNECT_TIMEOUT_MS: "100",
    });
    assert.deepEqual([config.host, config.port, config.body_limit, config.log_level, config.bucket_count, config.shutdown_timeout_ms, config.connect_timeout_ms],
      ["0.0.0.0", 9000, 2048, "warn", 16, 500, 100]);
    assert.deepEqual(config.tokens, [{ token: TOKEN, scope: "read" }]);
    assert.deepEqual([config.service_user, config.admin_user], [{ name: "svc", password: "p1" }, { name: "adm", password: "p2" }]);
  });

  it("refuses bad settings by name, without echoing secrets", () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{}, /BILLING_REPLICASETS is required/],
      [{ BILLING_REPLICASETS: "{not json" }, /not valid JSON/],
      [{ BILLING_REPLICASETS: "{}" }, /\/replicasets/],
      [{ BILLING_REPLICASETS: JSON.stringify({ rs1: { instances: [{ name: "a", host: "h", port: 0 }] } }) }, /\/replicasets\/rs1\/instances\/0\/port/],
      [{ BILLING_REPLICASETS: replicasets, BILLING_GATEWAY_PORT: "80a" }, /BILLING_GATEWAY_PORT/],
      [{ BILLING_REPLICASETS: replicasets, BILLING_GATEWAY_PORT: "70000" }, /\/port/],
      [{ BILLING_REPLICASETS: replicasets, BILLING_LOG_LEVEL: "loud" }, /\/log_level/],
      [{ BILLING_REPLICASETS: replicasets, BILLING_BUCKET_COUNT: "0" }, /\/bucket_count/],
    ];
    for (const [env, message] of bad) assert.throws(() => loadConfig(env), (error: unknown) => error instanceof GatewayConfigError && message.test(error.message), JSON.stringify(env));
    assert.throws(() => loadConfig({ BILLING_REPLICASETS: replicasets, BILLING_API_TOKEN: "tiny-secret-x" }), (error: unknown) => error instanceof Error && !error.message.includes("tiny-secret-x"));
  });
});

describe("the gateway process", () => {
  it("serves from the environment and exits 0 on SIGTERM; its logs hold no secret", async () => {
    const deadStoragePort = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "src/gateway/server.ts"], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        BILLING_REPLICASETS: JSON.stringify({ rs1: { instances: [{ name: "rs1-a", host: "127.0.0.1", port: deadStoragePort }] } }),
        BILLING_GATEWAY_PORT: "0",
        BILLING_API_TOKEN: TOKEN,
        BILLING_SERVICE_PASSWORD: "service-password-secret",
        BILLING_ADMIN_USER: "billing_admin",
        BILLING_ADMIN_PASSWORD: "admin-password-secret",
        BILLING_CONNECT_TIMEOUT_MS: "200",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += String(chunk)));
    child.stderr.on("data", (chunk) => (output += String(chunk)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await until(() => /"msg":"gateway listening"/.test(output), 20_000);
      const url = JSON.parse(output.split("\n").find((line) => line.includes("gateway listening"))!).url as string;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${url}/health`)).status, 503, "no storage: not ready");
      assert.equal((await fetch(`${url}/docs/json`)).status, 200);
      assert.equal((await fetch(`${url}/v1/customers/1`)).status, 401);
      const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /billing_replicaset_stats_up\{replicaset="rs1"\} 0/);
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000))]);
      assert.equal(code, 0, output);
      assert.match(output, /"msg":"shutting down"/);
      assert.match(output, /"msg":"gateway stopped"/);
      for (const secret of [TOKEN, "service-password-secret", "admin-password-secret"]) assert.equal(output.includes(secret), false, `${secret} was logged`);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
