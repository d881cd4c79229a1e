/**
 * Conformance tests of the iproto client against a real Tarantool 2.6
 * started by this file. Run: node --import tsx --test test/iproto.test.ts
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpackMultiple } from "msgpackr";
import {
  Decimal,
  IprotoAuthError,
  IprotoClient,
  IprotoConnectionError,
  IprotoOverloadError,
  IprotoProtocolError,
  IprotoServerError,
  IprotoTimeoutError,
  Uuid,
  decodeValue,
  encodeValue,
  type ClientState,
  type IprotoClientOptions,
} from "../src/iproto/index.ts";
import { PacketReader } from "../src/iproto/frames.ts";

const USER = "tester";
const PASSWORD = "s3cret-pw";
const ADMIN_PASSWORD = "admin-pw";
const BIG_REPLY_BYTES = 8 * 1024 * 1024;

// ---------------------------------------------------------------- harness

function initLua(port: number, dir: string): string {
  return `
box.cfg{listen = '127.0.0.1:${port}', work_dir = ${JSON.stringify(dir)}, log = ${JSON.stringify(join(dir, "t.log"))}}
local decimal = require('decimal')
local fiber = require('fiber')

local functions = {'echo', 'sleep_then_return', 'raise', 'big_reply', 'dec', 'int64', 'describe', 'whoami', 'connections', 'missing_impl', 'push_then_return'}
box.once('test-schema', function()
  box.schema.user.passwd('admin', ${JSON.stringify(ADMIN_PASSWORD)})
  box.schema.user.create(${JSON.stringify(USER)}, {password = ${JSON.stringify(PASSWORD)}})
  for _, name in ipairs(functions) do
    box.schema.func.create(name)
    box.schema.user.grant(${JSON.stringify(USER)}, 'execute', 'function', name)
  end
  box.schema.func.create('not_granted')
end)

-- counts accepted connections, to detect reconnect loops from the server side
local accepted = 0
box.session.on_connect(function() accepted = accepted + 1 end)

function echo(...) return ... end
function sleep_then_return(seconds, value) fiber.sleep(seconds) return value end
function raise(code, message) box.error{code = code, reason = message} end
function big_reply(n) return string.rep('x', n - 1) .. 'y' end
function dec() return decimal.new('1E+5'), decimal.new('-0.000001') end
function int64() return 0x4000000000000000LL end
function describe(v)
  if decimal.is_decimal(v) then return 'decimal', tostring(v) end
  return type(v), tostring(v)
end
function whoami() return box.session.user() end
function push_then_return(v) box.session.push('out-of-band') return v end
function connections() return accepted end
function not_granted() return 'should not run' end

-- Tarantool accepts connections before bootstrap ends (auth then fails with
-- ER_LOADING); the harness waits for this file instead of the open port.
local ready = io.open(${JSON.stringify(join(dir, "ready"))}, 'w')
ready:write('ok')
ready:close()
`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until check() is true; every wait in this file is bounded. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function fileExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL"); // last resort if an `after` never ran
});

/** A Tarantool instance in its own temp dir; restartable on the same port and data. */
class TarantoolServer {
  proc: ChildProcess | undefined;
  private stderr = "";

  private constructor(readonly dir: string, readonly port: number) {}

  static async start(): Promise<TarantoolServer> {
    const dir = await mkdtemp(join(tmpdir(), "iproto-test-"));
    const server = new TarantoolServer(dir, await freePort());
    await writeFile(join(dir, "init.lua"), initLua(server.port, dir));
    await server.spawn();
    return server;
  }

