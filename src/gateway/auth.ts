/**
 * API tokens. `BILLING_API_TOKEN` (or the `tokens` option) is a
 * comma-separated list; each entry is a token, optionally suffixed with
 * `:read` (GET routes only) or `:write` (every route, the default).
 * Tokens are compared in constant time and never logged: logs name a token
 * by the first 8 hex digits of its SHA-256 (`token_id`).
 */
import { createHash, timingSafeEqual } from "node:crypto";

export type TokenScope = "read" | "write";

export interface ApiToken {
  token: string;
  scope: TokenScope;
}

/** Short enough to type, long enough that guessing is hopeless. */
export const TOKEN_LENGTH_MIN = 16;
const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/=-]+$/;

export class TokenConfigError extends Error {
  override readonly name = "TokenConfigError";
}

/** Parses the comma-separated form; throws TokenConfigError without echoing the token. */
export function parseTokens(text: string): ApiToken[] {
  const tokens: ApiToken[] = [];
  text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "").forEach((entry, index) => {
    const suffix = /:(read|write)$/.exec(entry);
    const token = suffix === null ? entry : entry.slice(0, -suffix[0].length);
    const scope: TokenScope = suffix?.[1] === "read" ? "read" : "write";
    if (!TOKEN_SYNTAX.test(token)) throw new TokenConfigError(`API token #${index + 1} has characters outside A-Z a-z 0-9 . _ ~ + / = -`);
    if (token.length < TOKEN_LENGTH_MIN) throw new TokenConfigError(`API token #${index + 1} is shorter than ${TOKEN_LENGTH_MIN} characters`);
    tokens.push({ token, scope });
  });
  return tokens;
}

interface StoredToken {
  digest: Buffer;
  scope: TokenScope;
  id: string;
}

export interface Principal {
  token_id: string;
  scope: TokenScope;
}

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; reason: "missing" | "malformed" | "unknown" };

function digestOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

export class TokenSet {
  private readonly stored: StoredToken[];

  constructor(tokens: readonly ApiToken[]) {
    this.stored = tokens.map((entry) => {
      const digest = digestOf(entry.token);
      return { digest, scope: entry.scope, id: digest.subarray(0, 4).toString("hex") };
    });
  }

  get size(): number {
    return this.stored.length;
  }

  /** Checks an Authorization header value. Compares against every token so the time taken does not tell which matched. */
  authenticate(header: string | undefined): AuthOutcome {
    if (header === undefined || header === "") return { ok: false, reason: "missing" };
    const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header);
    if (match === null) return { ok: false, reason: "malformed" };
    const presented = digestOf(match[1]!);
    let found: StoredToken | undefined;
    for (const candidate of this.stored) {
      if (timingSafeEqual(candidate.digest, presented) && found === undefined) found = candidate;
    }
    if (found === undefined) return { ok: false, reason: "unknown" };
    return { ok: true, principal: { token_id: found.id, scope: found.scope } };
  }
}
