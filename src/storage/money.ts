/**
 * Exact money arithmetic on Tarantool decimals, and the lazy-balance algebra:
 * an account stores (balance, rate_per_s, updated_at_ms) and its balance at any
 * later instant is derived, never written by a periodic job.
 *
 * Never a Lua number on a money path: amounts enter as strings, are parsed by
 * `decimal.new` after a strict syntax check, and leave as strings.
 */
import * as decimal from "decimal";
import { LIMITS } from "../contract/limits";
import type { ErrorName } from "../contract/errors";

export type Decimal = decimal.Decimal;


export const ZERO = decimal.new(0);
const MS_PER_S = 1000;
/**
 * Deadlines further out than this (about 317 years) are stored as "never":
 * they would not fit the unsigned deadline field exactly, and any deposit or
 * rate change recomputes the deadline anyway.
 */
export const DEADLINE_HORIZON_MS = 10_000_000_000_000;

/** A parsed decimal, or the catalogue name of why it was refused. */
export type Parsed = { ok: true; value: Decimal } | { ok: false; error: ErrorName; field: string };

function isDecimalSyntax(text: string): boolean {
  // Canonical plain notation only: no sign, exponent, spaces, NaN or Infinity.
  return string.match(text, "^0$")[0] !== undefined
    || string.match(text, "^[1-9]%d*$")[0] !== undefined
    || string.match(text, "^0%.%d+$")[0] !== undefined
    || string.match(text, "^[1-9]%d*%.%d+$")[0] !== undefined;
}

/**
 * Parses a non-negative decimal string within the money scale and below
 * 10^integerDigitsMax. The caller decides whether zero is acceptable.
 */
export function parseMoney(text: unknown, field: string, integerDigitsMax: number, syntaxError: ErrorName): Parsed {
  if (typeof text !== "string" || text.length > 64 || !isDecimalSyntax(text)) {
    return { ok: false, error: syntaxError, field };
  }
  const value = decimal.trim(decimal.new(text));
  if (decimal.scale(value) > LIMITS.money_scale_max) {
    return { ok: false, error: "AMOUNT_SCALE_EXCEEDED", field };
  }
  if (decimal.precision(value) - decimal.scale(value) > integerDigitsMax) {
    return { ok: false, error: "AMOUNT_OUT_OF_RANGE", field };
  }
  return { ok: true, value };
}

/** The balance left at `at_ms`, never below zero. Exact: rate * ms / 1000 is a decimal shift. */
export function balanceAt(balance: Decimal, rate_per_s: Decimal, updated_at_ms: number, at_ms: number): Decimal {
  if (at_ms <= updated_at_ms || rate_per_s === ZERO) return balance;
  const consumed = dDiv(dMul(rate_per_s, at_ms - updated_at_ms), MS_PER_S);
  return dLt(consumed, balance) ? dSub(balance, consumed) : ZERO;
}

/**
 * The first whole millisecond at which the balance is zero, or undefined when
 * it never depletes. ceil(balance * 1000 / rate) is computed exactly: the
 * 38-digit quotient is only a first guess, corrected with exact products so
 * the deadline is never early (rate * t >= balance * 1000) and never late
 * (rate * (t - 1) < balance * 1000).
 */
export function depletesAt(balance: Decimal, rate_per_s: Decimal, updated_at_ms: number): number | undefined {
  if (rate_per_s === ZERO) return undefined;
  if (balance === ZERO) return updated_at_ms;
  const needed = dMul(balance, MS_PER_S);
  let t = decimal.round(dDiv(needed, rate_per_s), 0);
  if (dLt(decimal.new(DEADLINE_HORIZON_MS), t)) return undefined;
  while (dLt(dMul(rate_per_s, t), needed)) t = dAdd(t, decimal.new(1));
  while (t !== ZERO && !dLt(dMul(rate_per_s, dSub(t, decimal.new(1))), needed)) t = dSub(t, decimal.new(1));
  return updated_at_ms + toInteger(t);
}

/** A whole decimal known to be below 2^53, as a Lua number (through a string: tonumber(decimal) is nil on 2.6). */
function toInteger(value: Decimal): number {
  return tonumber(tostring(value)) as number;
}

/** The canonical string of a decimal: no trailing zeros, plain notation. */
export function moneyString(value: Decimal): string {
  return tostring(decimal.trim(value));
}

/** True when a balance has grown past the configured maximum. */
export function exceedsBalanceLimit(value: Decimal): boolean {
  return decimal.precision(value) - decimal.scale(value) > LIMITS.balance_integer_digits_max;
}
