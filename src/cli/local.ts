/**
 * `billing start`: the whole local cluster in the foreground — storage nodes
 * from the topology, the HTTP gateway, and (unless BILLING_POWEROFF_URL points
 * elsewhere) a demo power-off receiver that logs every GET. Ctrl-C or SIGTERM
 * stops everything cleanly; data stays in the topology's data_dir.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Cluster } from "../cluster/cluster.ts";
import { instancesOf, routerOptionsOf, type Topology } from "../cluster/topology.ts";
import { PoweroffReceiver } from "../receiver/receiver.ts";
import { Router } from "../router/index.ts";
import { routerBackend } from "../gateway/backend.ts";
import { startGateway, type RunningGateway } from "../gateway/server.ts";

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

function claimPidFile(path: string): void {
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, "utf8"));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (alive) throw new Error(`a cluster is already running (pid ${pid}); stop it with: npm run billing -- stop`);
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, String(process.pid));
}

/** The demo receiver, when the power-off URL is the topology's own loopback one. */
async function startDemoReceiver(topology: Topology): Promise<PoweroffReceiver | undefined> {
  if (process.env["BILLING_POWEROFF_URL"] || !topology.poweroff.url) return undefined;
  const url = new URL(topology.poweroff.url);
  if (!LOOPBACK.test(url.hostname)) return undefined;
  const secret = topology.poweroff.secret;
  const receiver = new PoweroffReceiver({
    host: url.hostname,
    port: Number(url.port || 80),
    ...(secret ? { secret } : {}),
    keepMax: 10_000,
    onDelivery: (d) => {
      const signature = d.signature_valid === undefined ? "unsigned" : d.signature_valid ? "signature ok" : "SIGNATURE INVALID";
      console.log(`[receiver] GET ${d.path}  event=${d.event_id} ${d.kind} account=${d.account_id} ${signature}`);
    },
  });
  await receiver.start();
  return receiver;
}

export async function startLocal(topology: Topology, pidFile: string): Promise<void> {
  claimPidFile(pidFile);
  const poweroffUrl = process.env["BILLING_POWEROFF_URL"];
  const cluster = new Cluster(topology, poweroffUrl ? { env: { BILLING_POWEROFF_URL: poweroffUrl } } : {});
  let receiver: PoweroffReceiver | undefined;
  let gateway: RunningGateway | undefined;
  const stopAll = async (): Promise<void> => {
    await gateway?.close().catch((e: unknown) => console.error(`gateway: ${String(e)}`));
    await cluster.stop();
    await receiver?.stop();
    rmSync(pidFile, { force: true });
  };
  try {
    receiver = await startDemoReceiver(topology);
    await cluster.start();
    const router = new Router(routerOptionsOf(topology));
    const adminRouter = new Router({ ...routerOptionsOf(topology), credentials: topology.users.admin });
    gateway = await startGateway({
      backend: routerBackend({ router, adminRouter }),
      host: topology.gateway.host,
      port: topology.gateway.port,
      tokens: process.env["BILLING_API_TOKEN"] ?? "",
      logger: { level: process.env["BILLING_LOG_LEVEL"] ?? "warn" },
    });
    await router.connect(10_000);
  } catch (error) {
    await stopAll();
    throw error;
  }
  printSummary(topology, gateway.url, receiver, poweroffUrl ?? topology.poweroff.url ?? "(none: notifications wait in the outbox)");
  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const onSignal = (): void => {
      if (stopping) process.exit(1);
      stopping = true;
      console.log("\nstopping…");
      stopAll().then(() => resolveStop(), (e: unknown) => {
        console.error(String(e));
        resolveStop();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  console.log("stopped");
}

function printSummary(topology: Topology, gatewayUrl: string, receiver: PoweroffReceiver | undefined, poweroffUrl: string): void {
  const lines = [
    "",
    "billing cluster is up",
    `  gateway     ${gatewayUrl}   (docs: ${gatewayUrl}/docs, metrics: ${gatewayUrl}/metrics, health: ${gatewayUrl}/health)`,
    ...instancesOf(topology).map((i) => `  storage     ${i.host}:${i.port}  ${i.replicaset} ${i.name} (${i.role} at bootstrap)`),
    `  power-off   ${poweroffUrl}${receiver ? "   (demo receiver in this process: it logs every GET below)" : ""}`,
    `  data        ${topology.data_dir}`,
    "",
    "try:",
    `  curl -X POST ${gatewayUrl}/storage/customers/create -d '{"customer_id":18,"name":"Victor","accounts":[{"account_id":22,"name":"Victor"}]}'`,
    `  curl -X POST ${gatewayUrl}/storage/customers/18/update_balance -d '{"amount":"18","account_id":22}'`,
    `  curl -X POST ${gatewayUrl}/storage/customers/18/update_consumption -d '{"consumption":"18","account_id":22}'`,
    "",
    "Ctrl-C stops everything.",
  ];
  console.log(lines.join("\n"));
}
