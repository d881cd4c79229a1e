/** Expected failures as values, vshard-style: a procedure returns `nil, err`. */
import { ERRORS, type BillingErrorValue, type ErrorName } from "../contract/errors";

export type Failure = LuaMultiReturn<[undefined, BillingErrorValue]>;

export function failure(name: ErrorName, details?: Record<string, unknown>): Failure {
  const entry = ERRORS[name];
  const error: BillingErrorValue = { code: entry.code, name, message: entry.message };
  if (details !== undefined) error.details = details;
  return $multi(undefined, error);
}

export function success<T>(value: T): LuaMultiReturn<[T, undefined]> {
  return $multi(value, undefined);
}

export type Outcome<T> = LuaMultiReturn<[T, undefined]> | Failure;
