/**
 * Request validation with TypeBox's compiler instead of Fastify's default Ajv
 * set-up, for two reasons:
 * - Fastify's Ajv removes unknown properties silently (removeAdditional) and
 *   coerces body types ("18" → 18, 0.5 → "0.5"); a billing API must refuse
 *   both. Here the body is checked exactly as sent.
 * - Path and query values arrive as text; only canonical decimal integers
 *   ("18", not "18.0", "1e1" or " 18") become numbers, before the check.
 * Handler types are inferred from the same schemas (TypeBoxProvider).
 */
import type { FastifySchemaCompiler, FastifyTypeProvider } from "fastify";
import type { Static, TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { AMOUNT, RATE, moneyProblem, moneyRule } from "./money.ts";
import type { FieldIssue } from "./problems.ts";

export interface TypeBoxProvider extends FastifyTypeProvider {
  validator: this["schema"] extends TSchema ? Static<this["schema"]> : unknown;
  serializer: this["schema"] extends TSchema ? Static<this["schema"]> : unknown;
}

/** Marks a money schema so a refusal can name its reason (see money.ts). */
export const MONEY_KIND = "x-money";

/** Reported per request part at most; a hostile body must not make a huge response. */
const ISSUES_MAX = 20;

/** A schema refusal: the error handler turns it into VALIDATION_FAILED with its issues. */
export class RequestValidationError extends Error {
  override readonly name = "RequestValidationError";
  readonly statusCode = 400;
  readonly code = "FST_ERR_VALIDATION";
  constructor(readonly part: string, readonly issues: FieldIssue[]) {
    super(`${part} does not match the schema`);
  }
}

const CANONICAL_INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/** Text → number for the schema's integer properties, when the text is a canonical integer; anything else is left for the check to refuse. */
function convertIntegers(schema: TSchema, data: unknown): unknown {
  if (typeof data !== "object" || data === null) return data;
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (properties === undefined) return data;
  const converted: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const [key, property] of Object.entries(properties)) {
    const value = converted[key];
    if ((property as { type?: unknown }).type === "integer" && typeof value === "string" && CANONICAL_INTEGER.test(value)) {
      converted[key] = Number(value);
    }
  }
  return converted;
}

function issuesOf(check: ReturnType<typeof TypeCompiler.Compile>, data: unknown, part: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  for (const error of check.Errors(data)) {
    if (seen.has(error.path)) continue; // one issue per field: the first is the most telling
    seen.add(error.path);
    const field = error.path === "" ? "/" : error.path;
    const issue: FieldIssue = { field, in: part, message: error.message };
    const money = (error.schema as Record<string, unknown>)[MONEY_KIND];
    if (money === "amount" || money === "rate") {
      const field = money === "amount" ? AMOUNT : RATE;
      issue.reason = moneyProblem(error.value, field);
      issue.message = moneyRule(field);
    }
    issues.push(issue);
    if (issues.length >= ISSUES_MAX) break;
  }
  return issues;
}

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const part = httpPart ?? "body";
  const converts = part === "params" || part === "querystring";
  return (data: unknown) => {
    const value = converts ? convertIntegers(schema, data) : data;
    if (check.Check(value)) return part === "headers" ? true : { value };
    return { error: new RequestValidationError(part, issuesOf(check, value, part)) };
  };
};
