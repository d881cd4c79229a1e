/**
 * A generated corpus of malformed HTTP requests against every billing route
 * of the gateway (seed and /v1): wrong types, negative, zero, NaN, exponent
 * and over-scale amounts, huge numbers, unknown ids, missing and extra
 * fields, broken JSON, oversized bodies, injection strings, odd content
 * types, bad path parameters and queries, wrong methods. Every request is
 * refused by construction: a body mutation starts from a request that would
 * succeed (a new customer, a deposit into an existing account) and breaks
 * exactly one thing, so a hole in validation shows up as a 2xx.
 *
 * Sent over a real socket with node:http (raw paths, raw bodies, any
 * Content-Type), so the HTTP parser and the router are exercised too.
 */
import { request as httpRequest } from "node:http";
import fc from "fast-check";

export interface BadRequest {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Raw body text (sent as is); undefined: no body. */
  body?: string;
  /** Set on the classes of requests a known, reported bug answers wrongly (tested apart, as todo). */
  knownIssue?: string;
}

/** The reported gateway bugs this corpus runs into, by the requests that show them. */
export const KNOWN_ISSUES = {
  frameworkErrors: "a malformed URL (bad percent-encoding) or a path parameter over 64 characters is answered by Fastify's default "
    + "error body (application/json, FST_ERR_BAD_URL / FST_ERR_MAX_PARAM_LENGTH), not problem+json: app.ts sets no frameworkErrors handler",
  charset: "a JSON body labelled charset=utf-16 (any charset) is read as UTF-8 and accepted on /v1",
} as const;

function knownIssueOf(request: BadRequest): string | undefined {
  const segments = request.path.split("?")[0]!.split("/");
  if (segments.some((segment) => segment.length > 64 || /%(?![0-9A-Fa-f]{2})/.test(segment))) return KNOWN_ISSUES.frameworkErrors;
  if (/charset=(?!utf-8)/i.test(request.headers?.["content-type"] ?? "")) return KNOWN_ISSUES.charset;
  return undefined;
}

export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** The ids the corpus aims at: an existing customer and account (whose money must not move) and one that must never exist. */
export interface Targets {
  customer_id: number;
  account_id: number;
  /** A customer id the corpus uses for creates: a create that got through would make it exist. */
  new_customer_id: number;
  unknown_customer_id: number;
}

const INJECTIONS = [
  "' OR '1'='1", "1; DROP TABLE accounts", "\"; box.space.accounts:truncate() --", "${jndi:ldap://127.0.0.1/a}", "<script>alert(1)</script>",
  "../../etc/passwd", "%00", "\u0000", "{{7*7}}", "$(id)", "`id`", "\r\nX-Injected: 1", "os.execute('id')", "require('fio')",
];

/** Values that are not a valid id (a positive integer up to 2^53-1). */
const BAD_IDS: unknown[] = [
  0, -1, 1.5, -0.5, "1", "abc", "", null, true, false, [], [1], {}, { id: 1 }, 9007199254740992, 1e21, 1e300, -1e300, 2 ** 64, "9007199254740993",
  "1e3", "0x10", ...INJECTIONS.slice(0, 6),
];

/** Values that are not a valid amount (a positive decimal string or whole number, <= 6 fractional digits, < 10^15). */
const BAD_AMOUNTS: unknown[] = [
  -1, "-1", "-0.5", 0, "0", "0.0", "0.000000", "00", "01", ".5", "5.", "1..2", "1.2.3", "+1", " 1", "1 ", "1,5", "1_000", "0x10", "1e3", "1E+5", "1e-3",
  "NaN", "Infinity", "-Infinity", "nan", "inf", 1.5, 0.1, 1e-7, 1e300, 1e21, 2 ** 53 + 2, 1_000_000_000_000_000, "1.1234567", "0.0000001", "1000000000000000",
  "999999999999999999999999999999999999999999", "9".repeat(400), "1." + "1".repeat(100), "", " ", null, true, false, [], ["1"], {}, { value: "1" },
  "\u0661", "١٠", "１", "1\u0000", "1\n", ...INJECTIONS,
];

