/**
 * The depletion scheduler: one fiber on the writable node sleeps until the
 * earliest deadline in the `deadline` index and is woken when an operation
 * sets an earlier one. No scan: each pass reads the index minimum.
 */
import * as clock from "clock";
import * as fiber from "fiber";
import * as log from "log";
import { A, space, type Tuple } from "./db";
import { deadlineOf, depleteAccount } from "./accounts";
import { nowMs } from "./time";

/** Longest sleep with nothing scheduled; a safety net, since every new deadline signals. */
const IDLE_WAIT_S = 1;
/** Pause after an unexpected error, so a persistent fault cannot spin the CPU. */
const ERROR_PAUSE_S = 0.1;
/**
 * Most accounts depleted in one transaction, below depletion_batch_max: a
 * depletion costs ~20 µs of the TX thread, so 1,000 in one go held it for
 * ~20 ms while the notifier, whose GETs are the point, could not run. Small
 * transactions with a yield between them let the first GETs of a storm
 * leave within a few ms and keep HTTP going while the rest are depleted; a
 * WAL write per 128 rows costs little.
 */
const SLICE_MAX = 128;

const state = {
  wake: fiber.cond(),
  /** The deadline the fiber sleeps until (math.huge when none); earlier deadlines must signal. */
  target_ms: math.huge,
  batch_max: 1000,
  started: false,
  depleted_total: 0,
  onDepleted: (() => undefined) as (this: void) => void,
};

/** Called by procedures after storing a deadline: wakes the scheduler if it sleeps past it. */
export function noteDeadline(deadline_ms: number | undefined): void {
  if (deadline_ms !== undefined && deadline_ms < state.target_ms) state.wake.signal();
}

/** Wakes the scheduler (role change, config change). */
export function wakeScheduler(): void {
  state.wake.signal();
}

function firstDue(): Tuple | undefined {
  // Nulls sort first in a nullable TREE part: starting at 0 skips "never".
  return space("accounts").index["deadline"]!.select([0], { iterator: "GE", limit: 1 })[0];
}

/**
 * The accounts due by now_ms, earliest first, at most one slice. Walks the
 * index and stops at the first one not yet due: with many active accounts a
 * select of batch_max rows would copy them all out on every pass, even when
 * one is due.
 */
function dueAccounts(now_ms: number): Tuple[] {
  const due: Tuple[] = [];
  for (const [, account] of space("accounts").index["deadline"]!.pairs([0], { iterator: "GE" })) {
    const deadline = deadlineOf(account);
    if (deadline === undefined || deadline > now_ms || due.length >= math.min(state.batch_max, SLICE_MAX)) break;
    due.push(account);
  }
  return due;
}

/** Depletes up to min(batch_max, SLICE_MAX) accounts due by now_ms in one transaction: one WAL write per batch. */
function depleteBatch(now_ms: number): number {
  const due = dueAccounts(now_ms);
  if (due.length === 0) return 0;
  box.begin();
  for (const account of due) depleteAccount(account, now_ms);
  box.commit();
  return due.length;
}

/** nowMs() with its fraction of a millisecond (nowMs rounds down), so a sleep can end at the instant itself. */
function preciseNowMs(): number {
  const real_ms = clock.time() * 1000;
  return nowMs() + (real_ms - math.floor(real_ms));
}

function step(): void {
  if (box.info.ro) {
    state.target_ms = math.huge;
    state.wake.wait(IDLE_WAIT_S);
    return;
  }
  const first = firstDue();
  const now_ms = nowMs();
  const deadline = first === undefined ? undefined : (first[A.depletes_at_ms] as number);
  if (deadline === undefined) {
    state.target_ms = math.huge;
    state.wake.wait(IDLE_WAIT_S);
  } else if (deadline > now_ms) {
    state.target_ms = deadline;
    // Sleep to the instant itself, not from the whole millisecond now_ms
    // rounds down to (which woke it up to 1 ms late). A wake-up before the
    // instant (timers count on the event loop's cached clock) only loops
    // back here: never early.
    state.wake.wait(math.max(0, deadline - preciseNowMs()) / 1000);
    state.target_ms = math.huge;
  } else {
    const count = depleteBatch(now_ms);
    state.depleted_total += count;
    if (count > 0) state.onDepleted();
    // Let the notifier run before the next slice.
    fiber.yield();
  }
}

function loop(): void {
  for (;;) {
    fiber.testcancel();
    const [ok, problem] = pcall(step);
    if (!ok) {
      if (box.is_in_txn()) box.rollback();
      log.error(`scheduler: ${tostring(problem)}`);
      fiber.sleep(ERROR_PAUSE_S);
    }
  }
}

export function startScheduler(batch_max: number, onDepleted: (this: void) => void): void {
  if (state.started) return;
  state.started = true;
  state.batch_max = batch_max;
  state.onDepleted = onDepleted;
  const worker = fiber.create(loop);
  (worker as unknown as { name(this: unknown, n: string): void }).name("billing.scheduler");
}

export function schedulerStats(): { depleted_total: number; next_deadline_ms?: number } {
  const first = firstDue();
  const stats: { depleted_total: number; next_deadline_ms?: number } = { depleted_total: state.depleted_total };
  if (first !== undefined) stats.next_deadline_ms = first[A.depletes_at_ms] as number;
  return stats;
}
