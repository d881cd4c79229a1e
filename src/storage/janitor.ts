/**
 * Expires idempotency keys older than their time to live, so the table is
 * bounded by the deposit rate times the TTL. Bounded batches, a yield between
 * them, writable node only (the expirationd habits).
 */
import * as fiber from "fiber";
import * as log from "log";
import { I, space } from "./db";
import { nowMs } from "./time";

const BATCH_MAX = 1000;
const PERIOD_S = 1;

let expired_total = 0;

function expireBatch(ttl_ms: number): number {
  const cutoff = nowMs() - ttl_ms;
  const old = space("idempotency").index["created"]!.select([cutoff], { iterator: "LT", limit: BATCH_MAX });
  if (old.length === 0) return 0;
  box.begin();
  for (const row of old) space("idempotency").delete([row[I.customer_id], row[I.key]]);
  box.commit();
  return old.length;
}

function loop(ttl_ms: number): void {
  for (;;) {
    fiber.sleep(PERIOD_S);
    if (box.info.ro) continue;
    const [ok, count] = pcall(expireBatch, ttl_ms);
    if (!ok) {
      if (box.is_in_txn()) box.rollback();
      log.error(`janitor: ${tostring(count)}`);
    } else {
      expired_total += count as number;
      // A full batch means more are waiting: go again at once instead of sleeping.
      while ((count as number) === BATCH_MAX && !box.info.ro) {
        const [again, more] = pcall(expireBatch, ttl_ms);
        if (!again) break;
        expired_total += more as number;
        if ((more as number) < BATCH_MAX) break;
      }
    }
  }
}

export function startJanitor(ttl_ms: number): void {
  (fiber.create(loop, ttl_ms) as unknown as { name(this: unknown, n: string): void }).name("billing.janitor");
}

export function janitorStats(): { idempotency_keys: number; idempotency_expired_total: number } {
  return { idempotency_keys: space("idempotency").len(), idempotency_expired_total: expired_total };
}
