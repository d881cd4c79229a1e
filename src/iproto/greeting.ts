/**
 * The server greeting and chap-sha1 authentication.
 *
 * Greeting: 128 bytes, two 64-byte lines. Line 1: "Tarantool 2.6.0 (Binary) <uuid>",
 * line 2: the base64 salt (44 chars = 32 bytes), both space-padded, "\n"-terminated.
 * Scramble: sha1(password) XOR sha1(salt[0:20] + sha1(sha1(password))).
 */
import { createHash } from "node:crypto";
import { GREETING_LINE_SIZE, GREETING_SIZE, SCRAMBLE_SIZE } from "./constants.ts";
import { IprotoProtocolError } from "./errors.ts";

export interface Greeting {
  /** e.g. "2.6.0" */
  version: string;
  /** Protocol name from the banner, "Binary" for iproto. */
  protocol: string;
  instanceUuid: string;
  salt: Buffer;
}

export function parseGreeting(bytes: Buffer): Greeting {
  if (bytes.length !== GREETING_SIZE) throw new IprotoProtocolError("greeting must be 128 bytes");
  const banner = bytes.subarray(0, GREETING_LINE_SIZE).toString("latin1").trim();
  const m = /^Tarantool (\S+) \((\w+)\)\s*(\S*)/.exec(banner);
  if (!m) throw new IprotoProtocolError(`not a Tarantool greeting: ${JSON.stringify(banner.slice(0, 64))}`);
  const protocol = m[2] ?? "";
  if (protocol !== "Binary") throw new IprotoProtocolError(`server speaks ${protocol}, not the binary protocol`);
  const salt = Buffer.from(bytes.subarray(GREETING_LINE_SIZE).toString("latin1").trim(), "base64");
  if (salt.length < SCRAMBLE_SIZE) throw new IprotoProtocolError("greeting salt too short");
  return { version: m[1] ?? "", protocol, instanceUuid: m[3] ?? "", salt };
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha1");
  for (const p of parts) h.update(p);
  return h.digest();
}

export function chapSha1Scramble(password: string, salt: Buffer): Buffer {
  const step1 = sha1(Buffer.from(password, "utf8"));
  const step2 = sha1(step1);
  const step3 = sha1(salt.subarray(0, SCRAMBLE_SIZE), step2);
  const out = Buffer.alloc(SCRAMBLE_SIZE);
  for (let i = 0; i < SCRAMBLE_SIZE; i++) out[i] = (step1[i] ?? 0) ^ (step3[i] ?? 0);
  return out;
}