/** Values that are not a valid rate (a decimal string or whole number >= 0, <= 6 fractional digits, < 10^9). */
const BAD_RATES: unknown[] = BAD_AMOUNTS.filter((v) => !(v === 0 || v === "0" || v === "0.0" || v === "0.000000" || v === "00" || v === "1000000000000000"))
  .concat(["1000000000", 1_000_000_000, "1000000000.5"]);

const BAD_NAMES: unknown[] = ["", "x".repeat(257), "é".repeat(257), "x".repeat(5000), 1, 0, null, true, [], ["a"], {}, { first: "a" }];

const BAD_PATH_IDS = [
  "0", "-1", "abc", "1.5", "1e3", "0x10", "9007199254740992", "99999999999999999999", "%00", "%zz", "%", "1%3B", "1;DROP", "..", "..%2F..%2Fetc",
  "%2e%2e", "1%20", "%201", "1'", "%27%20OR%201=1", "١", "null", "true", "x".repeat(65), "1".repeat(70), "%F0%9F%92%B0",
];

const BROKEN_JSON = [
  "{", "}", "{\"amount\":", "{\"amount\": \"1\"", "{'amount': '1'}", "{\"amount\": \"1\",}", "{amount: 1}", "{\"amount\": NaN}", "{\"amount\": Infinity}",
  "{\"amount\": 01}", "{\"amount\": .5}", "{\"amount\": \"1\"}}", "[", "\"unterminated", "nul", "tru", "{\"a\":1}{\"b\":2}", "\u0000", "{\"amount\": \"\\x41\"}",
  "{\"amount\": \"\\ud800\"}", "<xml/>", "amount=1&account_id=1", "--boundary", "[".repeat(30_000) + "]".repeat(30_000),
];

/** Bodies that parse but are not an object of the route's shape. */
const WRONG_SHAPES = ["null", "[]", "[1]", "123", "\"text\"", "true", "{}", "{\"__proto__\": {\"amount\": \"1\"}}", "{\"constructor\": {\"prototype\": {\"x\": 1}}}"];

const ODD_CONTENT_TYPES = [
  "application/xml", "multipart/form-data; boundary=x", "application/octet-stream", "text/html", "application/json; charset=utf-16",
  "application/javascript", "image/png", "application/x-msgpack", "*/*", "application/json, text/plain",
];

interface BodyRoute {
  label: string;
  method: string;
  path: string;
  valid: Record<string, unknown>;
  /** Which fields are ids, money (amount/rate) or names, to mutate each with values of its kind. */
  fields: Record<string, "id" | "amount" | "rate" | "name" | "accounts">;
  /** Seed routes parse text/plain and form bodies as JSON (the seed's curl habit). */
  seed: boolean;
  idempotent?: boolean;
}

function bodyRoutes(t: Targets): BodyRoute[] {
  const c = t.customer_id;
  const a = t.account_id;
  const n = t.new_customer_id;
  return [
    { label: "seed create", method: "POST", path: "/storage/customers/create", seed: true,
      valid: { customer_id: n, name: "new", accounts: [{ account_id: 1, name: "main" }] }, fields: { customer_id: "id", name: "name", accounts: "accounts" } },
    { label: "seed balance", method: "POST", path: `/storage/customers/${c}/update_balance`, seed: true,
      valid: { amount: "1", account_id: a }, fields: { amount: "amount", account_id: "id" } },
    { label: "seed consumption", method: "POST", path: `/storage/customers/${c}/update_consumption`, seed: true,
      valid: { consumption: "1", account_id: a }, fields: { consumption: "rate", account_id: "id" } },
    { label: "v1 create", method: "POST", path: "/v1/customers", seed: false,
      valid: { customer_id: n, name: "new", accounts: [{ account_id: 1, name: "main" }] }, fields: { customer_id: "id", name: "name", accounts: "accounts" } },
    { label: "v1 add account", method: "POST", path: `/v1/customers/${c}/accounts`, seed: false,
      valid: { account_id: a + 1000, name: "extra" }, fields: { account_id: "id", name: "name" } },
    { label: "v1 deposit", method: "POST", path: `/v1/customers/${c}/accounts/${a}/deposits`, seed: false, idempotent: true,
      valid: { amount: "1" }, fields: { amount: "amount" } },
    { label: "v1 rate", method: "PUT", path: `/v1/customers/${c}/accounts/${a}/rate`, seed: false,
      valid: { rate_per_s: "1" }, fields: { rate_per_s: "rate" } },
  ];
}