  async spawn(): Promise<void> {
    await rm(join(this.dir, "ready"), { force: true });
    const proc = spawn("tarantool", ["init.lua"], { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    running.add(proc);
    proc.stderr?.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    proc.once("exit", () => running.delete(proc));
    await waitFor(
      `tarantool to be ready on ${this.port}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`tarantool exited (${proc.exitCode}): ${this.stderr}`);
        return (await fileExists(join(this.dir, "ready"))) && (await portAccepts(this.port));
      },
      15_000,
    );
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill(signal);
    await Promise.race([exited, sleep(5000).then(() => proc.kill("SIGKILL"))]);
    await exited;
  }

  async destroy(): Promise<void> {
    await this.kill("SIGKILL");
    await rm(this.dir, { recursive: true, force: true });
  }
}

function clientFor(server: TarantoolServer, extra: Partial<IprotoClientOptions> = {}): IprotoClient {
  return new IprotoClient({
    host: "127.0.0.1",
    port: server.port,
    user: USER,
    password: PASSWORD,
    connectTimeoutMs: 2000,
    reconnect: { minDelayMs: 50, maxDelayMs: 500 },
    ...extra,
  });
}

function waitForState(client: IprotoClient, state: ClientState, timeoutMs: number): Promise<void> {
  return waitFor(`client state ${state}`, () => client.state === state, timeoutMs);
}

// ---------------------------------------------------------------- tests without a server

describe("codec", () => {
  test("Decimal normalizes to plain notation and refuses what Tarantool cannot hold", () => {
    assert.equal(new Decimal("1E+5").toString(), "100000");
    assert.equal(new Decimal("-0.000001").toString(), "-0.000001");
    assert.equal(new Decimal("1.50").toString(), "1.50");
    assert.equal(new Decimal("-0").toString(), "0");
    assert.equal(new Decimal(".5").toString(), "0.5");
    assert.equal(new Decimal("125e-2").toString(), "1.25");
    assert.equal(JSON.stringify({ a: new Decimal("18") }), '{"a":"18"}');
    assert.ok(new Decimal("1.5").equals(new Decimal("1.50")));
    assert.ok(Decimal.isDecimal(new Decimal("1")));
    assert.ok(!Decimal.isDecimal("1"));
    assert.throws(() => new Decimal("1e38"), RangeError); // 39 digits
    assert.throws(() => new Decimal("1e-39"), RangeError);
    assert.throws(() => new Decimal("abc"), TypeError);
    assert.throws(() => new Decimal("1e99999"), TypeError);
  });

  test("MP_DECIMAL bytes match Tarantool's own encoding", () => {
    // Bytes produced by msgpack.encode(decimal.new(...)) on Tarantool 2.6.0.
    assert.equal(encodeValue(new Decimal("1.50")).toString("hex"), "c7030102150c");
    assert.equal(encodeValue(new Decimal("-0.000001")).toString("hex"), "d501061d");
    assert.equal(String(decodeValue(Buffer.from("d501fb1c", "hex"))), "100000"); // 1E+5: scale -5
    assert.equal(String(decodeValue(Buffer.from("c70301d0db1c", "hex"))), "1" + "0".repeat(37)); // int8 scale
  });

  test("integers are encoded canonically: uint for >= 0, int for < 0, never float", () => {
    assert.equal(encodeValue(1_700_000_000_000).toString("hex"), "cf0000018bcfe56800");
    assert.equal(encodeValue(2n ** 62n).toString("hex"), "cf4000000000000000");
    assert.equal(encodeValue(-5).toString("hex"), "fb");
    assert.equal(encodeValue(1.5).toString("hex"), "cb3ff8000000000000");
    assert.throws(() => encodeValue(2n ** 64n), RangeError);
    assert.throws(() => encodeValue(new Date()), TypeError);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => encodeValue(cyclic), TypeError);
  });

  test("PacketReader reassembles packets split at every byte, and splits coalesced ones", () => {
    const packets = [Buffer.from("a"), Buffer.alloc(300, 7), Buffer.from("xyz")];
    const wire = Buffer.concat(packets.flatMap((p) => [Buffer.from([0xce, 0, 0, p.length >> 8, p.length & 0xff]), p]));
    const byteByByte = new PacketReader(1 << 20);
    const got: Buffer[] = [];
    for (const byte of wire) {
      byteByByte.push(Buffer.from([byte]));
      for (let p = byteByByte.next(); p; p = byteByByte.next()) got.push(p);
    }
    assert.deepEqual(got, packets);
    const allAtOnce = new PacketReader(1 << 20);
    allAtOnce.push(wire);
    const got2: Buffer[] = [];
    for (let p = allAtOnce.next(); p; p = allAtOnce.next()) got2.push(p);
    assert.deepEqual(got2, packets);
    const limited = new PacketReader(100);
    limited.push(wire);
    limited.next();
    assert.throws(() => limited.next(), /exceeds maxPacketBytes/);
  });
});

// ---------------------------------------------------------------- tests against a scripted fake server

type FakeRequest = { type: number; sync: number; body: Record<string, unknown> };
type FakeHandler = (req: FakeRequest, reply: (code: number, body: Buffer) => void, sock: Socket) => void;

/** Speaks just enough iproto to script replies real Tarantool only gives in rare moments. */
async function fakeTarantool(handler: FakeHandler): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    const line = (text: string): string => text.padEnd(63, " ") + "\n";
    sock.write(line("Tarantool 2.6.0 (Binary) 00000000-0000-0000-0000-000000000000") + line(Buffer.alloc(32, 1).toString("base64")));
    const reader = new PacketReader(1 << 20);
    sock.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      for (let p = reader.next(); p; p = reader.next()) {
        const [header, body] = unpackMultiple(p) as [Record<string, number>, Record<string, unknown> | undefined];
        const sync = header[1] ?? 0;
        const reply = (code: number, replyBody: Buffer): void => {
          const head = encodeValue(new Map([[0, code], [1, sync]]));
          const size = Buffer.alloc(5);
          size[0] = 0xce;
          size.writeUInt32BE(head.length + replyBody.length, 1);
          sock.write(Buffer.concat([size, head, replyBody]));
        };
        handler({ type: header[0] ?? -1, sync, body: body ?? {} }, reply, sock);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const addr = srv.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

const okData = (values: unknown[]): Buffer => encodeValue(new Map([[0x30, values]]));
const errorBody = (message: string): Buffer => encodeValue(new Map([[0x31, message]]));

describe("scripted server", () => {
  test("auth answered 'still loading' (ER_LOADING) is retried, not treated as bad credentials", async () => {
    let authAttempts = 0;
    const fake = await fakeTarantool((req, reply) => {
      if (req.type === 0x07) {
        authAttempts++;
        if (authAttempts <= 2) reply(0x8000 | 116, errorBody("Instance bootstrap hasn't finished yet"));
        else reply(0, encodeValue(new Map()));
      } else reply(0, okData(["pong"]));
    });
    const client = new IprotoClient({
      host: "127.0.0.1",
      port: fake.port,
      user: USER,
      password: PASSWORD,
      reconnect: { minDelayMs: 20, maxDelayMs: 50 },
    });
    const states: ClientState[] = [];
    client.onStateChange((s) => states.push(s));
    try {
      await assert.rejects(client.connect(), (err: unknown) => err instanceof IprotoConnectionError && !(err instanceof IprotoAuthError));
      await waitForState(client, "connected", 3000);
      assert.equal(authAttempts, 3);
      assert.ok(!states.includes("auth_failed"));
      assert.deepEqual(await client.call("anything", []), ["pong"]);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("a server that accepts but never greets fails connect() after connectTimeoutMs", async () => {
    const accepted = new Set<Socket>();
    const silent = createServer((sock) => accepted.add(sock));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const addr = silent.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const client = new IprotoClient({ host: "127.0.0.1", port, connectTimeoutMs: 200, reconnect: false });
    try {
      const t0 = Date.now();
      await assert.rejects(client.connect(), /connect timed out after 200 ms/);
      assert.ok(Date.now() - t0 < 1000);
      assert.equal(client.state, "disconnected");
    } finally {
      await client.close();
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("an undecodable reply fails only its own call; the connection stays up", async () => {
    const fake = await fakeTarantool((req, reply) => {
      if (req.body[0x22] === "bad") reply(0, Buffer.from([0x81, 0x30, 0x91, 0xd4, 99, 0])); // MP_EXT type 99
      else reply(0, okData([req.body[0x22]]));
    });
    const client = new IprotoClient({ host: "127.0.0.1", port: fake.port });
    try {
      await client.connect();
      const [bad, good] = await Promise.allSettled([client.call("bad", []), client.call("good", [])]);
      assert.equal(bad.status, "rejected");
      assert.ok(bad.status === "rejected" && bad.reason instanceof IprotoProtocolError);
      assert.deepEqual(good, { status: "fulfilled", value: ["good"] });
      assert.equal(client.connected, true);
    } finally {
      await client.close();
      await fake.close();
    }
  });
});

// ---------------------------------------------------------------- tests against a shared server

describe("iproto client against tarantool", () => {
  let server: TarantoolServer;
  let client: IprotoClient;

  before(async () => {
    server = await TarantoolServer.start();
    client = clientFor(server);
    await client.connect();
  });

  after(async () => {
    await client?.close();
    await server?.destroy();
  });

  test("greeting and chap-sha1 auth succeed", async () => {
    assert.equal(client.connected, true);
    assert.equal(client.state, "connected");
    assert.deepEqual(await client.call("whoami", []), [USER]);
  });

  test("wrong password: IprotoAuthError, and no reconnect loop", async () => {
    const [before] = await client.call("connections", []);
    const states: ClientState[] = [];
    const bad = clientFor(server, { password: "wrong" });
    bad.onStateChange((s) => states.push(s));
    try {
      await assert.rejects(bad.connect(), (err: unknown) => {
        assert.ok(err instanceof IprotoAuthError);
        assert.equal(err.code, 47); // ER_PASSWORD_MISMATCH
        return true;
      });
      await sleep(1000);
      const [afterwards] = await client.call("connections", []);
      assert.equal(Number(afterwards) - Number(before), 1, "server saw exactly one connection in 1 s");
      assert.deepEqual(states, ["connecting", "auth_failed"]);
      assert.equal(bad.state, "auth_failed");
      await assert.rejects(bad.call("echo", [1]), IprotoConnectionError);
    } finally {
      await bad.close();
    }
  });

  test("CALL, EVAL and PING", async () => {
    assert.deepEqual(await client.call("echo", [1, "two", true, null, [3], { k: "v" }]), [1, "two", true, null, [3], { k: "v" }]);
    assert.deepEqual(await client.call("echo", []), []);
    await client.ping();
    // A box.session.push() message carries the call's sync but is not its reply.
    assert.deepEqual(await client.call("push_then_return", ["final"]), ["final"]);
    const admin = clientFor(server, { user: "admin", password: ADMIN_PASSWORD });
    try {
      await admin.connect();
      assert.deepEqual(await admin.eval("local a, b = ... return a + b, box.session.user()", [2, 40]), [42, "admin"]);
    } finally {
      await admin.close();
    }
  });

  test("1000 pipelined calls resolve, each with its own reply", async () => {
    // Random server-side delays make replies come back out of order.
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => client.call("sleep_then_return", [Math.random() * 0.02, `v${i}`])),
    );
    results.forEach((r, i) => assert.deepEqual(r, [`v${i}`]));
    assert.equal(client.inFlight, 0);
  });

  test("per-call timeout rejects with IprotoTimeoutError and the late reply is discarded", async () => {
    const started = Date.now();
    await assert.rejects(client.call("sleep_then_return", [0.4, "late"], { timeoutMs: 100 }), (err: unknown) => {
      assert.ok(err instanceof IprotoTimeoutError);
      assert.equal(err.timeoutMs, 100);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 90 && elapsed < 350, `rejected after ${elapsed} ms`);
    assert.equal(client.inFlight, 0);
    // While the late reply arrives, another call must get its own value, not "late".
    const [own] = await client.call("sleep_then_return", [0.5, "own"]);
    assert.equal(own, "own");
    assert.equal(client.connected, true);
  });

  test("server-side errors carry Tarantool's code and message", async () => {
    await assert.rejects(client.call("raise", [4242, "custom failure"]), (err: unknown) => {
      assert.ok(err instanceof IprotoServerError);
      assert.equal(err.code, 4242);
      assert.equal(err.message, "custom failure");
      assert.equal(err.type, "ClientError");
      return true;
    });
    // Registered and granted, but no Lua function behind it: ER_NO_SUCH_PROC.
    await assert.rejects(client.call("missing_impl", []), { name: "IprotoServerError", code: 33 });
    // Registered but not granted to this user: ER_ACCESS_DENIED.
    await assert.rejects(client.call("not_granted", []), { name: "IprotoServerError", code: 42 });
    assert.deepEqual(await client.call("echo", ["still fine"]), ["still fine"]);
  });

  test("int64 beyond 2^53 round-trips exactly", async () => {
    const [v] = await client.call("int64", []);
    assert.equal(v, 2n ** 62n);
    const values = [2n ** 53n + 1n, -(2n ** 62n) - 1n, 2n ** 64n - 1n, -(2n ** 63n), 2 ** 53 - 1, -(2 ** 53) + 1];
    assert.deepEqual(await client.call("echo", values), values);
    assert.deepEqual(await client.call("describe", [2n ** 62n + 1n]), ["cdata", "4611686018427387905ULL"]);
    assert.deepEqual(await client.call("describe", [1_700_000_000_000]), ["number", "1700000000000"]);
  });

  test("decimals decode exactly and round-trip", async () => {
    const [big, tiny] = await client.call("dec", []);
    assert.ok(big instanceof Decimal && tiny instanceof Decimal);
    assert.equal(big.toString(), "100000");
    assert.equal(tiny.toString(), "-0.000001");
    const values = ["-0.000001", "1.50", "100000", "12345678901234567890.123456789012345678", "0"].map((s) => new Decimal(s));
    assert.deepEqual((await client.call("echo", values)).map(String), values.map(String));
    assert.deepEqual(await client.call("describe", [new Decimal("-0.000001")]), ["decimal", "-0.000001"]);
    assert.deepEqual(await client.call("describe", [new Decimal("1E+5")]), ["decimal", "100000"]);
  });

  test("uuid values decode to Uuid and round-trip", async () => {
    const u = new Uuid("6f2a5b0e-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
    const [back] = await client.call("echo", [u]);
    assert.ok(back instanceof Uuid);
    assert.equal(back.toString(), u.toString());
    assert.deepEqual(await client.call("describe", [u]), ["cdata", u.toString()]);
  });

  test("a multi-megabyte reply split across TCP reads is reassembled", async () => {
    const [big, small] = await Promise.all([
      client.call("big_reply", [BIG_REPLY_BYTES]),
      client.call("echo", ["small"]),
    ]);
    const s = big[0];
    assert.equal(typeof s, "string");
    assert.equal((s as string).length, BIG_REPLY_BYTES);
    assert.ok((s as string).startsWith("xxxx") && (s as string).endsWith("xy"));
    assert.deepEqual(small, ["small"]);
    assert.deepEqual(await client.call("echo", [1]), [1]);
  });

  test("maxInFlight is enforced without sending the excess call", async () => {
    const limited = clientFor(server, { maxInFlight: 5 });
    try {
      await limited.connect();
      const slow = Array.from({ length: 5 }, (_, i) => limited.call("sleep_then_return", [0.2, i]));
      await assert.rejects(limited.call("echo", ["excess"]), (err: unknown) => {
        assert.ok(err instanceof IprotoOverloadError);
        assert.equal(err.maxInFlight, 5);
        return true;
      });
      assert.equal(limited.inFlight, 5);
      assert.deepEqual(await Promise.all(slow), [[0], [1], [2], [3], [4]]);
      assert.deepEqual(await limited.call("echo", ["after"]), ["after"]);
    } finally {
      await limited.close();
    }
  });

  test("a reply larger than maxPacketBytes closes the connection instead of buffering it", async () => {
    const small = clientFor(server, { maxPacketBytes: 64 * 1024, reconnect: false });
    try {
      await small.connect();
      await assert.rejects(small.call("big_reply", [1024 * 1024]), IprotoConnectionError);
      assert.equal(small.connected, false);
    } finally {
      await small.close();
    }
  });
});

// ---------------------------------------------------------------- server crash and restart

describe("server killed and restarted", () => {
  let server: TarantoolServer;
  let client: IprotoClient;

  before(async () => {
    server = await TarantoolServer.start();
    client = clientFor(server, { reconnect: { minDelayMs: 50, maxDelayMs: 300 } });
    await client.connect();
  });

  after(async () => {
    await client?.close();
    await server?.destroy();
  });

  test("SIGKILL rejects in-flight calls promptly with IprotoConnectionError", async () => {
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      client.call("sleep_then_return", [10, i], { timeoutMs: 30_000 }).then(
        () => ({ ok: true as const, at: Date.now() }),
        (err: unknown) => ({ ok: false as const, err, at: Date.now() }),
      ),
    );
    await waitFor("calls to reach the server", () => client.inFlight === 20, 2000);
    await sleep(100);
    const killedAt = Date.now();
    await server.kill("SIGKILL");
    const outcomes = await Promise.all(inFlight);
    for (const o of outcomes) {
      assert.equal(o.ok, false);
      if (!o.ok) {
        assert.ok(o.err instanceof IprotoConnectionError, `got ${String(o.err)}`);
        assert.equal(o.err.sent, true);
      }
      assert.ok(o.at - killedAt < 1000, `rejected ${o.at - killedAt} ms after the kill`);
    }
    assert.equal(client.connected, false);
    assert.equal(client.inFlight, 0);
    // While down, calls fail at once rather than hang.
    const t0 = Date.now();
    await assert.rejects(client.call("echo", [1]), (err: unknown) => err instanceof IprotoConnectionError && !err.sent);
    assert.ok(Date.now() - t0 < 100);
  });

  test("after a restart on the same port the client reconnects by itself", async () => {
    assert.notEqual(client.state, "connected");
    await sleep(700); // several failed attempts while down: backoff must keep going
    await server.spawn();
    await waitForState(client, "connected", 5000);
    assert.deepEqual(await client.call("echo", ["back"]), ["back"]);
    assert.deepEqual(await client.call("whoami", []), [USER]);
  });

  test("close() rejects in-flight calls and stops reconnecting", async () => {
    const pending = client.call("sleep_then_return", [5, "never"]);
    await waitFor("call in flight", () => client.inFlight === 1, 2000);
    await client.close();
    await assert.rejects(pending, IprotoConnectionError);
    assert.equal(client.state, "closed");
    await assert.rejects(client.call("echo", [1]), IprotoConnectionError);
    await assert.rejects(client.connect(), IprotoConnectionError);
  });
});
