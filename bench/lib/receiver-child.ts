/**
 * The power-off endpoint for the benchmarks, in a process of its own so the
 * harness never delays a timestamp: it records, for every GET, the arrival
 * time (sub-millisecond wall clock), the user id and the event id, and
 * answers 200 at once. Lean on purpose: it stands for the platform's
 * endpoint, whose own cost is not what is measured.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { calibrate, wallMs } from "./clock.ts";

export type ReceiverRequest = { id: number; type: "reset" | "count" | "dump" };

let times: number[] = [];
let users: number[] = [];
let events: string[] = [];
let connections = 0;

const OK = Buffer.from("ok\n");
const server = createServer((req, res) => {
  const at = wallMs();
  const url = req.url ?? "";
  const start = url.indexOf("user_id=");
  times.push(at);
  users.push(start < 0 ? -1 : Number.parseInt(url.slice(start + 8), 10));
  const event = req.headers["x-billing-event-id"];
  events.push(typeof event === "string" ? event : "");
  res.writeHead(200, { "content-type": "text/plain", "content-length": OK.length });
  res.end(OK);
});
server.keepAliveTimeout = 120_000;
server.on("connection", () => {
  connections += 1;
});

process.on("message", (message: ReceiverRequest) => {
  switch (message.type) {
    case "reset":
      times = [];
      users = [];
      events = [];
      connections = 0;
      calibrate();
      process.send!({ id: message.id, ok: true });
      break;
    case "count":
      process.send!({ id: message.id, count: times.length });
      break;
    case "dump":
      process.send!({ id: message.id, times, users, events, connections });
      break;
  }
});
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => {
  process.send!({ id: 0, port: (server.address() as AddressInfo).port });
});
