/**
 * The OpenAPI 3 document, generated from the route schemas, and its
 * interactive page: GET /docs (Swagger UI, assets served from the npm
 * package, no CDN) and GET /docs/json. Registered before the routes so the
 * document sees them all.
 */
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { PROBLEM_KINDS, problemType, shownCodes } from "../problems.ts";

export const DOCS_PREFIX = "/docs";

function problemTable(): string {
  const rows = shownCodes()
    .sort((a, b) => PROBLEM_KINDS[a].status - PROBLEM_KINDS[b].status)
    .map((code) => `| ${PROBLEM_KINDS[code].status} | \`${code}\` | \`${problemType(code)}\` |`);
  return ["| status | code | type |", "| --- | --- | --- |", ...rows].join("\n");
}

const DESCRIPTION = `Real-time prepaid billing: customers, accounts, deposits and consumption rates,
with a power-off call the moment an account runs out of money.

Money is exact: amounts and rates are decimal strings ("12.5"), at most 6 fractional digits;
a JSON number is accepted only when it is a whole number.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\`:

${problemTable()}

A 503 means nothing was applied (retry after \`Retry-After\`). A 504 \`OUTCOME_UNKNOWN\` means a write
was sent and its answer lost: retry a deposit with the same \`Idempotency-Key\` to settle it.

Authentication: \`Authorization: Bearer <token>\` on every route except /health and /docs when the
gateway has tokens configured; read-only tokens may use GET routes only.`;

async function docsPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Billing gateway", version: "1.0.0", description: DESCRIPTION },
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: "customers", description: "Customers and their accounts" },
        { name: "money", description: "Deposits, rates and the ledger" },
        { name: "notifications", description: "Power-off notifications" },
        { name: "seed", description: "The original routes, kept for existing callers" },
        { name: "operations", description: "Health and metrics" },
      ],
    },
    // Shared schemas keep their $id as their component name (#/components/schemas/Problem).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json["$id"] === "string" ? json["$id"] : `def-${i}`) },
  });
  // A child context, so only the page's own routes are marked public.
  await app.register(async (docs) => {
    docs.addHook("onRoute", (route) => {
      route.config = { ...route.config, access: "public" };
    });
    await docs.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true, persistAuthorization: false } });
  });
}

export default fp(docsPlugin, { name: "billing-docs", fastify: "5.x" });
