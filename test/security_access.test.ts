/**
 * Security on real processes: a storage node (test hooks on, to read its
 * grants), its power-off receiver, and the gateway as its own process
 * (`src/gateway/server.ts`, settings and secrets from the environment, logs
 * captured).
 * - iproto: guest can execute nothing; the service user exactly the published
 *   procedures (no eval, no space access, no admin or test procedures, no Lua
 *   globals); wrong passwords and unknown users are refused; garbage on the
 *   port does not hurt the node.
 * - HTTP: no token or a wrong one gets 401 on every non-public route, a
 *   read-only token 403 on every write, and the right tokens work.
 * - Power-off signature: real deliveries verify; any tampered signed field,
 *   signature or secret fails.
 * - Secrets (tokens, passwords, the HMAC secret) never appear in the
 *   gateway's output or the storage's logs.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { IprotoAuthError, IprotoClient, IprotoServerError } from "../src/iproto/index.ts";
import { freePort } from "../src/cluster/ports.ts";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";
import { stopChild } from "../src/cluster/child-process.ts";
import { verifySignature } from "../src/receiver/signature.ts";
import { ADMIN, HMAC_SECRET, SERVICE, startSingleNode, type SingleNode } from "./support/single-node.ts";
import { sleep, waitUntil } from "../chaos/lib/util.ts";

/** The versioned storage API (src/storage/node.ts SERVICE_PROCEDURES): all the service user may execute. */
const SERVICE_PROCEDURES = [
  "billing_create_customer", "billing_add_account", "billing_deposit", "billing_set_rate", "billing_get_account", "billing_get_customer",
  "billing_ledger", "billing_pending_notifications", "billing_info", "billing_buckets_owned", "billing_noop",
];
const LUA_GLOBALS = ["box.cfg", "box.info", "box.schema.user.grant", "box.schema.user.passwd", "box.space.accounts:select", "box.space.accounts:truncate",
  "box.snapshot", "dostring", "loadstring", "os.execute", "os.exit", "require", "io.open", "pcall", "error"];
const ER_ACCESS_DENIED = 42;
const WRITE_TOKEN = "write-token-0123456789abcdef";
const READ_TOKEN = "read-token-0123456789abcdef";
const SECRETS = [SERVICE.password, ADMIN.password, HMAC_SECRET, WRITE_TOKEN, READ_TOKEN];

let f: SingleNode;
let report: { spaces: Record<string, number>; functions: string[]; users: Record<string, Array<[string, string, string]>> };
let gateway: ChildProcess | undefined;
let gatewayUrl = "";
const gatewayOutput: Buffer[] = [];

async function startGatewayProcess(): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "src/gateway/server.ts")], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      BILLING_GATEWAY_HOST: "127.0.0.1",
      BILLING_GATEWAY_PORT: String(port),
      BILLING_API_TOKEN: `${WRITE_TOKEN},${READ_TOKEN}:read`,
      BILLING_REPLICASETS: JSON.stringify({ rs1: { instances: [{ name: "solo", host: "127.0.0.1", port: f.node.port }] } }),
      BILLING_BUCKET_COUNT: "3000",
      BILLING_SERVICE_USER: SERVICE.name,
      BILLING_SERVICE_PASSWORD: SERVICE.password,
      BILLING_ADMIN_USER: ADMIN.name,
      BILLING_ADMIN_PASSWORD: ADMIN.password,
      BILLING_LOG_LEVEL: "trace",
      BILLING_SHUTDOWN_TIMEOUT_MS: "2000",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => gatewayOutput.push(chunk));
  child.stderr!.on("data", (chunk: Buffer) => gatewayOutput.push(chunk));
  gateway = child;
  gatewayUrl = `http://127.0.0.1:${port}`;
  await waitUntil("the gateway answers /health", 20_000, async () => ((await fetch(`${gatewayUrl}/health`)).status === 200 ? true : undefined), 100);
}

async function stopGatewayProcess(): Promise<void> {
  await stopChild(gateway);
}

