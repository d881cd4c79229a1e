/** An account's whole statement, page by page (1,000 entries a page), through a router or straight from one instance. */
import type { Router } from "../../src/router/index.ts";

export type LedgerEntry = Record<string, unknown> & { seq: number; at_ms: number; kind: string; amount: string; charged: string; balance_after: string; rate_after: string; reference: string };

interface Page {
  entries: LedgerEntry[];
  has_more: boolean;
  next_after_seq?: number;
}

export async function pagedLedger(fetchPage: (after_seq: number) => Promise<Page>): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let after_seq = 0;
  for (let page = 0; page < 10_000; page++) {
    const result = await fetchPage(after_seq);
    entries.push(...result.entries);
    if (!result.has_more) return entries;
    after_seq = result.next_after_seq!;
  }
  throw new Error("ledger longer than 10^7 entries");
}

export async function routerLedger(router: Router, customer_id: number, account_id: number): Promise<LedgerEntry[]> {
  return await pagedLedger((after_seq) => router.call<Page>(customer_id, "billing_ledger", { customer_id, account_id, after_seq, limit: 1000 },
    { write: false, timeoutMs: 10_000 }));
}
