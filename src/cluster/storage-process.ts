/**
 * Runs one Tarantool storage node as a child process: writes its config,
 * starts `tarantool src/storage/instance.lua`, waits until it serves, and
 * stops it (SIGTERM, then SIGKILL after a bound) or kills it outright.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stopChild } from "./child-process.ts";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const BOOTSTRAP = join(REPO_ROOT, "src/storage/instance.lua");

/** A node's power-off settings; fields left out take the storage's defaults (src/storage/config.ts). */
export interface PoweroffSettings {
  url?: string;
  resumed_url?: string;
  secret?: string;
  pool_size?: number;
  request_timeout_ms?: number;
  backoff_min_ms?: number;
  backoff_max_ms?: number;
}

/** The node config as storage/config.ts validates it (snake_case, like the Lua side). */
export interface StorageNodeConfig {
  instance_name: string;
  replicaset_name?: string;
  listen: string;
  work_dir: string;
  read_only?: boolean;
  replication?: string[];
  memtx_memory_mb?: number;
  bucket_count?: number;
  own_all_buckets?: boolean;
  sync_replication?: boolean;
  sync_quorum?: number;
  sync_timeout_s?: number;
  service_user: { name: string; password: string };
  admin_user: { name: string; password: string };
  poweroff?: PoweroffSettings;
  depletion_batch_max?: number;
  idempotency_ttl_ms?: number;
  test_hooks?: boolean;
}

export interface StartOptions {
  /** Extra environment, e.g. BILLING_POWEROFF_URL. */
  env?: Record<string, string>;
  /** How long to wait for the node to accept connections. */
  readyTimeoutMs?: number;
  /** Where the child's stdout/stderr go; default: a file in work_dir. */
  stdio?: "inherit" | "file";
}

export class StorageProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly config: StorageNodeConfig) {}

  get host(): string {
    return this.config.listen.split(":")[0] ?? "127.0.0.1";
  }

  get port(): number {
    return Number(this.config.listen.split(":")[1]);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The node's process id while it runs (fault injection in tests: SIGSTOP/SIGCONT). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get logPath(): string {
    return join(this.config.work_dir, "tarantool.log");
  }

  /** The node's own log (tarantool.log), for diagnostics in failing tests. */
  readLog(fromByte = 0): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath).subarray(fromByte).toString("utf8") : "";
  }

  private logSize(): number {
    return existsSync(this.logPath) ? statSync(this.logPath).size : 0;
  }

  async start(options: StartOptions = {}): Promise<void> {
    if (this.running) throw new Error(`${this.config.instance_name} is already running`);
    mkdirSync(this.config.work_dir, { recursive: true });
    const configPath = join(this.config.work_dir, "node.json");
    writeFileSync(configPath, JSON.stringify(this.config, null, 2), { mode: 0o600 });
    const stdoutPath = join(this.config.work_dir, "stdout.log");
    const logOffset = this.logSize();
    const child = spawn("tarantool", [BOOTSTRAP], {
      cwd: this.config.work_dir,
      env: { ...process.env, BILLING_POWEROFF_URL: "", ...options.env, BILLING_NODE_CONFIG: configPath },
      stdio: options.stdio === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"],
    });
    if (options.stdio !== "inherit") {
      const chunks: Buffer[] = [];
      child.stdout?.on("data", (c: Buffer) => chunks.push(c));
      child.stderr?.on("data", (c: Buffer) => chunks.push(c));
      child.on("exit", () => writeFileSync(stdoutPath, Buffer.concat(chunks)));
    }
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once("exit", (code) => resolveExit(code)));
    await this.waitReady(options.readyTimeoutMs ?? 30_000, logOffset);
  }

  private async waitReady(timeoutMs: number, logOffset: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        await this.exited;
        const output = existsSync(join(this.config.work_dir, "stdout.log"))
          ? readFileSync(join(this.config.work_dir, "stdout.log"), "utf8") : "";
        // stdout only says "fatal error"; the reason (e.g. a refused config) is in the node's log.
        const detail = [output.trim(), this.readLog(logOffset).slice(-2000).trim()].filter((part) => part !== "").join("\n");
        throw new Error(`${this.config.instance_name} exited during start: ${detail}`);
      }
      if (this.readLog(logOffset).includes(`billing node ${this.config.instance_name} `) && (await canConnect(this.host, this.port))) return;
      await sleep(50);
    }
    throw new Error(`${this.config.instance_name} did not become ready within ${timeoutMs} ms`);
  }

  /** Graceful stop: SIGTERM, then SIGKILL if it has not exited within the bound. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await stopChild(this.child, timeoutMs);
  }

  /** SIGKILL: the crash case. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGKILL");
    await this.exited;
  }

  async waitExit(): Promise<number | null> {
    return await this.exited;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolveConnect(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