before(async () => {
  f = await startSingleNode({ test_hooks: true });
  [report] = (await f.admin.call("billing_test_security_report", [{ users: [SERVICE.name, "guest", ADMIN.name] }])) as [typeof report];
  await startGatewayProcess();
});
after(async () => {
  await stopGatewayProcess();
  await f?.close();
});

async function client(user?: { name: string; password: string }): Promise<IprotoClient> {
  const options = { host: "127.0.0.1", port: f.node.port, reconnect: false as const, connectTimeoutMs: 2000 };
  const c = new IprotoClient(user === undefined ? options : { ...options, user: user.name, password: user.password });
  await c.connect();
  return c;
}

async function denied(what: string, attempt: () => Promise<unknown>): Promise<void> {
  await assert.rejects(attempt, (error: unknown) => {
    assert.ok(error instanceof IprotoServerError, `${what}: expected a server error, got ${String(error)}`);
    assert.equal(error.code, ER_ACCESS_DENIED, `${what}: ${error.message}`);
    return true;
  }, `${what} was allowed`);
}

/** Raw iproto requests the client does not offer (SELECT, INSERT, ...), through its private send. */
function raw(c: IprotoClient, type: number, body: Array<[number, unknown]>): Promise<unknown> {
  return (c as unknown as { send(t: number, b: Array<[number, unknown]>, o: object): Promise<unknown> }).send(type, body, {});
}
const SPACE_ID = 0x10;
const KEY = 0x20;
const TUPLE = 0x21;
/** Billing spaces: every request denied. System spaces: reading denied (the _v* views are public by design, filtered per user). */
function spaceRequests(spaces: Record<string, number>, verbs: typeof SPACE_REQUESTS): Array<[string, number, Array<[number, unknown]>]> {
  const out: Array<[string, number, Array<[number, unknown]>]> = [];
  for (const [name, id] of Object.entries(spaces)) {
    if (!name.startsWith("_")) for (const [verb, type, body] of verbs) out.push([`${verb} ${name}`, type, body(id)]);
  }
  for (const name of ["_space", "_index", "_user", "_priv", "_func", "_cluster", "_schema", "_sequence", "_truncate"]) {
    out.push([`select ${name}`, 0x01, SPACE_REQUESTS[0]![2](spaces[name]!)]);
  }
  return out;
}
const SPACE_REQUESTS: Array<[string, number, (id: number) => Array<[number, unknown]>]> = [
  ["select", 0x01, (id) => [[SPACE_ID, id], [0x11, 0], [0x12, 10], [0x13, 0], [0x14, 0], [KEY, []]]],
  ["insert", 0x02, (id) => [[SPACE_ID, id], [TUPLE, [1, 1, 1]]]],
  ["replace", 0x03, (id) => [[SPACE_ID, id], [TUPLE, [1, 1, 1]]]],
  ["update", 0x04, (id) => [[SPACE_ID, id], [0x11, 0], [KEY, [1]], [TUPLE, [["=", 2, 1]]]]],
  ["delete", 0x05, (id) => [[SPACE_ID, id], [0x11, 0], [KEY, [1]]]],
];