const JSON_TYPE = { "content-type": "application/json" };

function valuesOf(kind: BodyRoute["fields"][string]): unknown[] {
  if (kind === "id") return BAD_IDS;
  if (kind === "amount") return BAD_AMOUNTS;
  if (kind === "rate") return BAD_RATES;
  if (kind === "name") return BAD_NAMES;
  return [
    "x", 1, null, {}, [null], [1], ["a"], [{}], [{ account_id: 1 }], [{ name: "a" }], [{ account_id: 0, name: "a" }], [{ account_id: 1, name: "" }],
    [{ account_id: 1, name: "a", extra: 1 }], Array.from({ length: 101 }, (_, i) => ({ account_id: i + 1, name: "a" })),
  ];
}

function bodyMutations(route: BodyRoute): BadRequest[] {
  const out: BadRequest[] = [];
  const send = (label: string, body: string, headers: Record<string, string> = JSON_TYPE): void => {
    out.push({ label: `${route.label}: ${label}`, method: route.method, path: route.path, headers, body });
  };
  for (const [field, kind] of Object.entries(route.fields)) {
    for (const value of valuesOf(kind)) send(`${field}=${JSON.stringify(value)?.slice(0, 40)}`, JSON.stringify({ ...route.valid, [field]: value }));
    const { [field]: _dropped, ...missing } = route.valid;
    // accounts is optional on create: dropping it leaves a valid request, so it is not a mutation.
    if (kind !== "accounts") send(`missing ${field}`, JSON.stringify(missing));
  }
  send("extra field", JSON.stringify({ ...route.valid, extra: 1 }));
  send("extra field (bucket_id)", JSON.stringify({ ...route.valid, bucket_id: 1 }));
  send("extra field (idempotency_key in body)", JSON.stringify({ ...route.valid, idempotency_key: "k" }));
  send("field name in another case", JSON.stringify(Object.fromEntries(Object.entries(route.valid).map(([k, v]) => [k.toUpperCase(), v]))));
  for (const text of BROKEN_JSON) send(`broken JSON ${JSON.stringify(text.slice(0, 30))}`, text);
  for (const text of WRONG_SHAPES) send(`shape ${text.slice(0, 30)}`, text);
  send("empty body", "");
  send("oversized body (65 KiB)", JSON.stringify({ ...route.valid, pad: "x".repeat(65 * 1024) }));
  send("oversized body (1 MiB)", JSON.stringify({ ...route.valid, pad: "x".repeat(1024 * 1024) }));
  send("no content type", JSON.stringify({ ...route.valid, extra: 1 }), {});
  for (const type of ODD_CONTENT_TYPES) {
    // /v1 refuses these types (415) even with a valid body; the seed routes parse some as JSON, so they get an invalid one.
    send(`content type ${type}`, route.seed ? JSON.stringify({ ...route.valid, extra: 1 }) : JSON.stringify(route.valid), { "content-type": type });
  }
  if (route.seed) {
    send("text/plain, invalid", JSON.stringify({ ...route.valid, extra: 1 }), { "content-type": "text/plain" });
    send("form encoded", "amount=1&account_id=1", { "content-type": "application/x-www-form-urlencoded" });
  } else {
    send("text/plain, valid JSON", JSON.stringify(route.valid), { "content-type": "text/plain" });
    send("form encoded, valid JSON", JSON.stringify(route.valid), { "content-type": "application/x-www-form-urlencoded" });
  }
  if (route.idempotent === true) {
    for (const key of ["", "k".repeat(129), "k".repeat(10_000)]) {
      send(`idempotency key of ${key.length} characters`, JSON.stringify(route.valid), { ...JSON_TYPE, "idempotency-key": key });
    }
    for (const injection of INJECTIONS.filter((s) => !/[\r\n\u0000]/.test(s))) {
      send(`idempotency key ${JSON.stringify(injection)} with a bad amount`, JSON.stringify({ amount: "-1" }), { ...JSON_TYPE, "idempotency-key": injection });
    }
  }
  return out;
}

