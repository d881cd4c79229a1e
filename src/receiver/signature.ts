/**
 * Verifying a power-off notification. The storage node signs, per request:
 *   X-Billing-Signature: v1=hex(HMAC-SHA256(secret, "t.event_id.kind.user_id.account_id.occurred_at_ms"))
 * where t is X-Billing-Timestamp (ms). A receiver recomputes it from the
 * headers it got and compares in constant time; it should also refuse old
 * timestamps (replay) and de-duplicate by X-Billing-Event-Id.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function signedFields(headers: HeaderBag): string[] | undefined {
  const names = ["x-billing-timestamp", "x-billing-event-id", "x-billing-event", "x-billing-user-id", "x-billing-account-id", "x-billing-occurred-at"];
  const values = names.map((name) => header(headers, name));
  return values.every((v): v is string => v !== undefined) ? values : undefined;
}

export function expectedSignature(secret: string, fields: string[]): string {
  return `v1=${createHmac("sha256", secret).update(fields.join(".")).digest("hex")}`;
}

/** True when the signature header matches the other headers under `secret`. */
export function verifySignature(headers: HeaderBag, secret: string): boolean {
  const given = header(headers, "x-billing-signature");
  const fields = signedFields(headers);
  if (given === undefined || fields === undefined) return false;
  const expected = Buffer.from(expectedSignature(secret, fields));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
