/**
 * The seed's routes, kept for existing callers with the same paths and
 * payloads (amounts as strings, `consumption` for the rate) and 200 on
 * success. New callers should use /v1.
 */
import type { FastifyInstance } from "fastify";
import type { BillingBackend } from "../backend.ts";
import * as billing from "../billing.ts";
import {
  Account, CreateCustomerBody, Customer, CustomerParams, DepositResult, IdempotencyHeaders,
  SeedBalanceBody, SeedConsumptionBody, problems,
} from "../schemas.ts";
import type { TypeBoxProvider } from "../validation.ts";

export async function seedRoutes(parent: FastifyInstance, options: { backend: BillingBackend }): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxProvider>();
  const backend = options.backend;
  const tags = ["seed"];
  // The seed's callers send a JSON body whatever Content-Type they set (`curl -d` says
  // application/x-www-form-urlencoded; the original handler read the body as JSON
  // regardless). Here only, those types are parsed as JSON too; /v1 answers them 415.
  app.addContentTypeParser(["application/x-www-form-urlencoded", "text/plain"], { parseAs: "string" }, app.getDefaultJsonParser("error", "error"));

  app.post("/customers/create", {
    schema: { tags, summary: "Create a customer with its accounts (seed)", body: CreateCustomerBody, response: { 200: Customer, ...problems(400, 401, 403, 409, 413, 415, 422, 504) } },
  }, async (request) => await billing.createCustomer(backend, request.body));

  app.post("/customers/:customer_id/update_balance", {
    schema: {
      tags, summary: "Add money to an account (seed)", params: CustomerParams, headers: IdempotencyHeaders, body: SeedBalanceBody,
      response: { 200: DepositResult, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 504) },
    },
  }, async (request) => {
    const { customer_id } = request.params;
    return await billing.deposit(backend, customer_id, request.body.account_id, request.body.amount, request.headers["idempotency-key"]);
  });

  app.post("/customers/:customer_id/update_consumption", {
    schema: {
      tags, summary: "Set an account's consumption per second (seed)", params: CustomerParams, body: SeedConsumptionBody,
      response: { 200: Account, ...problems(400, 401, 403, 404, 413, 415, 504) },
    },
  }, async (request) => await billing.setRate(backend, request.params.customer_id, request.body.account_id, request.body.consumption));

  app.get("/customers/:customer_id", {
    schema: { tags, summary: "A customer with live balances (seed)", params: CustomerParams, response: { 200: Customer, ...problems(400, 401, 404) } },
  }, async (request) => await billing.getCustomer(backend, request.params.customer_id));
}
