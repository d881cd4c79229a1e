/**
 * The one error handler: every failure, from a schema refusal to a dead
 * storage, leaves as application/problem+json with a stable `code`, the
 * status from problems.ts, and the request id. 5xx bodies are fixed text;
 * the real error goes to the log with the request id.
 */
import fp from "fastify-plugin";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ERRORS } from "../../contract/errors.ts";
import { isRouterError, isRouterUnavailableError } from "../../router/index.ts";
import { buildProblem, GatewayProblem, PROBLEM_CONTENT_TYPE, statusOf, type FieldIssue, type ProblemCode } from "../problems.ts";
import { RequestValidationError } from "../validation.ts";

interface Classified {
  code: ProblemCode;
  detail: string;
  issues?: FieldIssue[];
  details?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** Fastify's own 4xx errors (body parsing, limits), by status. */
const FRAMEWORK_CODES: Record<number, ProblemCode> = {
  400: "MALFORMED_BODY",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
};

function describeIssues(part: string, issues: FieldIssue[]): string {
  const first = issues[0];
  if (first === undefined) return `Request ${part}: does not match the schema.`;
  const reason = first.reason === undefined ? first.message : `${first.reason} (${first.message})`;
  const more = issues.length > 1 ? ` and ${issues.length - 1} more` : "";
  return `Request ${part}: ${first.field}: ${reason}${more}.`;
}

export function classify(error: unknown): Classified {
  if (error instanceof GatewayProblem) {
    const classified: Classified = { code: error.code, detail: error.message, headers: error.headers };
    if (error.issues !== undefined) classified.issues = error.issues;
    if (error.details !== undefined) classified.details = error.details;
    return classified;
  }
  if (error instanceof RequestValidationError) {
    return { code: "VALIDATION_FAILED", detail: describeIssues(error.part, error.issues), issues: error.issues };
  }
  if (isRouterError(error)) {
    const name = error.value.name;
    if (!(name in ERRORS)) return { code: "INTERNAL", detail: "" };
    const classified: Classified = { code: name, detail: error.value.message };
    if (error.value.details !== undefined) classified.details = error.value.details;
    return classified;
  }
  if (isRouterUnavailableError(error)) {
    if (error.outcomeUnknown) return { code: "OUTCOME_UNKNOWN", detail: "" };
    return { code: error.reason === "closed" ? "SHUTTING_DOWN" : "STORAGE_UNAVAILABLE", detail: "" };
  }
  const status = (error as FastifyError | undefined)?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const code = FRAMEWORK_CODES[status] ?? "MALFORMED_BODY";
    return { code, detail: (error as Error).message };
  }
  return { code: "INTERNAL", detail: "" };
}

/** Sends a problem; used by the error handler and by hooks that answer early. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, classified: Classified): FastifyReply {
  const status = statusOf(classified.code);
  const problem = buildProblem(classified.code, classified.detail, {
    instance: request.url.split("?")[0] ?? "/",
    request_id: String(request.id),
    issues: classified.issues,
    details: classified.details,
  });
  if (status === 503) reply.header("retry-after", "1");
  for (const [name, value] of Object.entries(classified.headers ?? {})) reply.header(name, value);
  // Bypass the route's response serializer: a problem is always sent whole, as built here.
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).serializer((payload: unknown) => JSON.stringify(payload)).send(problem);
}

/**
 * Errors Fastify raises before routing (a malformed URL, an over-long path
 * parameter): given to the Fastify constructor as `frameworkErrors`, so they
 * leave as problem+json like every other refusal.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const code: ProblemCode = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? "URI_TOO_LONG" : error.code === "FST_ERR_BAD_URL" ? "BAD_URL" : classify(error).code;
  request.log.info({ code, fastify_code: error.code }, "request refused before routing");
  void sendProblem(request, reply, { code, detail: error.message });
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: unknown, request, reply) => {
    const classified = classify(error);
    const status = statusOf(classified.code);
    if (status >= 500) request.log.error({ err: error, code: classified.code }, "request failed");
    else request.log.info({ code: classified.code, status }, "request refused");
    return sendProblem(request, reply, classified);
  });
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(request, reply, { code: "NOT_FOUND", detail: `No route ${request.method} ${request.url.split("?")[0] ?? "/"}.` });
  });
}

export default fp(errorsPlugin, { name: "billing-errors", fastify: "5.x" });
