/**
 * The versioned API. Resources: customers, their accounts, an account's
 * deposits, rate and ledger, and the pending power-off notifications
 * across every replica set.
 */
import type { FastifyInstance } from "fastify";
import type { BillingBackend } from "../backend.ts";
import * as billing from "../billing.ts";
import {
  Account, AccountParams, AddAccountBody, CreateCustomerBody, Customer, CustomerParams, DepositBody, DepositResult,
  IdempotencyHeaders, LedgerPage, LedgerQuery, PendingNotifications, PendingQuery, RateBody, problems,
} from "../schemas.ts";
import type { TypeBoxProvider } from "../validation.ts";

export async function v1Routes(parent: FastifyInstance, options: { backend: BillingBackend; prefix: string }): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxProvider>();
  const backend = options.backend;
  const base = options.prefix;

  app.post("/customers", {
    schema: {
      tags: ["customers"], summary: "Create a customer, optionally with accounts", body: CreateCustomerBody,
      response: { 201: Customer, ...problems(400, 401, 403, 409, 413, 415, 422, 504) },
    },
  }, async (request, reply) => {
    const customer = await billing.createCustomer(backend, request.body);
    return reply.code(201).header("location", `${base}/customers/${customer.customer_id}`).send(customer);
  });

  app.get("/customers/:customer_id", {
    schema: { tags: ["customers"], summary: "A customer with its accounts, balances settled to now", params: CustomerParams, response: { 200: Customer, ...problems(400, 401, 404) } },
  }, async (request) => await billing.getCustomer(backend, request.params.customer_id));

  app.post("/customers/:customer_id/accounts", {
    schema: {
      tags: ["customers"], summary: "Add an account to a customer", params: CustomerParams, body: AddAccountBody,
      response: { 201: Account, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 504) },
    },
  }, async (request, reply) => {
    const account = await billing.addAccount(backend, request.params.customer_id, request.body.account_id, request.body.name);
    return reply.code(201).header("location", `${base}/customers/${account.customer_id}/accounts/${account.account_id}`).send(account);
  });

  app.get("/customers/:customer_id/accounts/:account_id", {
    schema: {
      tags: ["customers"], summary: "An account: live balance and when it runs out", params: AccountParams,
      response: { 200: Account, ...problems(400, 401, 404) },
    },
  }, async (request) => await billing.getAccount(backend, request.params.customer_id, request.params.account_id));

  app.post("/customers/:customer_id/accounts/:account_id/deposits", {
    schema: {
      tags: ["money"], summary: "Add money to an account",
      description: "With an Idempotency-Key header the deposit is safe to retry: the same key and request return the first result (replayed: true); the same key with another request is 409 IDEMPOTENCY_KEY_REUSED.",
      params: AccountParams, headers: IdempotencyHeaders, body: DepositBody,
      response: { 200: DepositResult, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 504) },
    },
  }, async (request, reply) => {
    const { customer_id, account_id } = request.params;
    const result = await billing.deposit(backend, customer_id, account_id, request.body.amount, request.headers["idempotency-key"]);
    if (result.replayed) reply.header("idempotent-replayed", "true");
    return result;
  });

  app.put("/customers/:customer_id/accounts/:account_id/rate", {
    schema: {
      tags: ["money"], summary: "Set consumption per second (0 stops it)", params: AccountParams, body: RateBody,
      response: { 200: Account, ...problems(400, 401, 403, 404, 413, 415, 504) },
    },
  }, async (request) => await billing.setRate(backend, request.params.customer_id, request.params.account_id, request.body.rate_per_s));

  app.get("/customers/:customer_id/accounts/:account_id/ledger", {
    schema: {
      tags: ["money"], summary: "The account statement, oldest first, one page at a time", params: AccountParams, querystring: LedgerQuery,
      response: { 200: LedgerPage, ...problems(400, 401, 404) },
    },
  }, async (request) => await billing.ledger(backend, request.params.customer_id, request.params.account_id, request.query));

  app.get("/notifications/pending", {
    schema: {
      tags: ["notifications"], summary: "Power-off notifications not yet delivered, from every replica set", querystring: PendingQuery,
      response: { 200: PendingNotifications, ...problems(400, 401) },
    },
  }, async (request) => await billing.pendingNotifications(backend, request.query.limit));
}
