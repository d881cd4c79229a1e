/**
 * The power-off notifier: a dispatcher fiber hands due outbox rows to a
 * bounded pool of sender fibers, which make the HTTP GET with Tarantool's
 * http.client. A 2xx deletes the row; anything else reschedules it with
 * exponential backoff and jitter. A row is never dropped.
 */
import * as fiber from "fiber";
import * as log from "log";
import * as httpClient from "http.client";
import * as crypto from "crypto";
import type { PoweroffConfig } from "./config";
import { O, field, space, type Tuple } from "./db";
import { nowMs } from "./time";

/** Upper bounds of the depletion-to-delivery latency histogram, in milliseconds. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 60000];
const IDLE_WAIT_S = 1;
const ERROR_PAUSE_S = 0.1;
/** Longest text of a failure kept on the outbox row. */
const LAST_ERROR_MAX = 200;

interface Stats {
  sent: number;
  failed: number;
  latency_counts: number[];
  latency_sum_ms: number;
  latency_max_ms: number;
}

const state = {
  config: undefined as PoweroffConfig | undefined,
  client: undefined as httpClient.HttpClient | undefined,
  queue: undefined as ReturnType<typeof fiber.channel> | undefined,
  wake: fiber.cond(),
  in_flight: new LuaTable<string, true>(),
  in_flight_count: 0,
  started: false,
  stats: { sent: 0, failed: 0, latency_counts: LATENCY_BUCKETS_MS.map(() => 0), latency_sum_ms: 0, latency_max_ms: 0 } as Stats,
};

export function wakeNotifier(): void {
  state.wake.signal();
}

function hex(binary: string): string {
  return string.gsub(binary, ".", (c: string) => string.format("%02x", string.byte(c)))[0];
}

/** Fills {user_id}, {account_id}, {event_id}; without {user_id}, appends user_id as a query parameter. */
export function targetUrl(template: string, row: Tuple): string {
  const values: Record<string, string> = {
    user_id: string.format("%d", row[O.customer_id] as number),
    account_id: string.format("%d", row[O.account_id] as number),
    event_id: row[O.event_id] as string,
  };
  const [url] = string.gsub(template, "{([%w_]+)}", (name: string) => values[name] ?? `{${name}}`);
  if (string.find(template, "{user_id}", 1, true)[0] !== undefined) return url;
  const separator = string.find(url, "?", 1, true)[0] === undefined ? "?" : "&";
  return `${url}${separator}user_id=${values["user_id"]!}`;
}

/**
 * Headers of one delivery. The signature covers the timestamp and every field
 * the receiver acts on: v1 = hex(HMAC-SHA256(secret, "t.event_id.kind.user_id.account_id.occurred_at_ms")).
 */
export function deliveryHeaders(row: Tuple, secret: string, timestamp_ms: number): Record<string, string> {
  const fields = [
    string.format("%d", timestamp_ms), row[O.event_id] as string, row[O.kind] as string,
    string.format("%d", row[O.customer_id] as number), string.format("%d", row[O.account_id] as number),
    string.format("%d", row[O.occurred_at_ms] as number),
  ];
  const headers: Record<string, string> = {
    "X-Billing-Event-Id": fields[1]!,
    "X-Billing-Event": fields[2]!,
    "X-Billing-User-Id": fields[3]!,
    "X-Billing-Account-Id": fields[4]!,
    "X-Billing-Occurred-At": fields[5]!,
    "X-Billing-Timestamp": fields[0]!,
    "X-Billing-Attempt": string.format("%d", (row[O.attempts] as number) + 1),
  };
  if (secret !== "") headers["X-Billing-Signature"] = `v1=${hex(crypto.hmac.sha256(secret, fields.join(".")))}`;
  return headers;
}

function backoffMs(attempts: number, config: PoweroffConfig): number {
  const exponential = config.backoff_min_ms * math.pow(2, math.min(attempts - 1, 30));
  const capped = math.min(config.backoff_max_ms, exponential);
  return math.floor(capped / 2 + math.random() * (capped / 2)) + 1;
}

function recordLatency(latency_ms: number): void {
  const stats = state.stats;
  stats.sent += 1;
  stats.latency_sum_ms += latency_ms;
  if (latency_ms > stats.latency_max_ms) stats.latency_max_ms = latency_ms;
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
    if (latency_ms <= LATENCY_BUCKETS_MS[i]!) {
      stats.latency_counts[i] = stats.latency_counts[i]! + 1;
      return;
    }
  }
}

