/**
 * Tarantool processes for the benchmarks, on loopback ports the OS picks and
 * temp folders: billing storage nodes (the real src/storage code, with the
 * test hooks on) and bench-only instances running bench/lua scripts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { IprotoClient } from "../../src/iproto/index.ts";
import { freePort } from "../../src/cluster/ports.ts";
import { StorageProcess, type StorageNodeConfig } from "../../src/cluster/storage-process.ts";

export const SERVICE = { name: "billing", password: "bench-service-secret" };
export const ADMIN = { name: "billing_admin", password: "bench-admin-secret" };
export const HMAC_SECRET = "bench-hmac-secret";

const LUA_DIR = fileURLToPath(new URL("../lua/", import.meta.url));
/** Every temp folder made here, removed by removeTempDirs() at the end of a run. */
const tempDirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `billing-bench-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function connectClient(port: number, user?: { name: string; password: string }, callTimeoutMs = 120_000): Promise<IprotoClient> {
  const client = new IprotoClient({
    host: "127.0.0.1", port, callTimeoutMs, reconnect: { minDelayMs: 10, maxDelayMs: 100 },
    ...(user === undefined ? {} : { user: user.name, password: user.password }),
  });
  await client.connect();
  return client;
}

export interface BillingNodeOptions {
  memtx_memory_mb: number;
  poweroff_url: string;
  pool_size?: number;
  dir?: string;
}

/** A billing storage node owning every bucket (one replica set of one master), with service and admin connections. */
export class BillingNode {
  private constructor(readonly process: StorageProcess, readonly service: IprotoClient, readonly admin: IprotoClient) {}

  static async start(options: BillingNodeOptions): Promise<BillingNode> {
    const port = await freePort();
    const poweroff: NonNullable<StorageNodeConfig["poweroff"]> = { url: options.poweroff_url, secret: HMAC_SECRET };
    if (options.pool_size !== undefined) poweroff.pool_size = options.pool_size;
    const config: StorageNodeConfig = {
      instance_name: "bench",
      listen: `127.0.0.1:${port}`,
      work_dir: options.dir ?? tempDir("node"),
      own_all_buckets: true,
      memtx_memory_mb: options.memtx_memory_mb,
      service_user: SERVICE,
      admin_user: ADMIN,
      poweroff,
      test_hooks: true,
    };
    const storage = new StorageProcess(config);
    await storage.start({ readyTimeoutMs: 120_000 });
    return new BillingNode(storage, await connectClient(port, SERVICE), await connectClient(port, ADMIN));
  }

  get port(): number {
    return this.process.port;
  }

  /** A service procedure; throws on a storage error value. */
  async call<T = unknown>(fn: string, request: Record<string, unknown> = {}): Promise<T> {
    return unwrap<T>(fn, await this.service.call(fn, [request]));
  }

  /** An admin or test-hook procedure; throws on a storage error value. */
  async adminCall<T = unknown>(fn: string, request: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<T> {
    return unwrap<T>(fn, await this.admin.call(fn, [request], { timeoutMs }));
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.service.close(), this.admin.close()]);
    await this.process.stop();
  }
}

function unwrap<T>(fn: string, reply: unknown[]): T {
  if (reply[1] !== undefined && reply[1] !== null) throw new Error(`${fn}: ${JSON.stringify(reply[1])}`);
  return reply[0] as T;
}

/** A bench-only Tarantool instance running bench/lua/<script>.lua; functions are called as the guest user. */
export class BenchInstance {
  private exited: Promise<void>;

  private constructor(private readonly child: ChildProcess, readonly client: IprotoClient, readonly dir: string) {
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  static spawn(script: string, dir: string, port: number, memtx_memory_mb: number): ChildProcess {
    mkdirSync(dir, { recursive: true });
    return spawn("tarantool", [join(LUA_DIR, `${script}.lua`)], {
      cwd: dir,
      env: { ...process.env, BENCH_LISTEN: `127.0.0.1:${port}`, BENCH_DIR: dir, BENCH_MEMTX_MB: String(memtx_memory_mb) },
      stdio: "ignore",
    });
  }

  static async start(script: string, options: { memtx_memory_mb?: number; dir?: string } = {}): Promise<BenchInstance> {
    const dir = options.dir ?? tempDir(script);
    const port = await freePort();
    const child = BenchInstance.spawn(script, dir, port, options.memtx_memory_mb ?? 256);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`bench instance ${script} exited with ${child.exitCode}; see ${dir}/tarantool.log`);
      const client = new IprotoClient({ host: "127.0.0.1", port, callTimeoutMs: 300_000, reconnect: false, connectTimeoutMs: 500 });
      try {
        await client.connect();
        await client.call("bench_ready", []);
        return new BenchInstance(child, client, dir);
      } catch (error) {
        await client.close().catch(() => {});
        if (Date.now() > deadline) throw error;
        await sleep(20);
      }
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async call<T = unknown>(fn: string, ...args: unknown[]): Promise<T> {
    const reply = await this.client.call(fn, args);
    return reply[0] as T;
  }

  async stop(): Promise<void> {
    await this.client.close().catch(() => {});
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux);
 * with `thread`, only that thread's (a Tarantool's main thread, whose id is
 * the pid, is its TX thread: all Lua, the event loop, http.client). NaN when unknown.
 */
export function cpuSeconds(pid: number | undefined, thread?: number): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