describe("iproto access", () => {
  it("publishes the billing procedures and grants the service user execute on exactly the service ones", () => {
    const billing = report.functions.filter((name) => name.startsWith("billing_"));
    for (const name of SERVICE_PROCEDURES) assert.ok(billing.includes(name), `${name} is not published`);
    const granted = report.users[SERVICE.name]!.filter(([privilege, type]) => privilege.includes("execute") && type === "function").map(([, , name]) => name).sort();
    assert.deepEqual(granted, [...SERVICE_PROCEDURES].sort());
    const others = report.users[SERVICE.name]!.filter(([, type]) => type !== "function");
    // Tarantool gives every user the right to alter itself (change its own password); nothing else.
    assert.deepEqual(others.map((p) => p.join(" ")).sort(), ["alter user billing", "execute role public", "session,usage universe "].sort(),
      "the service user has no rights beyond its procedures, the public role and logging in");
    const guest = report.users["guest"]!.map((p) => p.join(" ")).sort();
    assert.deepEqual(guest, ["execute role public", "session,usage universe "].sort(), "guest has no billing rights");
  });

  it("denies guest every procedure, eval, every space and Lua globals", async () => {
    const guest = await client();
    try {
      const billing = report.functions.filter((name) => name.startsWith("billing_"));
      assert.ok(billing.length >= SERVICE_PROCEDURES.length + 5, "the admin and test procedures are published too");
      for (const name of [...billing, ...LUA_GLOBALS]) await denied(`guest: ${name}`, () => guest.call(name, [{}]));
      await denied("guest: eval", () => guest.eval("return box.space.accounts:select()"));
      for (const [what, type, body] of spaceRequests(report.spaces, SPACE_REQUESTS)) await denied(`guest: ${what}`, () => raw(guest, type, body));
    } finally {
      await guest.close();
    }
  });

  it("lets the service user execute only the published procedures: no eval, no space access, no admin or test procedures", async () => {
    const service = await client(SERVICE);
    try {
      assert.equal((await service.call("billing_noop", []))[0], true);
      const forbidden = report.functions.filter((name) => name.startsWith("billing_") && !SERVICE_PROCEDURES.includes(name));
      assert.ok(forbidden.includes("billing_promote") && forbidden.includes("billing_test_advance_clock") && forbidden.includes("billing_buckets_assign"));
      for (const name of [...forbidden, ...LUA_GLOBALS]) await denied(`service: ${name}`, () => service.call(name, [{}]));
      await denied("service: eval", () => service.eval("return 1"));
      for (const [what, type, body] of spaceRequests(report.spaces, SPACE_REQUESTS)) await denied(`service: ${what}`, () => raw(service, type, body));
    } finally {
      await service.close();
    }
  });

  it("lets the admin user run operator procedures but not eval or write any space", async () => {
    const admin = await client(ADMIN);
    try {
      const [stats] = (await admin.call("billing_stats", [])) as [Record<string, unknown>];
      assert.equal(stats["instance_name"], "solo");
      await denied("admin: eval", () => admin.eval("return 1"));
      for (const name of ["box.cfg", "dostring", "os.execute"]) await denied(`admin: ${name}`, () => admin.call(name, [{}]));
      // It carries replication, whose role reads every space; it writes none.
      for (const [what, type, body] of spaceRequests(report.spaces, SPACE_REQUESTS.slice(1)).filter(([what]) => !what.startsWith("select"))) {
        await denied(`admin: ${what}`, () => raw(admin, type, body));
      }
    } finally {
      await admin.close();
    }
  });

  it("refuses a wrong password, an unknown user and Tarantool's own admin", async () => {
    const attempts: Array<{ name: string; password: string }> = [
      { name: SERVICE.name, password: "wrong" }, { name: SERVICE.name, password: "" }, { name: SERVICE.name, password: `${SERVICE.password} ` },
      { name: ADMIN.name, password: SERVICE.password }, { name: "nobody", password: SERVICE.password }, { name: "admin", password: "" },
      { name: "admin", password: ADMIN.password }, { name: "guest", password: "x" },
    ];
    for (const user of attempts) {
      await assert.rejects(client(user), (error: unknown) => error instanceof IprotoAuthError, `${user.name}/${JSON.stringify(user.password)} was let in`);
    }
  });

  it("survives garbage on the iproto port", async () => {
    const payloads = [Buffer.alloc(0), Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff, 0x82]),
      Buffer.from([0x05, 0x81, 0x00, 0x01, 0x80]), Buffer.alloc(64 * 1024, 0xa5)];
    for (const payload of payloads) {
      await new Promise<void>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: f.node.port }, () => socket.end(payload));
        socket.on("data", () => {});
        socket.setTimeout(1000, () => socket.destroy());
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
      });
    }
    const service = await client(SERVICE);
    try {
      assert.equal((await service.call("billing_noop", []))[0], true, "the node still serves");
    } finally {
      await service.close();
    }
  });
});