function deliver(row: Tuple, config: PoweroffConfig): void {
  const template = row[O.kind] === "resumed" ? config.resumed_url : config.url;
  const now_ms = nowMs();
  const [ok, response] = pcall(() => state.client!.get(targetUrl(template, row), {
    timeout: config.request_timeout_ms / 1000,
    headers: deliveryHeaders(row, config.secret, now_ms),
  }));
  const status = ok ? (response as httpClient.HttpResponse).status : 0;
  if (box.info.ro) return; // lost the master role mid-flight: the new master owns the row now
  if (status >= 200 && status < 300) {
    space("outbox").delete(row[O.event_id]);
    if (row[O.kind] === "depleted" && (row[O.attempts] as number) === 0) recordLatency(nowMs() - (row[O.occurred_at_ms] as number));
    else state.stats.sent += 1;
    return;
  }
  state.stats.failed += 1;
  const attempts = (row[O.attempts] as number) + 1;
  const reason = ok ? `HTTP ${status}` : tostring(response);
  space("outbox").update(row[O.event_id], [
    ["=", field(O.attempts), attempts],
    ["=", field(O.next_attempt_at_ms), nowMs() + backoffMs(attempts, config)],
    ["=", field(O.last_error), string.sub(reason, 1, LAST_ERROR_MAX)],
  ]);
}

function senderLoop(): void {
  for (;;) {
    const row = state.queue!.get() as Tuple;
    const event_id = row[O.event_id] as string;
    const [ok, problem] = pcall(deliver, row, state.config!);
    if (!ok) log.error(`notifier: delivering ${event_id}: ${tostring(problem)}`);
    state.in_flight.delete(event_id);
    state.in_flight_count -= 1;
    state.wake.signal();
  }
}

/** Hands due rows to the senders; returns seconds to wait before looking again. */
function dispatch(): number {
  const config = state.config!;
  if (box.info.ro || config.url === "") return IDLE_WAIT_S;
  const capacity = config.pool_size * 2;
  const free = capacity - state.in_flight_count;
  if (free <= 0) return IDLE_WAIT_S;
  const now_ms = nowMs();
  // In-flight rows stay in the index until delivered, so look past them.
  const rows = space("outbox").index["due"]!.select([], { iterator: "GE", limit: free + state.in_flight_count });
  for (const row of rows) {
    const due_ms = row[O.next_attempt_at_ms] as number;
    if (due_ms > now_ms) return (due_ms - now_ms) / 1000;
    const event_id = row[O.event_id] as string;
    if (state.in_flight.get(event_id) === undefined && state.in_flight_count < capacity) {
      state.in_flight.set(event_id, true);
      state.in_flight_count += 1;
      state.queue!.put(row);
    }
  }
  return rows.length === 0 ? IDLE_WAIT_S : (state.in_flight_count >= capacity ? IDLE_WAIT_S : 0.001);
}

function dispatcherLoop(): void {
  for (;;) {
    fiber.testcancel();
    const [ok, wait_s] = pcall(dispatch);
    if (!ok) {
      log.error(`notifier: ${tostring(wait_s)}`);
      fiber.sleep(ERROR_PAUSE_S);
    } else if ((wait_s as number) > 0) {
      state.wake.wait(wait_s as number);
    }
  }
}

function named(worker: unknown, name: string): void {
  (worker as { name(this: unknown, n: string): void }).name(name);
}

export function startNotifier(config: PoweroffConfig): void {
  if (state.started) return;
  state.started = true;
  state.config = config;
  state.client = httpClient.new({ max_connections: config.pool_size, max_total_connections: config.pool_size });
  state.queue = fiber.channel(config.pool_size * 2);
  named(fiber.create(dispatcherLoop), "billing.dispatcher");
  for (let i = 1; i <= config.pool_size; i++) named(fiber.create(senderLoop), `billing.sender.${i}`);
}

export function notifierStats(): Stats & { outbox_depth: number; in_flight: number; latency_buckets_ms: number[] } {
  return {
    ...state.stats,
    outbox_depth: space("outbox").len(),
    in_flight: state.in_flight_count,
    latency_buckets_ms: LATENCY_BUCKETS_MS,
  };
}
