/**
 * The power-off notifier: a dispatcher fiber hands due outbox rows to a
 * bounded pool of sender fibers, which make the HTTP GET with Tarantool's
 * http.client over kept-alive connections. A 2xx deletes the row (delivered
 * rows are deleted in batches under load, one WAL write for many); anything
 * else reschedules it with exponential backoff and jitter.
 * A row is never dropped.
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
/** Most delivered rows deleted in one transaction. */
const ACK_BATCH_MAX = 1000;
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
  /** Rows handed to a sender and not yet deleted or rescheduled: the dispatcher skips them. */
  in_flight: new LuaTable<string, true>(),
  in_flight_count: 0,
  /**
   * Where the dispatcher's walk over the `due` index stands: rows before it
   * are in flight already, so a storm is read once, not once per free slot.
   * Undefined: start from the beginning (new rows may sort before the cursor).
   */
  cursor: undefined as [number, string] | undefined,
  /** Event ids delivered (2xx) whose rows are yet to be deleted, and whether a sender is deleting a batch now. */
  acks: [] as string[],
  acking: false,
  started: false,
  stats: { sent: 0, failed: 0, latency_counts: LATENCY_BUCKETS_MS.map(() => 0), latency_sum_ms: 0, latency_max_ms: 0 } as Stats,
};

/** New rows were queued (or the role changed): walk the due index from its start again. */
export function wakeNotifier(): void {
  state.cursor = undefined;
  state.wake.signal();
}

const hmac = crypto.hmac as unknown as { sha256_hex(this: void, key: string, message: string): string };

/** Fills {user_id}, {account_id}, {event_id}; without {user_id}, appends user_id as a query parameter. */
export function targetUrl(template: string, row: Tuple): string {
  const user_id = string.format("%d", row[O.customer_id] as number);
  // The common case, a URL without placeholders, skips the pattern matching.
  if (string.find(template, "{", 1, true)[0] === undefined) {
    return `${template}${string.find(template, "?", 1, true)[0] === undefined ? "?" : "&"}user_id=${user_id}`;
  }
  const values: Record<string, string> = {
    user_id,
    account_id: string.format("%d", row[O.account_id] as number),
    event_id: row[O.event_id] as string,
  };
  const [url] = string.gsub(template, "{([%w_]+)}", (name: string) => values[name] ?? `{${name}}`);
  if (string.find(template, "{user_id}", 1, true)[0] !== undefined) return url;
  const separator = string.find(url, "?", 1, true)[0] === undefined ? "?" : "&";
  return `${url}${separator}user_id=${user_id}`;
}

/**
 * Headers of one delivery. The signature covers the timestamp and every field
 * the receiver acts on: v1 = hex(HMAC-SHA256(secret, "t.event_id.kind.user_id.account_id.occurred_at_ms")).
 */
