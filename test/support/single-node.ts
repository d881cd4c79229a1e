/**
 * A single storage node plus a real power-off receiver, on loopback ports
 * picked by the OS and a temp data folder: the fixture of the core tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IprotoClient } from "../../src/iproto/index.ts";
import { freePort } from "../../src/cluster/ports.ts";
import { StorageProcess, type StorageNodeConfig } from "../../src/cluster/storage-process.ts";
import { PoweroffReceiver } from "../../src/receiver/receiver.ts";

export const SERVICE = { name: "billing", password: "service-secret" };
export const ADMIN = { name: "billing_admin", password: "admin-secret" };
export const HMAC_SECRET = "hmac-test-secret";

export interface SingleNode {
  node: StorageProcess;
  receiver: PoweroffReceiver;
  client: IprotoClient;
  admin: IprotoClient;
  /** Calls a procedure and returns [result, error] as the storage returned them. */
  call(fn: string, request?: Record<string, unknown>): Promise<[any, any]>;
  restart(kill: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startSingleNode(overrides: Partial<StorageNodeConfig> = {}): Promise<SingleNode> {
  const dir = mkdtempSync(join(tmpdir(), "billing-node-"));
  const receiver = new PoweroffReceiver({ secret: HMAC_SECRET });
  await receiver.start();
  const port = await freePort();
  const config: StorageNodeConfig = {
    instance_name: "solo",
    listen: `127.0.0.1:${port}`,
    work_dir: dir,
    own_all_buckets: true,
    service_user: SERVICE,
    admin_user: ADMIN,
    poweroff: { url: receiver.url, secret: HMAC_SECRET, backoff_min_ms: 20, backoff_max_ms: 200, pool_size: 8 },
    ...overrides,
  };
  const node = new StorageProcess(config);
  await node.start();
  const connect = async (user: { name: string; password: string }): Promise<IprotoClient> => {
    const client = new IprotoClient({ host: "127.0.0.1", port, user: user.name, password: user.password, reconnect: { minDelayMs: 20, maxDelayMs: 200 } });
    await client.connect();
    return client;
  };
  const fixture: SingleNode = {
    node,
    receiver,
    client: await connect(SERVICE),
    admin: await connect(ADMIN),
    async call(fn, request = {}) {
      const reply = await fixture.client.call(fn, [request]);
      return [reply[0] ?? null, reply[1] ?? null];
    },
    async restart(kill) {
      if (kill) await node.kill();
      else await node.stop();
      await node.start();
      await waitConnected(fixture.client);
      await waitConnected(fixture.admin);
    },
    async close() {
      await Promise.allSettled([fixture.client.close(), fixture.admin.close()]);
      await node.stop();
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

async function waitConnected(client: IprotoClient): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.call("billing_noop", [], { timeoutMs: 500 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Sum of decimal strings, exactly, as scaled BigInts (scale up to 12 digits). */
export function sumDecimals(values: string[], scale = 12): string {
  const factor = 10n ** BigInt(scale);
  let total = 0n;
  for (const value of values) total += toScaled(value, scale);
  const sign = total < 0n ? "-" : "";
  const abs = total < 0n ? -total : total;
  const fraction = (abs % factor).toString().padStart(scale, "0").replace(/0+$/, "");
  return `${sign}${abs / factor}${fraction === "" ? "" : `.${fraction}`}`;
}

export function toScaled(value: string, scale = 12): bigint {
  const negative = value.startsWith("-");
  const [whole = "0", fraction = ""] = value.replace(/^-/, "").split(".");
  if (fraction.length > scale) throw new Error(`${value} has more than ${scale} fractional digits`);
  const scaled = BigInt(whole) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, "0") || "0");
  return negative ? -scaled : scaled;
}
