/**
 * Fault-injection and set-up points for tests and benchmarks, published only
 * when the node config says `test_hooks: true` (never in a real deployment).
 */
import * as decimal from "decimal";
import { A, field, space } from "./db";
import { noteDeadline } from "./scheduler";
import { nowMs } from "./time";

const SCHEDULE_MAX = 100000;

/**
 * Gives each listed account a balance and rate 1/s so that its money runs out
 * exactly at `depletes_at_ms`, in one transaction: how a benchmark makes many
 * accounts fall due at the same instant, which the public API cannot.
 */
export function scheduleDepletion(request: Record<string, unknown>): number {
  const keys = request["accounts"] as [number, number][];
  const at_ms = request["depletes_at_ms"] as number;
  if (keys.length > SCHEDULE_MAX) error(`at most ${SCHEDULE_MAX} accounts per call`);
  const now_ms = nowMs();
  if (at_ms <= now_ms) error("depletes_at_ms must be in the future");
  const balance = dDiv(decimal.new(at_ms - now_ms), 1000);
  box.begin();
  for (const key of keys) {
    space("accounts").update(key, [
      ["=", field(A.balance), balance],
      ["=", field(A.rate_per_s), decimal.new(1)],
      ["=", field(A.updated_at_ms), now_ms],
      ["=", field(A.depletes_at_ms), at_ms],
      ["=", field(A.status), "active"],
    ]);
  }
  box.commit();
  noteDeadline(at_ms);
  return keys.length;
}