export function deliveryHeaders(row: Tuple, secret: string, timestamp_ms: number): Record<string, string> {
  const timestamp = string.format("%d", timestamp_ms);
  const event_id = row[O.event_id] as string;
  const kind = row[O.kind] as string;
  const user_id = string.format("%d", row[O.customer_id] as number);
  const account_id = string.format("%d", row[O.account_id] as number);
  const occurred_at = string.format("%d", row[O.occurred_at_ms] as number);
  const headers: Record<string, string> = {
    // http.client sends "Connection: close" unless told otherwise, which
    // costs a TCP connection per GET (a storm ran 3x slower): keep-alive
    // reuses the pool's connections.
    Connection: "Keep-Alive",
    "X-Billing-Event-Id": event_id,
    "X-Billing-Event": kind,
    "X-Billing-User-Id": user_id,
    "X-Billing-Account-Id": account_id,
    "X-Billing-Occurred-At": occurred_at,
    "X-Billing-Timestamp": timestamp,
    "X-Billing-Attempt": string.format("%d", (row[O.attempts] as number) + 1),
  };
  if (secret !== "") {
    const signed = `${timestamp}.${event_id}.${kind}.${user_id}.${account_id}.${occurred_at}`;
    headers["X-Billing-Signature"] = `v1=${hmac.sha256_hex(secret, signed)}`;
  }
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

/** Makes one GET; true on a 2xx (the row is then acknowledged), false when the row was rescheduled or this node lost the master role. */
function deliver(row: Tuple, config: PoweroffConfig): boolean {
  const template = row[O.kind] === "resumed" ? config.resumed_url : config.url;
  const now_ms = nowMs();
  const [ok, response] = pcall(() => state.client!.get(targetUrl(template, row), {
    timeout: config.request_timeout_ms / 1000,
    headers: deliveryHeaders(row, config.secret, now_ms),
  }));
  const status = ok ? (response as httpClient.HttpResponse).status : 0;
  if (box.info.ro) return false; // lost the master role mid-flight: the new master owns the row now
  if (status >= 200 && status < 300) {
    if (row[O.kind] === "depleted" && (row[O.attempts] as number) === 0) recordLatency(nowMs() - (row[O.occurred_at_ms] as number));
    else state.stats.sent += 1;
    return true;
  }
  state.stats.failed += 1;
  const attempts = (row[O.attempts] as number) + 1;
  const reason = ok ? `HTTP ${status}` : tostring(response);
  space("outbox").update(row[O.event_id], [
    ["=", field(O.attempts), attempts],
    ["=", field(O.next_attempt_at_ms), nowMs() + backoffMs(attempts, config)],
    ["=", field(O.last_error), string.sub(reason, 1, LAST_ERROR_MAX)],
  ]);
  return false;
}

function release(event_id: string): void {
  state.in_flight.delete(event_id);
  state.in_flight_count -= 1;
}

function senderLoop(): void {
  for (;;) {
    const row = state.queue!.get() as Tuple;
    const event_id = row[O.event_id] as string;
    const [ok, delivered] = pcall(deliver, row, state.config!);
    if (!ok) log.error(`notifier: delivering ${event_id}: ${tostring(delivered)}`);
    if (ok && delivered === true) {
      acknowledge(event_id);
    } else {
      release(event_id);
      state.wake.signal();
    }
  }
}

/**
 * Deletes a delivered row, group-commit style: the first sender to arrive
 * deletes its row at once (so it leaves the outbox as soon as its GET is
 * answered), and rows delivered while that transaction waits for the WAL are
 * deleted together in the next one: one WAL write for many GETs under load
 * instead of one each. A row stays in flight until its delete commits, so it
 * is never handed out twice; a failed delete only releases it, to be sent
 * again (at least once; the receiver de-duplicates on the event id).
 */
function acknowledge(event_id: string): void {
  state.acks.push(event_id);
  if (state.acking) return; // the sender committing now takes it into its next batch
  state.acking = true;
  while (state.acks.length > 0) {
    const batch = state.acks.length <= ACK_BATCH_MAX ? state.acks : state.acks.slice(0, ACK_BATCH_MAX);
    state.acks = state.acks.length <= ACK_BATCH_MAX ? [] : state.acks.slice(ACK_BATCH_MAX);
    if (!box.info.ro) {
      const [ok, problem] = pcall(deleteRows, batch);
      if (!ok) {
        if (box.is_in_txn()) box.rollback();
        log.error(`notifier: deleting ${batch.length} delivered rows: ${tostring(problem)}`);
      }
    }
    for (const id of batch) release(id);
    state.wake.signal();
  }
  state.acking = false;
}

function deleteRows(event_ids: string[]): void {
  box.begin();
  for (const event_id of event_ids) space("outbox").delete(event_id);
  box.commit();
}

/**
 * Hands due rows to the senders, walking the `due` index from the cursor;
 * returns seconds to wait before looking again (0: at once).
 */
function dispatch(): number {
  const config = state.config!;
  if (box.info.ro || config.url === "") return IDLE_WAIT_S;
  const capacity = config.pool_size * 2;
  const free = capacity - state.in_flight_count;
  if (free <= 0) return IDLE_WAIT_S; // a sender signals when a slot frees
  const now_ms = nowMs();
  const cursor = state.cursor;
  const rows = space("outbox").index["due"]!.select(cursor ?? [], { iterator: cursor === undefined ? "GE" : "GT", limit: free });
  for (const row of rows) {
    const due_ms = row[O.next_attempt_at_ms] as number;
    if (due_ms > now_ms) {
      state.cursor = undefined;
      return (due_ms - now_ms) / 1000;
    }
    const event_id = row[O.event_id] as string;
    state.cursor = [due_ms, event_id];
    if (state.in_flight.get(event_id) === undefined) {
      state.in_flight.set(event_id, true);
      state.in_flight_count += 1;
      state.queue!.put(row);
    }
  }
  if (rows.length < free) {
    // The end of the index: every due row is in flight. Start over next time.
    state.cursor = undefined;
    return IDLE_WAIT_S;
  }
  return 0;
}

function dispatcherLoop(): void {
  for (;;) {
    fiber.testcancel();
    const [ok, wait_s] = pcall(dispatch);
    if (!ok) {
      state.cursor = undefined;
      log.error(`notifier: ${tostring(wait_s)}`);
      fiber.sleep(ERROR_PAUSE_S);
    } else if ((wait_s as number) > 0) {
      state.wake.wait(wait_s as number);
    } else {
      fiber.yield();
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

export function notifierStats(): Stats & { outbox_depth: number; in_flight: number; acks_pending: number; latency_buckets_ms: number[]; http?: unknown } {
  const stats: Stats & { outbox_depth: number; in_flight: number; acks_pending: number; latency_buckets_ms: number[]; http?: unknown } = {
    ...state.stats,
    outbox_depth: space("outbox").len(),
    in_flight: state.in_flight_count,
    acks_pending: state.acks.length,
    latency_buckets_ms: LATENCY_BUCKETS_MS,
  };
  // http.client's own counters: requests, sockets opened (sockets_added) and closed.
  if (state.client !== undefined) stats.http = (state.client as unknown as { stat(this: unknown): unknown }).stat();
  return stats;
}
