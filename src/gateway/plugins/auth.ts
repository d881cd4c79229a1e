/**
 * Bearer-token access control, per route:
 * - `public`: /health and the API description (/docs, /docs/json): load
 *   balancers probe without secrets, and the interactive page must load
 *   before its Authorize button can take a token;
 * - `read`: GET routes, including /metrics (a Prometheus scrape sends a
 *   bearer token); a `:read` token may use only these;
 * - `write`: everything else.
 * With no token configured every route is open; server.ts then binds
 * loopback only and logs a warning.
 */
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Principal, TokenSet } from "../auth.ts";
import { GatewayProblem } from "../problems.ts";

export type Access = "public" | "read" | "write";

declare module "fastify" {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const REALM = 'Bearer realm="billing"';

/** A route's access level: declared in its config, else by method. Unmatched URLs need a token too, so probing finds nothing. */
export function accessOf(request: FastifyRequest): Access {
  const declared = request.routeOptions.config.access;
  if (declared !== undefined) return declared;
  return request.method === "GET" || request.method === "HEAD" ? "read" : "write";
}

async function authPlugin(app: FastifyInstance, options: { tokens: TokenSet }): Promise<void> {
  const tokens = options.tokens;
  app.decorateRequest("principal", null);
  if (tokens.size === 0) return;
  app.addHook("onRequest", async (request, reply) => {
    const access = accessOf(request);
    if (access === "public") return;
    const outcome = tokens.authenticate(request.headers.authorization);
    if (!outcome.ok) {
      const error = outcome.reason === "missing" ? "" : ', error="invalid_token"';
      throw new GatewayProblem("UNAUTHORIZED", outcome.reason === "missing"
        ? "This route needs an Authorization: Bearer <token> header."
        : "The bearer token is not valid.", { headers: { "www-authenticate": `${REALM}${error}` } });
    }
    request.principal = outcome.principal;
    // Every later line of this request (including "request completed") names the token, never its value.
    const log = request.log.child({ token_id: outcome.principal.token_id });
    request.log = log;
    reply.log = log;
    if (access === "write" && outcome.principal.scope !== "write") {
      throw new GatewayProblem("FORBIDDEN", "This token is read-only; this route changes data.", {
        headers: { "www-authenticate": `${REALM}, error="insufficient_scope"` },
      });
    }
  });
}

export default fp(authPlugin, { name: "billing-auth", fastify: "5.x", dependencies: ["billing-errors"] });
