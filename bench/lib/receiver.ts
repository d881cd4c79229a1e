/** The harness side of the benchmark receiver (receiver-child.ts): start, reset, wait for N GETs, read them out. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Deliveries {
  /** Arrival instants, ms since the epoch (fractional). */
  times: number[];
  users: number[];
  events: string[];
  /** TCP connections opened to the receiver since the last reset. */
  connections: number;
}

export class BenchReceiver {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Record<string, unknown>) => void>();

  private constructor(private readonly child: ChildProcess, readonly port: number) {
    child.on("message", (reply: Record<string, unknown>) => {
      const id = reply["id"] as number;
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      resolve?.(reply);
    });
  }

  static async start(): Promise<BenchReceiver> {
    const child = fork(fileURLToPath(new URL("./receiver-child.ts", import.meta.url)), [], { serialization: "advanced" });
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (reply: { port: number }) => resolve(reply.port));
      child.once("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
    });
    return new BenchReceiver(child, port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/poweroff`;
  }

  private request(type: "reset" | "count" | "dump"): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ id, type });
    });
  }

  async reset(): Promise<void> {
    await this.request("reset");
  }

  async count(): Promise<number> {
    return (await this.request("count"))["count"] as number;
  }

  /** Resolves with the count once at least `count` GETs arrived, or with what arrived when `timeoutMs` ran out. */
  async waitFor(count: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = await this.count();
      if (seen >= count || Date.now() > deadline) return seen;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async dump(): Promise<Deliveries> {
    const reply = await this.request("dump");
    return {
      times: reply["times"] as number[],
      users: reply["users"] as number[],
      events: reply["events"] as string[],
      connections: reply["connections"] as number,
    };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}
