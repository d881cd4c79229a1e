/**
 * HTTP problems (RFC 9457, application/problem+json) and the one table that
 * maps an error code to an HTTP status. Codes are the storage catalogue's
 * NAMEs (src/contract/errors.ts) plus a few the gateway itself raises; a
 * client branches on `code`, never on `title` or `detail`.
 *
 * Decisions:
 * - Amount and rate problems are 400 whether the schema or the storage finds
 *   them: the request is malformed money, not a well-formed request the
 *   current state refuses. 422 is kept for well-formed requests refused by a
 *   business limit (BALANCE_LIMIT_EXCEEDED, TOO_MANY_ACCOUNTS).
 * - 503 means nothing was applied and a retry is safe (Retry-After is set);
 *   504 OUTCOME_UNKNOWN means a write was sent and its answer lost: it may or
 *   may not have been applied (a deposit retried with the same
 *   Idempotency-Key settles it).
 * - 5xx responses carry a fixed detail and never the storage's message,
 *   details, instance names or a stack.
 */
import type { ErrorName } from "../contract/errors.ts";

export type GatewayCode =
  | "VALIDATION_FAILED"
  | "MALFORMED_BODY"
  | "BAD_URL"
  | "URI_TOO_LONG"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "PAYLOAD_TOO_LARGE"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "STORAGE_UNAVAILABLE"
  | "OUTCOME_UNKNOWN"
  | "SHUTTING_DOWN";

export type ProblemCode = ErrorName | GatewayCode;

interface ProblemKind {
  status: number;
  title: string;
}

