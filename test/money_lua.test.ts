/**
 * The lazy-balance algebra, run inside Tarantool (the compiled storage/money
 * module) and checked against an exact BigInt reference: tiny rates over long
 * spans, huge balances, and the deadline that is never early and never late.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../src/cluster/storage-process.ts";
import { toScaled } from "./support/single-node.ts";
import { seededRandom } from "./support/random.ts";

const SCALE = 12;

interface Case { balance: string; rate: string; elapsed_ms: number }
interface Result { balance_at: string; depletes_at: number | null; parse: string[] }

function runInTarantool(cases: Case[], parseInputs: string[]): Result[] {
  const dir = mkdtempSync(join(tmpdir(), "billing-money-"));
  try {
    writeFileSync(join(dir, "cases.json"), JSON.stringify({ cases, parseInputs }));
    const script = `
      package.path = '${REPO_ROOT}/build/lua/?.lua;' .. package.path
      local json = require('json')
      local decimal = require('decimal')
      local money = require('storage.money')
      local f = io.open('${dir}/cases.json'); local input = json.decode(f:read('*a')); f:close()
      local parsed = {}
      for _, text in ipairs(input.parseInputs) do
        local p = money.parseMoney(text, 'amount', 15, 'INVALID_AMOUNT')
        table.insert(parsed, p.ok and money.moneyString(p.value) or p.error)
      end
      local out = {}
      for i, c in ipairs(input.cases) do
        local b, r = decimal.new(c.balance), decimal.new(c.rate)
        local at = money.depletesAt(b, r, 0)
        out[i] = { balance_at = money.moneyString(money.balanceAt(b, r, 0, c.elapsed_ms)),
                   depletes_at = at == nil and json.NULL or at, parse = parsed }
      end
      local o = io.open('${dir}/out.json', 'w'); o:write(json.encode(out)); o:close()
      os.exit(0)`;
    writeFileSync(join(dir, "run.lua"), script);
    execFileSync("tarantool", [join(dir, "run.lua")], { timeout: 30_000 });
    return JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as Result[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function referenceBalanceAt(balance: bigint, rate: bigint, elapsed_ms: number): bigint {
  const consumed = (rate * BigInt(elapsed_ms)) / 1000n; // exact: rate has at most 6 fractional digits
  return consumed < balance ? balance - consumed : 0n;
}

function referenceDepletesAt(balance: bigint, rate: bigint): number | null {
  if (rate === 0n) return null;
  const t = (balance * 1000n + rate - 1n) / rate; // ceil
  return t > 10_000_000_000_000n ? null : Number(t);
}


function randomMoney(random: () => number, integerDigits: number): string {
  const whole = BigInt(Math.floor(random() * 10 ** Math.min(integerDigits, 15)));
  const fraction = Math.floor(random() * 1e6).toString().padStart(6, "0");
  return `${whole}.${fraction}`;
}

describe("money algebra inside Tarantool", () => {
  it("settles balances and computes deadlines exactly", () => {
    const random = seededRandom(42);
    const cases: Case[] = [
      { balance: "1", rate: "0.000001", elapsed_ms: 10 * 365 * 24 * 3600 * 1000 },
      { balance: "1000000", rate: "0.000001", elapsed_ms: 100 * 365 * 24 * 3600 * 1000 },
      { balance: "999999999999999999.999999", rate: "0.000001", elapsed_ms: 1 },
      { balance: "999999999999999999.999999", rate: "999999999.999999", elapsed_ms: 999 },
      { balance: "0.000001", rate: "999999999.999999", elapsed_ms: 0 },
      { balance: "1", rate: "3", elapsed_ms: 333 },
      { balance: "1", rate: "3", elapsed_ms: 334 },
      { balance: "10", rate: "0", elapsed_ms: 10 ** 12 },
      { balance: "0", rate: "1", elapsed_ms: 5 },
    ];
    for (let i = 0; i < 2000; i++) {
      cases.push({
        balance: randomMoney(random, 1 + Math.floor(random() * 15)),
        rate: randomMoney(random, Math.floor(random() * 6)),
        elapsed_ms: Math.floor(random() * 10 ** (1 + Math.floor(random() * 11))),
      });
    }
    const results = runInTarantool(cases, []);
    cases.forEach((c, i) => {
      const balance = toScaled(c.balance, SCALE);
      const rate = toScaled(c.rate, SCALE);
      const got = results[i]!;
      assert.equal(toScaled(got.balance_at, SCALE), referenceBalanceAt(balance, rate, c.elapsed_ms), `balanceAt ${JSON.stringify(c)}`);
      assert.equal(got.depletes_at, referenceDepletesAt(balance, rate), `depletesAt ${JSON.stringify(c)}`);
      if (got.depletes_at !== null && got.depletes_at > 0) {
        // Never early: at the deadline the money is gone; never late: a millisecond before, it is not.
        assert.equal(referenceBalanceAt(balance, rate, got.depletes_at), 0n);
        if (balance > 0n) assert.ok(rate * BigInt(got.depletes_at - 1) < balance * 1000n, `late deadline ${JSON.stringify(c)}`);
      }
    });
  });

  it("parses only canonical decimal strings within scale and range", () => {
    const inputs = ["18", "0.5", "1.500000", "1.5000000", "999999999999999.999999", "1000000000000000", "1e5", "-1", "01", "1.0000001"];
    const [first] = runInTarantool([{ balance: "1", rate: "1", elapsed_ms: 0 }], inputs);
    assert.deepEqual(first!.parse, [
      "18", "0.5", "1.5", "1.5", "999999999999999.999999", "AMOUNT_OUT_OF_RANGE", "INVALID_AMOUNT", "INVALID_AMOUNT", "INVALID_AMOUNT",
      "AMOUNT_SCALE_EXCEEDED",
    ]);
  });
});
