/** Argument checks shared by the procedures: each returns an error name or undefined. */
import * as utf8 from "utf8";
import { LIMITS } from "../contract/limits";
import type { ErrorName } from "../contract/errors";

export type Request = Record<string, unknown>;
export type Problem = { error: ErrorName; field: string } | undefined;

export function isId(value: unknown): value is number {
  return typeof value === "number" && value >= 1 && value <= LIMITS.id_max && math.floor(value) === value;
}

/** A name of 1..name_length_max characters (not bytes) of valid UTF-8. */
export function isName(value: unknown): value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > LIMITS.name_length_max * 4) return false;
  const characters = utf8.len(value);
  return characters !== undefined && characters <= LIMITS.name_length_max;
}

/** Refuses anything but a table whose keys are all in `allowed` (a typo'd optional field must not be ignored). */
export function checkShape(request: unknown, allowed: Record<string, true>): Problem {
  if (typeof request !== "object" || request === null) return { error: "INVALID_ARGUMENT", field: "request" };
  for (const [key] of pairs(request as Request)) {
    if (typeof key !== "string" || allowed[key] !== true) return { error: "INVALID_ARGUMENT", field: tostring(key) };
  }
  return undefined;
}

export function checkIds(request: Request, withAccount: boolean): Problem {
  if (!isId(request["customer_id"])) return { error: "INVALID_ARGUMENT", field: "customer_id" };
  if (withAccount && !isId(request["account_id"])) return { error: "INVALID_ARGUMENT", field: "account_id" };
  return undefined;
}

export function checkOptionalKey(value: unknown): Problem {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length < 1 || value.length > LIMITS.idempotency_key_length_max) {
    return { error: "INVALID_ARGUMENT", field: "idempotency_key" };
  }
  return undefined;
}
