/**
 * The demo power-off receiver as its own process, for the soak (so its memory
 * is measured apart). Prints "listening <url>" once bound; answers "stats"
 * messages over IPC with what it received: deliveries, distinct event ids,
 * invalid signatures, and the delay from the zero instant to arrival.
 * Usage: node --import tsx chaos/lib/receiver-child.ts <secret>
 */
import { PoweroffReceiver } from "../../src/receiver/receiver.ts";

const secret = process.argv[2] ?? "";
const events = new Set<string>();
const delays: number[] = [];
let deliveries = 0;
let invalid = 0;
const receiver = new PoweroffReceiver({
  secret,
  keepMax: 1,
  onDelivery: (delivery) => {
    deliveries += 1;
    if (delivery.event_id !== undefined) events.add(delivery.event_id);
    if (delivery.signature_valid !== true) invalid += 1;
    if (delivery.occurred_at_ms !== undefined && delays.length < 5_000_000) delays.push(delivery.received_at_ms - delivery.occurred_at_ms);
  },
});

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

process.on("message", (message) => {
  if (message === "events") {
    process.send!({ events: [...events] });
    return;
  }
  if (message !== "stats") return;
  const sorted = [...delays].sort((a, b) => a - b);
  process.send!({
    deliveries, distinct_events: events.size, duplicates: deliveries - events.size, invalid_signatures: invalid,
    delay_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 },
  });
});
process.on("disconnect", () => {
  void receiver.stop().then(() => process.exit(0));
});
process.on("SIGTERM", () => {
  void receiver.stop().then(() => process.exit(0));
});

await receiver.start();
process.stdout.write(`listening ${receiver.url}\n`);
