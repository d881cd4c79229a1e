#!/usr/bin/env node
/**
 * `billing`: the operator's command (usage in HELP below). One topology file
 * describes the cluster; every command reads it.
 */
import { parseArgs } from "node:util";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { Cluster } from "../cluster/cluster.ts";
import { DEFAULT_TOPOLOGY_PATH, loadTopology, routerOptionsOf, type Topology } from "../cluster/topology.ts";
import { Router, isRouterError } from "../router/index.ts";
import { startLocal } from "./local.ts";

export class UsageError extends Error {}

const HELP = `billing: the operator's command for the billing cluster

usage: billing <command> [arguments] [--topology FILE]

  billing start                                 start the local cluster, gateway and demo receiver (foreground)
  billing stop                                  stop the running local cluster
  billing status                                every instance: role, read-only or writable, buckets
  billing promote RS INSTANCE                   failover: make INSTANCE the master of replica set RS
  billing customer create ID NAME [ACCOUNT_ID...]
  billing deposit ID ACCOUNT AMOUNT [--key K]   add money (K: idempotency key)
  billing rate ID ACCOUNT RATE_PER_S            money per second; 0 stops consumption
  billing balance ID [ACCOUNT]                  live balance, rate, depletes_at_ms
  billing ledger ID ACCOUNT [--after SEQ] [--limit N]
  billing pending [--limit N]                   power-off notifications not yet delivered

The topology is --topology FILE, else BILLING_TOPOLOGY, else config/topology.default.yaml.
Exit codes: 0 done, 1 the operation failed (the reason is printed), 2 bad usage.`;

function topologyFrom(path: string | undefined): Topology {
  return loadTopology(resolve(path ?? process.env["BILLING_TOPOLOGY"] ?? DEFAULT_TOPOLOGY_PATH));
}

function pidFile(topology: Topology): string {
  return join(resolve(topology.data_dir), "billing.pid");
}

function id(text: string | undefined, what: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${what} must be a positive whole number`);
  }
  return Number(text);
}

async function withRouter<T>(topology: Topology, work: (router: Router) => Promise<T>): Promise<T> {
  const router = new Router(routerOptionsOf(topology));
  try {
    return await work(router);
  } finally {
    await router.close();
  }
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

async function stop(topology: Topology): Promise<void> {
  const path = pidFile(topology);
  if (!existsSync(path)) throw new Error(`no running cluster recorded in ${path}`);
  const pid = Number(readFileSync(path, "utf8"));
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    rmSync(path, { force: true });
    throw new Error(`process ${pid} is not running (stale ${path} removed)`);
  }
  for (let i = 0; i < 300 && existsSync(path); i++) await new Promise((r) => setTimeout(r, 100));
  if (existsSync(path)) throw new Error(`process ${pid} did not stop within 30 s`);
  console.log("stopped");
}

async function status(topology: Topology): Promise<void> {
  const cluster = new Cluster(topology);
  try {
    const report = await cluster.status();
    for (const instance of report.instances) {
      const state = instance.reachable ? (instance.read_only ? "read-only" : "writable") : "unreachable";
      console.log(`${instance.replicaset}  ${instance.name.padEnd(10)} ${instance.listen.padEnd(16)} ${instance.role.padEnd(8)} ${state.padEnd(12)} buckets=${instance.buckets_owned ?? "-"}`);
    }
    if (report.instances.some((instance) => !instance.reachable)) process.exitCode = 1;
  } finally {
    await cluster.disconnect();
  }
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      topology: { type: "string" },
      key: { type: "string" },
      after: { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined || command === "help") {
    console.log(HELP);
    return;
  }
  const topology = topologyFrom(values.topology);
  const call = (customer: string | undefined, procedure: string, request: Record<string, unknown>, write: boolean) =>
    withRouter(topology, (router) => router.call(id(customer, "customer id"), procedure, request, { write }));
  switch (command) {
    case "start":
      return await startLocal(topology, pidFile(topology));
    case "stop":
      return await stop(topology);
    case "status":
      return await status(topology);
    case "promote": {
      const [replicaset, instance] = rest;
      if (replicaset === undefined || instance === undefined) throw new UsageError("promote needs REPLICASET INSTANCE");
      const cluster = new Cluster(topology);
      try {
        await cluster.promote(replicaset, instance);
      } finally {
        await cluster.disconnect();
      }
      return console.log(`${instance} is now the master of ${replicaset}`);
    }
    case "customer": {
      const [verb, customer, name, ...accounts] = rest;
      if (verb !== "create" || name === undefined) throw new UsageError("customer create ID NAME [ACCOUNT_ID...]");
      const request = { customer_id: id(customer, "customer id"), name, accounts: accounts.map((a) => ({ account_id: id(a, "account id"), name })) };
      return print(await call(customer, "billing_create_customer", request, true));
    }
    case "deposit": {
      const [customer, account, amount] = rest;
      if (amount === undefined) throw new UsageError("deposit ID ACCOUNT AMOUNT [--key K]");
      const request: Record<string, unknown> = { customer_id: id(customer, "customer id"), account_id: id(account, "account id"), amount };
      if (values.key !== undefined) request["idempotency_key"] = values.key;
      return print(await call(customer, "billing_deposit", request, true));
    }
    case "rate": {
      const [customer, account, rate] = rest;
      if (rate === undefined) throw new UsageError("rate ID ACCOUNT RATE_PER_S");
      return print(await call(customer, "billing_set_rate", { customer_id: id(customer, "customer id"), account_id: id(account, "account id"), rate_per_s: rate }, true));
    }
    case "balance": {
      const [customer, account] = rest;
      if (account === undefined) return print(await call(customer, "billing_get_customer", { customer_id: id(customer, "customer id") }, false));
      return print(await call(customer, "billing_get_account", { customer_id: id(customer, "customer id"), account_id: id(account, "account id") }, false));
    }
    case "ledger": {
      const [customer, account] = rest;
      const request: Record<string, unknown> = { customer_id: id(customer, "customer id"), account_id: id(account, "account id") };
      if (values.after !== undefined) request["after_seq"] = Number(values.after);
      if (values.limit !== undefined) request["limit"] = Number(values.limit);
      return print(await call(customer, "billing_ledger", request, false));
    }
    case "pending": {
      const request = values.limit === undefined ? {} : { limit: Number(values.limit) };
      return print(await withRouter(topology, (router) => router.callAll("billing_pending_notifications", request)));
    }
    default:
      throw new UsageError(`unknown command ${command}; see billing --help`);
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  if (isRouterError(error)) {
    console.error(`billing: ${error.value.name}: ${error.value.message}${error.value.details ? ` ${JSON.stringify(error.value.details)}` : ""}`);
    process.exitCode = 1;
  } else if (error instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) {
    console.error(`billing: ${(error as Error).message}`);
    process.exitCode = 2;
  } else {
    console.error(`billing: ${(error as Error).message ?? String(error)}`);
    process.exitCode = 1;
  }
});