/** Every code with its status and a short, fixed title. */
export const PROBLEM_KINDS: Record<ProblemCode, ProblemKind> = {
  VALIDATION_FAILED: { status: 400, title: "The request does not match the schema" },
  MALFORMED_BODY: { status: 400, title: "The request body is not valid JSON" },
  BAD_URL: { status: 400, title: "The request URL is malformed" },
  URI_TOO_LONG: { status: 414, title: "A path parameter is too long" },
  INVALID_ARGUMENT: { status: 400, title: "Invalid argument" },
  INVALID_AMOUNT: { status: 400, title: "Amount must be a decimal string" },
  AMOUNT_NOT_POSITIVE: { status: 400, title: "Amount must be greater than zero" },
  AMOUNT_SCALE_EXCEEDED: { status: 400, title: "Too many fractional digits" },
  AMOUNT_OUT_OF_RANGE: { status: 400, title: "Value is out of range" },
  INVALID_RATE: { status: 400, title: "Rate must be a decimal string" },
  RATE_NEGATIVE: { status: 400, title: "Rate must not be negative" },
  UNAUTHORIZED: { status: 401, title: "Missing or invalid bearer token" },
  FORBIDDEN: { status: 403, title: "This token may not use this route" },
  NOT_FOUND: { status: 404, title: "No such route" },
  CUSTOMER_NOT_FOUND: { status: 404, title: "Customer not found" },
  ACCOUNT_NOT_FOUND: { status: 404, title: "Account not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  CUSTOMER_EXISTS: { status: 409, title: "Customer already exists" },
  ACCOUNT_EXISTS: { status: 409, title: "Account already exists" },
  IDEMPOTENCY_KEY_REUSED: { status: 409, title: "Idempotency key was used for a different request" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Request body too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  BALANCE_LIMIT_EXCEEDED: { status: 422, title: "Balance would exceed the maximum" },
  TOO_MANY_ACCOUNTS: { status: 422, title: "Too many accounts for one customer" },
  INTERNAL: { status: 500, title: "Internal error" },
  BUCKET_COUNT_MISMATCH: { status: 500, title: "Internal error" },
  STORAGE_UNAVAILABLE: { status: 503, title: "Storage unavailable, nothing was applied" },
  WRONG_BUCKET: { status: 503, title: "Storage unavailable, nothing was applied" },
  NOT_WRITABLE: { status: 503, title: "Storage unavailable, nothing was applied" },
  COMMIT_FAILED: { status: 503, title: "Storage unavailable, nothing was applied" },
  SHUTTING_DOWN: { status: 503, title: "The gateway is shutting down" },
  OUTCOME_UNKNOWN: { status: 504, title: "The outcome of the write is unknown" },
};

/** Codes a 5xx may show as they are; any other 5xx code is reported as INTERNAL (a config mismatch is not the client's business). */
const PUBLIC_SERVER_CODES = new Set<ProblemCode>(["STORAGE_UNAVAILABLE", "WRONG_BUCKET", "NOT_WRITABLE", "COMMIT_FAILED", "SHUTTING_DOWN", "OUTCOME_UNKNOWN", "INTERNAL"]);

/** Codes a client can receive (a private 5xx code is shown as INTERNAL). */
export function shownCodes(): ProblemCode[] {
  return (Object.keys(PROBLEM_KINDS) as ProblemCode[]).filter((code) => PROBLEM_KINDS[code].status < 500 || PUBLIC_SERVER_CODES.has(code));
}

/** Fixed details for 5xx: nothing from the storage, the router or a stack ever reaches the client. */
const SERVER_DETAILS: Partial<Record<ProblemCode, string>> = {
  INTERNAL: "The request failed inside the gateway. It has been logged with the request id.",
  STORAGE_UNAVAILABLE: "No storage master could serve the request in time. Nothing was applied; retry later.",
  WRONG_BUCKET: "The customer's data is moving between replica sets. Nothing was applied; retry later.",
  NOT_WRITABLE: "The storage master is changing. Nothing was applied; retry later.",
  COMMIT_FAILED: "The storage could not commit the write. Nothing was applied; retry later.",
  SHUTTING_DOWN: "The gateway is shutting down; retry on another instance.",
  OUTCOME_UNKNOWN: "The write was sent but its answer was lost: it may or may not have been applied. Retry a deposit with the same Idempotency-Key to settle it; read the account before retrying anything else.",
};

export interface FieldIssue {
  /** JSON pointer into the request part, e.g. /accounts/0/name. */
  field: string;
  /** Which part of the request: body, params, querystring or headers. */
  in: string;
  message: string;
  /** A catalogue name when the gateway can tell the reason precisely (money fields). */
  reason?: ProblemCode;
}

/** The body of every error response. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: ProblemCode;
  request_id: string;
  errors?: FieldIssue[];
  details?: Record<string, unknown>;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

/** A stable, absolute URI per code (RFC 9457 `type`); not dereferenceable, documented in the OpenAPI description. */
export function problemType(code: ProblemCode): string {
  return `urn:billing:problem:${code.toLowerCase().replace(/_/g, "-")}`;
}

/** An error the gateway raises on purpose; the error handler turns it into a problem. */
export class GatewayProblem extends Error {
  override readonly name = "GatewayProblem";
  readonly code: ProblemCode;
  readonly issues: FieldIssue[] | undefined;
  readonly details: Record<string, unknown> | undefined;
  /** Extra response headers (WWW-Authenticate on 401/403). */
  readonly headers: Record<string, string>;

  constructor(code: ProblemCode, detail: string, options: { issues?: FieldIssue[]; details?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(detail);
    this.code = code;
    this.issues = options.issues;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  get statusCode(): number {
    return PROBLEM_KINDS[this.code].status;
  }
}

export function statusOf(code: ProblemCode): number {
  return PROBLEM_KINDS[code].status;
}

/**
 * Builds the response body. For 5xx the detail is fixed and storage details
 * are dropped; for 4xx the caller's detail and the storage's details (field
 * names, ids: the client's own input) are kept.
 */
export function buildProblem(code: ProblemCode, detail: string, context: { instance: string; request_id: string; issues?: FieldIssue[] | undefined; details?: Record<string, unknown> | undefined }): Problem {
  const status = statusOf(code);
  const shown: ProblemCode = status >= 500 && !PUBLIC_SERVER_CODES.has(code) ? "INTERNAL" : code;
  const problem: Problem = {
    type: problemType(shown),
    title: PROBLEM_KINDS[shown].title,
    status,
    detail: status >= 500 ? (SERVER_DETAILS[shown] ?? SERVER_DETAILS.INTERNAL!) : detail,
    instance: context.instance,
    code: shown,
    request_id: context.request_id,
  };
  if (status < 500 && context.issues !== undefined && context.issues.length > 0) problem.errors = context.issues;
  if (status < 500 && context.details !== undefined) problem.details = context.details;
  return problem;
}