describe("HTTP access", () => {
  const routes: Array<{ method: string; path: string; body?: unknown; write: boolean }> = [
    { method: "POST", path: "/storage/customers/create", body: { customer_id: 31, name: "s", accounts: [{ account_id: 1, name: "a" }] }, write: true },
    { method: "POST", path: "/storage/customers/31/update_balance", body: { amount: "5", account_id: 1 }, write: true },
    { method: "POST", path: "/storage/customers/31/update_consumption", body: { consumption: "0", account_id: 1 }, write: true },
    { method: "GET", path: "/storage/customers/31", write: false },
    { method: "POST", path: "/v1/customers", body: { customer_id: 32, name: "v" }, write: true },
    { method: "GET", path: "/v1/customers/31", write: false },
    { method: "POST", path: "/v1/customers/32/accounts", body: { account_id: 1, name: "a" }, write: true },
    { method: "GET", path: "/v1/customers/31/accounts/1", write: false },
    { method: "POST", path: "/v1/customers/31/accounts/1/deposits", body: { amount: "1" }, write: true },
    { method: "PUT", path: "/v1/customers/31/accounts/1/rate", body: { rate_per_s: "0" }, write: true },
    { method: "GET", path: "/v1/customers/31/accounts/1/ledger", write: false },
    { method: "GET", path: "/v1/notifications/pending", write: false },
    { method: "GET", path: "/metrics", write: false },
    { method: "GET", path: "/no/such/route", write: false },
    { method: "DELETE", path: "/v1/customers/31", write: true },
  ];
  const call = async (route: (typeof routes)[number], authorization?: string): Promise<Response> => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== undefined) headers["authorization"] = authorization;
    const init: RequestInit = { method: route.method, headers };
    if (route.body !== undefined) init.body = JSON.stringify(route.body);
    return await fetch(`${gatewayUrl}${route.path}`, init);
  };
  const wrongCredentials = [
    undefined, "", "Bearer", "Bearer ", `Bearer ${WRITE_TOKEN}x`, `Bearer ${WRITE_TOKEN.slice(0, -1)}`, `Bearer ${WRITE_TOKEN.toUpperCase()}`,
    `Basic ${Buffer.from(`user:${WRITE_TOKEN}`).toString("base64")}`, WRITE_TOKEN, `Bearer ${WRITE_TOKEN} ${WRITE_TOKEN}`, `Bearer ${SERVICE.password}`,
    `Token ${WRITE_TOKEN}`, `Bearer ${READ_TOKEN}:read`,
  ];

  it("answers 401 with WWW-Authenticate to no token or a wrong one, on every route but /health and /docs", async () => {
    for (const route of routes) {
      for (const authorization of wrongCredentials) {
        const res = await call(route, authorization);
        assert.equal(res.status, 401, `${route.method} ${route.path} with ${JSON.stringify(authorization)}: ${res.status}`);
        assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="billing"/);
        await res.arrayBuffer();
      }
    }
    for (const path of ["/health", "/docs/json"]) assert.equal((await fetch(`${gatewayUrl}${path}`)).status, 200, `${path} is public`);
  });

  it("answers 403 to a read-only token on every write, and serves its reads", async () => {
    for (const route of routes) {
      const res = await call(route, `Bearer ${READ_TOKEN}`);
      if (route.write) {
        assert.equal(res.status, 403, `${route.method} ${route.path} with the read token: ${res.status}`);
        assert.match(res.headers.get("www-authenticate") ?? "", /insufficient_scope/);
      } else {
        assert.ok(res.status !== 401 && res.status !== 403, `${route.method} ${route.path} refused a read token: ${res.status}`);
      }
      await res.arrayBuffer();
    }
    const [customer, error] = await f.call("billing_get_customer", { customer_id: 31 });
    assert.equal(customer, null, "no write went through with the read token");
    assert.equal(error.name, "CUSTOMER_NOT_FOUND");
  });

  it("serves every route to the write token", async () => {
    for (const route of routes.filter((r) => r.path !== "/no/such/route" && r.method !== "DELETE")) {
      const res = await call(route, `Bearer ${WRITE_TOKEN}`);
      assert.ok(res.status === 200 || res.status === 201, `${route.method} ${route.path}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer().catch(() => undefined);
    }
    const [account] = await f.call("billing_get_account", { customer_id: 31, account_id: 1 });
    assert.equal(account.balance, "6");
  });
});

describe("power-off signature", () => {
  it("verifies on real deliveries and fails on any tampering", async () => {
    const customer_id = 33;
    await f.call("billing_create_customer", { customer_id, name: "sig", accounts: [{ account_id: 4, name: "a" }] });
    await f.call("billing_deposit", { customer_id, account_id: 4, amount: "0.05" });
    await f.call("billing_set_rate", { customer_id, account_id: 4, rate_per_s: "1" });
    await f.receiver.waitFor((ds) => ds.some((d) => d.user_id === String(customer_id)), 5000);
    const delivery = f.receiver.deliveries.find((d) => d.user_id === String(customer_id))!;
    assert.equal(delivery.signature_valid, true, "the demo receiver verified it");
    const headers = { ...delivery.headers };
    assert.equal(verifySignature(headers, HMAC_SECRET), true);
    assert.equal(verifySignature(headers, `${HMAC_SECRET}x`), false, "another secret");
    assert.equal(verifySignature(headers, ""), false, "an empty secret");
    const signed = ["x-billing-timestamp", "x-billing-event-id", "x-billing-event", "x-billing-user-id", "x-billing-account-id", "x-billing-occurred-at", "x-billing-signature"];
    for (const name of signed) {
      const value = String(headers[name]);
      const last = value.at(-1)!;
      const tampered = `${value.slice(0, -1)}${last === "1" ? "2" : "1"}`;
      assert.equal(verifySignature({ ...headers, [name]: tampered }, HMAC_SECRET), false, `${name} tampered`);
      const { [name]: _removed, ...without } = headers;
      assert.equal(verifySignature(without, HMAC_SECRET), false, `${name} removed`);
    }
    assert.equal(verifySignature({ ...headers, "x-billing-signature": String(headers["x-billing-signature"]).toUpperCase() }, HMAC_SECRET), false);
    assert.equal(verifySignature({ ...headers, "x-billing-signature": String(headers["x-billing-signature"]).replace("v1=", "v2=") }, HMAC_SECRET), false);
  });
});

describe("secrets stay out of the logs", () => {
  it("never writes a token, password or the HMAC secret to the gateway's output or the storage's logs", async () => {
    // Failures are what get logged in detail: refused logins, a storage that is gone, a 5xx.
    for (const password of ["wrong", SERVICE.password.toUpperCase()]) {
      await client({ name: SERVICE.name, password }).catch(() => undefined);
    }
    await fetch(`${gatewayUrl}/v1/customers/31`, { headers: { authorization: `Bearer ${WRITE_TOKEN}x` } }).then((r) => r.arrayBuffer());
    await f.node.stop();
    const down = await fetch(`${gatewayUrl}/v1/customers/31`, { headers: { authorization: `Bearer ${WRITE_TOKEN}` } });
    assert.equal(down.status, 503);
    await down.arrayBuffer();
    await f.node.start();
    await stopGatewayProcess();
    await sleep(100);
    const gatewayLog = Buffer.concat(gatewayOutput).toString("utf8");
    assert.ok(gatewayLog.includes("request completed") && gatewayLog.includes("token_id"), "the gateway logged its requests");
    const storageLogs = ["tarantool.log", "stdout.log"].map((name) => join(f.node.config.work_dir, name)).filter((path) => existsSync(path))
      .map((path) => readFileSync(path, "utf8")).join("\n");
    assert.ok(storageLogs.includes("billing node solo"), "the storage log was read");
    for (const secret of SECRETS) {
      assert.equal(gatewayLog.includes(secret), false, `the gateway's output contains a secret (${secret.slice(0, 4)}…)`);
      assert.equal(storageLogs.includes(secret), false, `the storage's logs contain a secret (${secret.slice(0, 4)}…)`);
    }
  });
});