function pathMutations(t: Targets): BadRequest[] {
  const out: BadRequest[] = [];
  const c = t.customer_id;
  const a = t.account_id;
  const routes: Array<{ label: string; method: string; path: (cid: string, aid: string) => string; body?: Record<string, unknown> }> = [
    { label: "seed get", method: "GET", path: (cid) => `/storage/customers/${cid}` },
    { label: "seed balance", method: "POST", path: (cid) => `/storage/customers/${cid}/update_balance`, body: { amount: "1", account_id: a } },
    { label: "seed consumption", method: "POST", path: (cid) => `/storage/customers/${cid}/update_consumption`, body: { consumption: "1", account_id: a } },
    { label: "v1 get customer", method: "GET", path: (cid) => `/v1/customers/${cid}` },
    { label: "v1 add account", method: "POST", path: (cid) => `/v1/customers/${cid}/accounts`, body: { account_id: a + 1000, name: "x" } },
    { label: "v1 get account", method: "GET", path: (cid, aid) => `/v1/customers/${cid}/accounts/${aid}` },
    { label: "v1 deposit", method: "POST", path: (cid, aid) => `/v1/customers/${cid}/accounts/${aid}/deposits`, body: { amount: "1" } },
    { label: "v1 rate", method: "PUT", path: (cid, aid) => `/v1/customers/${cid}/accounts/${aid}/rate`, body: { rate_per_s: "1" } },
    { label: "v1 ledger", method: "GET", path: (cid, aid) => `/v1/customers/${cid}/accounts/${aid}/ledger` },
  ];
  for (const route of routes) {
    const withBody = (path: string, label: string): void => {
      const request: BadRequest = { label: `${route.label}: ${label}`, method: route.method, path };
      if (route.body !== undefined) Object.assign(request, { headers: JSON_TYPE, body: JSON.stringify(route.body) });
      out.push(request);
    };
    // Near misses of the real ids: a lax number parser would turn them into the existing account.
    const nearMisses = (id: number): string[] => [`${id}%20`, `%20${id}`, `${id}.0`, `0${id}`, `+${id}`, `${id}%00`, `${id}e0`, `${id}%0A`, `${id}abc`, `0x${id.toString(16)}`];
    for (const bad of [...BAD_PATH_IDS, ...nearMisses(c)]) withBody(route.path(bad, String(a)), `customer id ${bad.slice(0, 20)}`);
    if (route.path("C", "A").includes("/A")) for (const bad of [...BAD_PATH_IDS, ...nearMisses(a)]) withBody(route.path(String(c), bad), `account id ${bad.slice(0, 20)}`);
    // Unknown ids: well-formed, refused with 404 by the storage.
    withBody(route.path(String(t.unknown_customer_id), String(a)), "unknown customer");
    if (route.path("C", "A").includes("/A")) withBody(route.path(String(c), String(a + 999_999)), "unknown account");
    withBody(`${route.path(String(c), String(a))}/`, "trailing slash");
    withBody(`${route.path(String(c), String(a))}/extra`, "extra path segment");
    withBody(route.path(String(c), String(a)).replace("/v1/", "/v2/").replace("/storage/", "/Storage/"), "wrong prefix");
  }
  return out;
}

function queryMutations(t: Targets): BadRequest[] {
  const ledger = `/v1/customers/${t.customer_id}/accounts/${t.account_id}/ledger`;
  const queries = [
    "limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1.5", "limit=1e2", "limit=", "limit=1&limit=2", "after_seq=-1", "after_seq=1.5",
    "after_seq=abc", "after_seq=9007199254740992", "after_seq=1e400", "foo=1", "limit=1%20OR%201=1", "limit=%00", "limit[]=1", "limit[gt]=1",
    "__proto__[limit]=1", "limit=99999999999999999999999",
  ];
  const out: BadRequest[] = queries.map((q) => ({ label: `ledger ?${q}`, method: "GET", path: `${ledger}?${q}` }));
  for (const q of ["limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1.5", "foo=1", "limit=1&limit=2", "limit=%27"]) {
    out.push({ label: `pending ?${q}`, method: "GET", path: `/v1/notifications/pending?${q}` });
  }
  return out;
}

