/**
 * Typed errors thrown by the router. Callers branch with the guards or
 * `instanceof`, never on message text:
 * - RouterError: the storage answered with an expected failure from the
 *   catalogue (src/contract/errors.ts); nothing was applied. Carries the value.
 * - RouterUnavailableError: no answer within the deadline (no master, no owner
 *   for the bucket, connections down, overload). `outcomeUnknown` is true when
 *   a write may have run (sent, then the connection dropped or timed out).
 * - RouterConfigError: the router's view contradicts the cluster (an instance
 *   reports another replica set's name); retrying cannot help.
 */
import { ERRORS, type BillingErrorValue, type ErrorName } from "../contract/errors.ts";

export interface RouteContext {
  bucket_id?: number;
  replicaset?: string;
  instance?: string;
}

export class RouterError extends Error {
  override readonly name = "RouterError";
  /** The storage's error value, as the procedure returned it. */
  readonly value: BillingErrorValue;
  readonly context: RouteContext;

  constructor(value: BillingErrorValue, context: RouteContext = {}) {
    super(`${value.name}: ${value.message}`);
    this.value = value;
    this.context = context;
  }

  get code(): number {
    return this.value.code;
  }

  get errorName(): ErrorName {
    return this.value.name;
  }

  get details(): Record<string, unknown> | undefined {
    return this.value.details;
  }
}

export type UnavailableReason =
  | "timeout" // the deadline passed while retrying
  | "no_master" // no writable instance found in the replica set
  | "no_owner" // no replica set claims the bucket
  | "outcome_unknown" // a non-idempotent call was sent and its answer lost
  | "overloaded" // too many calls in flight on the connection
  | "attempts_exhausted" // the attempt bound was reached before the deadline
  | "closed"; // router.close() was called

export class RouterUnavailableError extends Error {
  override readonly name = "RouterUnavailableError";
  readonly reason: UnavailableReason;
  /** True when the call may have been applied: only an idempotent retry can settle it. */
  readonly outcomeUnknown: boolean;
  readonly context: RouteContext;

  constructor(reason: UnavailableReason, message: string, options: { outcomeUnknown?: boolean; context?: RouteContext; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.reason = reason;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.context = options.context ?? {};
  }
}

export class RouterConfigError extends Error {
  override readonly name = "RouterConfigError";
}

/** A RouterError built from the catalogue, for failures the router itself detects (e.g. a bad customer id). */
export function routerFailure(name: ErrorName, details: Record<string, unknown>, context: RouteContext = {}): RouterError {
  const entry = ERRORS[name];
  return new RouterError({ code: entry.code, name, message: entry.message, details }, context);
}

export function isRouterError(error: unknown): error is RouterError {
  return error instanceof RouterError;
}

export function isRouterUnavailableError(error: unknown): error is RouterUnavailableError {
  return error instanceof RouterUnavailableError;
}

/** A storage error value as it arrives over iproto: checked, since the wire is untyped. */
export function asErrorValue(value: unknown): BillingErrorValue | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const candidate = value as Record<string, unknown>;
  const name = candidate["name"];
  if (typeof candidate["code"] !== "number" || typeof name !== "string" || !(name in ERRORS)) return undefined;
  if (typeof candidate["message"] !== "string") return undefined;
  const error: BillingErrorValue = { code: candidate["code"], name: name as ErrorName, message: candidate["message"] };
  const details = candidate["details"];
  if (typeof details === "object" && details !== null && !Array.isArray(details)) error.details = details as Record<string, unknown>;
  return error;
}
