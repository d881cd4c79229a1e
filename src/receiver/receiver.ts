/**
 * A demo power-off receiver: the endpoint the platform would run. It records
 * every GET (user id, event id, arrival time), verifies the signature when it
 * knows the secret, and answers 200 (or what a test tells it to, to simulate
 * an outage). Used by the local cluster and by the tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "./signature.ts";

export interface Delivery {
  user_id: string | undefined;
  account_id: string | undefined;
  event_id: string | undefined;
  kind: string | undefined;
  occurred_at_ms: number | undefined;
  received_at_ms: number;
  path: string;
  signature_valid: boolean | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export interface ReceiverOptions {
  host?: string;
  port?: number;
  secret?: string;
  /** Called on every delivery (logging in the demo). */
  onDelivery?: (delivery: Delivery) => void;
  /** Most deliveries kept in memory; older ones are dropped from the list (counts stay exact). */
  keepMax?: number;
}

export class PoweroffReceiver {
  readonly deliveries: Delivery[] = [];
  /** Status code answered; 200 normally, e.g. 503 to simulate an outage. */
  status = 200;
  total = 0;
  private server: Server | undefined;
  private waiters: Array<() => void> = [];
  /** The port of the first start, kept so a restarted receiver comes back at the same URL. */
  private boundPort: number | undefined;

  constructor(private readonly options: ReceiverOptions = {}) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (address === undefined) throw new Error("receiver is not listening");
    return `http://${address.address}:${address.port}/poweroff`;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.boundPort ?? this.options.port ?? 0, this.options.host ?? "127.0.0.1", () => resolve());
    });
    this.boundPort = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const received_at_ms = Date.now();
    const url = new URL(req.url ?? "/", "http://receiver");
    const one = (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const occurred = one("x-billing-occurred-at");
    const delivery: Delivery = {
      user_id: url.searchParams.get("user_id") ?? undefined,
      account_id: one("x-billing-account-id"),
      event_id: one("x-billing-event-id"),
      kind: one("x-billing-event"),
      occurred_at_ms: occurred === undefined ? undefined : Number(occurred),
      received_at_ms,
      path: req.url ?? "/",
      signature_valid: this.options.secret === undefined ? undefined : verifySignature(req.headers, this.options.secret),
      headers: req.headers,
    };
    const status = req.method === "GET" ? this.status : 405;
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(status === 200 ? "ok\n" : "unavailable\n");
    if (status !== 200) return;
    this.total += 1;
    this.deliveries.push(delivery);
    const keepMax = this.options.keepMax ?? 1_000_000;
    if (this.deliveries.length > keepMax) this.deliveries.splice(0, this.deliveries.length - keepMax);
    this.options.onDelivery?.(delivery);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `predicate` holds over the deliveries, or rejects after `timeoutMs`. */
  async waitFor(predicate: (deliveries: Delivery[]) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.deliveries)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`receiver: condition not met within ${timeoutMs} ms (${this.deliveries.length} deliveries)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