function methodMutations(t: Targets): BadRequest[] {
  const paths = [
    "/storage/customers/create", `/storage/customers/${t.customer_id}`, `/storage/customers/${t.customer_id}/update_balance`, "/v1/customers",
    `/v1/customers/${t.customer_id}`, `/v1/customers/${t.customer_id}/accounts/${t.account_id}`,
    `/v1/customers/${t.customer_id}/accounts/${t.account_id}/deposits`, `/v1/customers/${t.customer_id}/accounts/${t.account_id}/rate`,
    "/v1/notifications/pending",
  ];
  const out: BadRequest[] = [];
  for (const path of paths) for (const method of ["DELETE", "PATCH", "PUT", "POST", "GET"]) out.push({ label: `${method} ${path}`, method, path, headers: JSON_TYPE, body: "{\"x\":1}" });
  // Keep only the wrong ones: the route table decides what a right method is.
  const right = new Set([
    "POST /storage/customers/create", `GET /storage/customers/${t.customer_id}`, `POST /storage/customers/${t.customer_id}/update_balance`,
    "POST /v1/customers", `GET /v1/customers/${t.customer_id}`, `GET /v1/customers/${t.customer_id}/accounts/${t.account_id}`,
    `POST /v1/customers/${t.customer_id}/accounts/${t.account_id}/deposits`, `PUT /v1/customers/${t.customer_id}/accounts/${t.account_id}/rate`,
    "GET /v1/notifications/pending",
  ]);
  return out.filter((r) => !right.has(`${r.method} ${r.path}`));
}

/** Random JSON documents (fixed seed: the corpus is the same every run) as bodies of each body route. */
function fuzzedBodies(t: Targets, perRoute: number): BadRequest[] {
  const out: BadRequest[] = [];
  bodyRoutes(t).forEach((route, i) => {
    const documents = fc.sample(fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom(...Object.keys(route.valid), "x"), fc.jsonValue(), { maxKeys: 4 })),
      { numRuns: perRoute, seed: 4242 + i });
    for (const document of documents) {
      out.push({ label: `${route.label}: fuzz ${JSON.stringify(document).slice(0, 40)}`, method: route.method, path: route.path, headers: JSON_TYPE, body: JSON.stringify(document) });
    }
  });
  return out;
}

export function corpus(t: Targets, fuzzPerRoute = 25): BadRequest[] {
  const all = [
    ...bodyRoutes(t).flatMap(bodyMutations),
    ...pathMutations(t),
    ...queryMutations(t),
    ...methodMutations(t),
    ...fuzzedBodies(t, fuzzPerRoute),
  ];
  return all.map((request) => {
    const knownIssue = knownIssueOf(request);
    return knownIssue === undefined ? request : { ...request, knownIssue };
  });
}

/** Sends one request over a fresh connection; a socket error or a timeout is an answer of status 0. */
export function send(base: string, request: BadRequest, timeoutMs = 10_000): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...(request.headers ?? {}), connection: "close" };
    if (request.body !== undefined) headers["content-length"] = Buffer.byteLength(request.body);
    // Characters outside printable ASCII are sent percent-encoded, as any client would (node:http refuses them raw).
    const path = request.path.replace(/[^\x21-\x7e]/gu, (character) => encodeURIComponent(character));
    const req = httpRequest({ host: url.hostname, port: url.port, method: request.method, path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (error) => resolve({ status: 0, contentType: "", body: String(error) }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: 0, contentType: "", body: String(error) }));
    if (request.body !== undefined) req.write(request.body);
    req.end();
  });
}

/** Is this answer a proper refusal: 4xx, application/problem+json, a body with the problem's fields? */
export function isProperRefusal(answer: Answer): boolean {
  if (answer.status < 400 || answer.status >= 500) return false;
  if (!answer.contentType.startsWith("application/problem+json")) return false;
  try {
    const problem = JSON.parse(answer.body) as Record<string, unknown>;
    return problem["status"] === answer.status && typeof problem["code"] === "string" && typeof problem["type"] === "string";
  } catch {
    return false;
  }
}
