/** What every scenario is given by the runner. */
import type { Plan } from "./plan.ts";
import type { BenchReceiver, Deliveries } from "./receiver.ts";
import type { BenchInstance } from "./tarantool.ts";
import { summarize, type Summary } from "./stats.ts";

export interface Context {
  plan: Plan;
  receiver: BenchReceiver;
  /** bench/lua/floor.lua: the baselines of scenarios 1, 2 and 7. */
  floor: BenchInstance;
  /** The notifier's pool_size (the storage config default); the baselines use as many sender fibers. */
  pool_size: number;
  /** Collect fiber.top() and box.stat() from the billing node (costs a little on every fiber switch). */
  profile: boolean;
  log(message: string): void;
}

/** Latencies of deliveries against each user's zero instant, with the checks "each notified once, no stranger notified". */
export interface Delivered {
  latencies_ms: number[];
  summary: Summary;
  deliveries: number;
  unique_users: number;
  unique_events: number;
  /** Users notified that were not expected (must be 0). */
  unexpected: number;
  /** Expected users never notified (must be 0). */
  missing: number;
  first_ms: number;
  last_ms: number;
  connections: number;
}

export function analyze(deliveries: Deliveries, zeroOf: Map<number, number>): Delivered {
  const latencies: number[] = [];
  const users = new Set<number>();
  let unexpected = 0;
  let first = Infinity;
  let last = -Infinity;
  deliveries.users.forEach((user, i) => {
    const zero = zeroOf.get(user);
    const at = deliveries.times[i]!;
    if (zero === undefined) {
      unexpected += 1;
      return;
    }
    users.add(user);
    latencies.push(at - zero);
    first = Math.min(first, at);
    last = Math.max(last, at);
  });
  let missing = 0;
  for (const user of zeroOf.keys()) if (!users.has(user)) missing += 1;
  return {
    latencies_ms: latencies,
    summary: summarize(latencies),
    deliveries: deliveries.users.length,
    unique_users: users.size,
    unique_events: new Set(deliveries.events).size,
    unexpected,
    missing,
    first_ms: first,
    last_ms: last,
    connections: deliveries.connections,
  };
}

/** The checks of "every one delivered once", as a line for the notes. */
export function deliveryCheck(name: string, delivered: Delivered, expected: number): string {
  const once = delivered.deliveries === expected && delivered.unique_users === expected && delivered.unique_events === expected;
  return `${name}: ${delivered.deliveries} GETs for ${expected} accounts, ${delivered.unique_users} distinct users, `
    + `${delivered.unique_events} distinct event ids, ${delivered.missing} missing, ${delivered.unexpected} unexpected: `
    + (once ? "each delivered exactly once" : "NOT exactly once");
}
