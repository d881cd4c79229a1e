/**
 * The depletion scheduler: one fiber on the writable node sleeps until the
 * earliest deadline in the `deadline` index and is woken when an operation
 * sets an earlier one. No scan: each pass reads the index minimum.
 */
import * as fiber from "fiber";
import * as log from "log";
import { A, space, type Tuple } from "./db";
import { deadlineOf, depleteAccount } from "./accounts";
import { nowMs } from "./time";

/** Longest sleep with nothing scheduled; a safety net, since every new deadline signals. */
const IDLE_WAIT_S = 1;
/** Pause after an unexpected error, so a persistent fault cannot spin the CPU. */
const ERROR_PAUSE_S = 0.1;

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

/** Depletes up to batch_max accounts due by now_ms in one transaction: one WAL write per batch. */
function depleteBatch(now_ms: number): number {
  const due = space("accounts").index["deadline"]!.select([0], { iterator: "GE", limit: state.batch_max });
  let count = 0;
  box.begin();
  for (const account of due) {
    const deadline = deadlineOf(account);
    if (deadline === undefined || deadline > now_ms) break;
    depleteAccount(account, now_ms);
    count += 1;
  }
  box.commit();
  return count;
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
    state.wake.wait((deadline - now_ms) / 1000);
    state.target_ms = math.huge;
  } else {
    const count = depleteBatch(now_ms);
    state.depleted_total += count;
    if (count > 0) state.onDepleted();
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
