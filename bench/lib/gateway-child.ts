/**
 * The gateway for scenario 4, in a process of its own (as it runs in
 * production): the real app from buildApp() over the real Router, plus one
 * bare route registered here, POST /bench/noop/:customer_id, that makes a
 * no-op stored-procedure call through the same backend: no schema, no
 * validation, no business work. It is the limit the real routes are held to.
 */
import type { AddressInfo } from "node:net";
import { buildApp, routerBackend } from "../../src/gateway/index.ts";
import { Router } from "../../src/router/index.ts";
import { SERVICE } from "./tarantool.ts";

const port = Number(process.env["BENCH_STORAGE_PORT"]);
const router = new Router({
  replicasets: { rs1: { instances: [{ name: "bench", host: "127.0.0.1", port }] } },
  credentials: SERVICE, bucket_count: 3000, settings: { callTimeoutMs: 10_000 },
});
await router.connect();
const backend = routerBackend({ router });
const app = await buildApp({ backend });
app.post<{ Params: { customer_id: string } }>("/bench/noop/:customer_id", async (request) => {
  await backend.call(Number(request.params.customer_id), "billing_noop", {}, { write: true });
  return { ok: true };
});
await app.listen({ host: "127.0.0.1", port: 0 });
process.send!({ port: (app.server.address() as AddressInfo).port });

const stop = async (): Promise<void> => {
  await app.close();
  await backend.close();
  process.exit(0);
};
process.on("disconnect", () => void stop());
process.on("SIGTERM", () => void stop());
