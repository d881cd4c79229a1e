/**
 * Fault-injection and set-up points for tests and benchmarks, published only
 * when the node config says `test_hooks: true` (never in a real deployment).
 */
import * as decimal from "decimal";
import * as fiber from "fiber";
import { A, field, space } from "./db";
import { bucketOf } from "./buckets";
import { depletesAt } from "./money";
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

const POPULATE_MAX = 2_000_000;
/** Rows per transaction while populating: bounds the WAL write and the time the fiber holds the TX thread. */
const POPULATE_BATCH = 10_000;

/**
 * Creates `count` customers from `first_customer_id` on, one account (id 1)
 * each, active with the given balance and rate: the tuples createCustomer
 * followed by a deposit and a rate change leave, without their ledger rows.
 * Batched transactions with a yield between them; how a benchmark holds a
 * million accounts after seconds instead of minutes of API calls.
 */
export function populate(request: Record<string, unknown>): number {
  const first = request["first_customer_id"] as number;
  const count = request["count"] as number;
  if (count < 1 || count > POPULATE_MAX) error(`count must be from 1 to ${POPULATE_MAX}`);
  const balance = decimal.new(request["balance"] as string);
  const rate = decimal.new(request["rate_per_s"] as string);
  const customer_name = (request["customer_name"] ?? "customer") as string;
  const account_name = (request["account_name"] ?? "account") as string;
  const now_ms = nowMs();
  const deadline = depletesAt(balance, rate, now_ms);
  for (let start = 0; start < count; start += POPULATE_BATCH) {
    box.begin();
    for (let i = start; i < math.min(count, start + POPULATE_BATCH); i++) {
      const customer_id = first + i;
      const bucket_id = bucketOf(customer_id);
      space("customers").insert([customer_id, bucket_id, customer_name, now_ms, 1]);
      space("accounts").insert([customer_id, 1, bucket_id, account_name, balance, rate, now_ms, deadline ?? box.NULL, "active", 0, now_ms]);
    }
    box.commit();
    fiber.yield();
  }
  noteDeadline(deadline);
  return count;
}

/**
 * Gives each listed account its own zero instant ([customer_id, account_id,
 * depletes_at_ms] entries), rate 1/s, in one transaction: depletions spread
 * over time at a chosen rate, as many accounts with diverse rates would make them.
 */
export function scheduleDepletions(request: Record<string, unknown>): number {
  const schedule = request["schedule"] as [number, number, number][];
  if (schedule.length > SCHEDULE_MAX) error(`at most ${SCHEDULE_MAX} entries per call`);
  const now_ms = nowMs();
  let earliest = math.huge;
  box.begin();
  for (const [customer_id, account_id, at_ms] of schedule) {
    if (at_ms <= now_ms) error("depletes_at_ms must be in the future");
    space("accounts").update([customer_id, account_id], [
      ["=", field(A.balance), dDiv(decimal.new(at_ms - now_ms), 1000)],
      ["=", field(A.rate_per_s), decimal.new(1)],
      ["=", field(A.updated_at_ms), now_ms],
      ["=", field(A.depletes_at_ms), at_ms],
      ["=", field(A.status), "active"],
    ]);
    earliest = math.min(earliest, at_ms);
  }
  box.commit();
  noteDeadline(earliest);
  return schedule.length;
}

const MEASURED_SPACES = ["customers", "accounts", "ledger", "outbox", "idempotency"];

/** Where memory goes: slab arena and quota, box.info.memory(), and per space its tuple bytes and index bytes. */
export function memoryReport(): Record<string, unknown> {
  const spaces: Record<string, unknown> = {};
  for (const name of MEASURED_SPACES) {
    const target = (box.space as unknown as Record<string, MeasuredSpace>)[name]!;
    const indexes: Record<string, number> = {};
    for (const [key, index] of pairs(target.index)) {
      if (typeof key === "string") indexes[key] = index.bsize();
    }
    spaces[name] = { len: target.len(), bsize: target.bsize(), indexes };
  }
  const slab = (box as unknown as { slab: { info(this: void): unknown } }).slab.info();
  const memory = (box.info as unknown as { memory(this: void): unknown }).memory();
  return { slab, memory, spaces };
}

interface MeasuredSpace {
  index: LuaTable<string | number, { bsize(this: unknown): number }>;
  len(this: MeasuredSpace): number;
  bsize(this: MeasuredSpace): number;
}

/** A checkpoint now, as checkpoint_interval would make one: a restart then recovers from the snapshot. */
export function snapshot(): boolean {
  (box as unknown as { snapshot(this: void): void }).snapshot();
  return true;
}

/**
 * Profiling: `{enable: true}` turns fiber.top() on; every call returns the
 * per-fiber CPU share (when on), box.stat() and the notifier's counters.
 * `jit_start`/`jit_stop` run LuaJIT's sampling profiler (jit.p) into a file.
 */
export function profile(request: Record<string, unknown>, notifier: () => unknown): Record<string, unknown> {
  const fibers = fiber as unknown as { top_enable(this: void): void; top_disable(this: void): void; top(this: void): unknown };
  if (request["enable"] === true) fibers.top_enable();
  const [ok, top] = pcall(fibers.top);
  if (request["enable"] === false) fibers.top_disable();
  // LuaJIT's sampling profiler, into a file in the work dir: {jit_start: "fv", jit_file: "..."} then {jit_stop: true}.
  const load = (_G as unknown as { require(this: void, name: string): unknown }).require;
  const jitProfiler = load("jit.p") as { start(this: void, mode: string, file: string): void; stop(this: void): void };
  if (typeof request["jit_start"] === "string") jitProfiler.start(request["jit_start"], request["jit_file"] as string);
  if (request["jit_stop"] === true) jitProfiler.stop();
  return { fiber_top: ok ? top : undefined, box_stat: (box as unknown as { stat(this: void): unknown }).stat(), notifier: notifier() };
}
