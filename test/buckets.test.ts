/**
 * Parity: the router's bucketOf must give the bucket the storage computes with
 * Tarantool's digest.crc32 for every key, or a customer would be looked for on
 * the wrong replica set. A real tarantool computes the reference values.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32c, tarantoolCrc32 } from "../src/router/crc32c.ts";
import { bucketOf, customerKey } from "../src/router/buckets.ts";

const SEQUENTIAL_KEYS = 100_000;
const SCRIPT = fileURLToPath(new URL("./fixtures/bucket_ids.lua", import.meta.url));

/** Large ids up to 2^53-1: powers of ten, their neighbours, and a seeded spread. */
function largeIds(): number[] {
  const ids = new Set<number>([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2 ** 52, 2 ** 32, 2 ** 32 - 1, 2 ** 31, 2 ** 31 - 1]);
  for (let power = 5; power <= 15; power++) {
    for (const delta of [-1, 0, 1]) ids.add(10 ** power + delta);
  }
  let seed = 20240607;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31; // deterministic, so a failure reproduces
    ids.add(Math.floor((seed / 2 ** 31) * (Number.MAX_SAFE_INTEGER - 100_000)) + 100_001);
  }
  return [...ids];
}

interface Reference {
  key: string;
  crc: number;
  bucket3000: number;
  bucket7: number;
}

let dir: string;
let reference: Reference[];
let extra: number[];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "billing-buckets-"));
  extra = largeIds();
  writeFileSync(join(dir, "extra.txt"), extra.join("\n") + "\n");
  execFileSync("tarantool", [SCRIPT, join(dir, "extra.txt"), join(dir, "out.txt"), String(SEQUENTIAL_KEYS)], { timeout: 60_000 });
  reference = readFileSync(join(dir, "out.txt"), "utf8").trim().split("\n").map((line) => {
    const [key, crc, bucket3000, bucket7] = line.split(" ");
    return { key: key!, crc: Number(crc), bucket3000: Number(bucket3000), bucket7: Number(bucket7) };
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("crc32c", () => {
  it("matches the published CRC-32C check value and an empty input", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array()), 0);
  });

  it("gives Tarantool's digest.crc32: CRC-32C without the final XOR", () => {
    assert.equal(tarantoolCrc32("18"), 3880260519);
    assert.equal(tarantoolCrc32("123456789"), (~0xe3069283) >>> 0);
    assert.equal(tarantoolCrc32(""), 0xffffffff);
  });

  it("refuses non-ASCII text instead of hashing the wrong bytes", () => {
    assert.throws(() => tarantoolCrc32("é"), RangeError);
  });
});

describe("bucketOf parity with the storage", () => {
  it("tarantool produced every key asked for", () => {
    assert.equal(reference.length, SEQUENTIAL_KEYS + extra.length);
    assert.equal(reference[0]!.key, "1");
    assert.equal(reference[reference.length - 1]!.key, customerKey(extra[extra.length - 1]!));
  });

  it("agrees on the key string, the checksum and the bucket for every key", () => {
    let mismatches = 0;
    const examples: string[] = [];
    for (const row of reference) {
      const id = Number(row.key);
      const ours = { key: customerKey(id), crc: tarantoolCrc32(customerKey(id)), bucket3000: bucketOf(id, 3000), bucket7: bucketOf(id, 7) };
      if (ours.key !== row.key || ours.crc !== row.crc || ours.bucket3000 !== row.bucket3000 || ours.bucket7 !== row.bucket7) {
        mismatches += 1;
        if (examples.length < 5) examples.push(`${row.key}: tarantool ${JSON.stringify(row)} router ${JSON.stringify(ours)}`);
      }
    }
    assert.equal(mismatches, 0, examples.join("\n"));
  });

  it("includes 2^53-1 written as plain digits", () => {
    assert.ok(reference.some((row) => row.key === "9007199254740991"));
    assert.equal(customerKey(Number.MAX_SAFE_INTEGER), "9007199254740991");
  });

  it("spreads sequential keys evenly over 3000 buckets", () => {
    const counts = new Array<number>(3001).fill(0);
    for (let id = 1; id <= SEQUENTIAL_KEYS; id++) counts[bucketOf(id, 3000)]! += 1;
    const used = counts.slice(1);
    assert.ok(Math.min(...used) > 0, "some bucket got no key");
    assert.ok(Math.max(...used) < (SEQUENTIAL_KEYS / 3000) * 3, `a bucket got ${Math.max(...used)} keys`);
  });

  it("refuses ids the storage would refuse, and a bad bucket_count", () => {
    for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) assert.throws(() => bucketOf(bad, 3000), RangeError);
    for (const bad of [0, 1.5, 1_000_001]) assert.throws(() => bucketOf(1, bad), RangeError);
  });
});
