/**
 * IprotoClient: a Tarantool connection that stays up.
 *
 * Behaviour, by decision:
 * - Calls made while not connected reject at once with IprotoConnectionError
 *   (sent = false). They do not queue: the router would rather fail fast and
 *   try elsewhere than wait blind.
 * - When the connection drops, every in-flight call rejects at once with
 *   IprotoConnectionError (sent = true: it may or may not have run), and the
 *   client reconnects in the background with exponential backoff and jitter,
 *   bounded by reconnect.maxDelayMs. This includes a failed first connect().
 * - Authentication refused is fatal for automatic reconnects (state
 *   "auth_failed"): retrying wrong credentials cannot succeed and would hammer
 *   the server. An explicit connect() tries again.
 * - At most maxInFlight requests are outstanding; beyond that, calls reject at
 *   once with IprotoOverloadError without being sent.
 */
import { Body, RequestType } from "./constants.ts";
import { Connection } from "./connection.ts";
import { IprotoAuthError, IprotoConnectionError, IprotoOverloadError } from "./errors.ts";
import type { Greeting } from "./greeting.ts";

export interface ReconnectOptions {
  minDelayMs: number;
  maxDelayMs: number;
}

export interface IprotoClientOptions {
  host: string;
  port: number;
  /** Omit to stay the guest user (no authentication request). */
  user?: string;
  password?: string;
  /** TCP connect + greeting + auth. Default 3000. */
  connectTimeoutMs?: number;
  /** Default per-call timeout. Default 5000. */
  callTimeoutMs?: number;
  /** Default { minDelayMs: 100, maxDelayMs: 5000 }; false disables reconnecting. */
  reconnect?: ReconnectOptions | false;
  /** Default 10000. */
  maxInFlight?: number;
  /** Largest reply accepted, in bytes; a larger one closes the connection. Default 64 MiB. */
  maxPacketBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

export type ClientState =
  | "disconnected" // not connected and not trying: before connect(), or after a failure with reconnect off
  | "connecting"
  | "connected"
  | "reconnecting" // waiting for the next attempt after a failure or a drop
  | "auth_failed" // credentials refused; no automatic retries
  | "closed"; // close() called; terminal

export type StateListener = (state: ClientState, error: Error | undefined) => void;

const DEFAULTS = {
  connectTimeoutMs: 3000,
  callTimeoutMs: 5000,
  reconnect: { minDelayMs: 100, maxDelayMs: 5000 },
  maxInFlight: 10_000,
  maxPacketBytes: 64 * 1024 * 1024,
} as const;

export class IprotoClient {
  private readonly opts: Required<Omit<IprotoClientOptions, "user">> & { user: string | undefined };
  private conn: Connection | undefined;
  private opening: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0; // consecutive failed attempts, drives the backoff
  private currentState: ClientState = "disconnected";
  private lastError: Error | undefined;
  private readonly listeners = new Set<StateListener>();

  constructor(options: IprotoClientOptions) {
    this.opts = {
      host: options.host,
      port: options.port,
      user: options.user,
      password: options.password ?? "",
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      callTimeoutMs: options.callTimeoutMs ?? DEFAULTS.callTimeoutMs,
      reconnect: options.reconnect ?? DEFAULTS.reconnect,
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      maxPacketBytes: options.maxPacketBytes ?? DEFAULTS.maxPacketBytes,
    };
    validatePositive("connectTimeoutMs", this.opts.connectTimeoutMs);
    validatePositive("callTimeoutMs", this.opts.callTimeoutMs);
    validatePositive("maxInFlight", this.opts.maxInFlight);
    validatePositive("maxPacketBytes", this.opts.maxPacketBytes);
    const r = this.opts.reconnect;
    if (r && !(r.minDelayMs > 0 && r.maxDelayMs >= r.minDelayMs)) {
      throw new RangeError("reconnect needs 0 < minDelayMs <= maxDelayMs");
    }
  }

  get state(): ClientState {
    return this.currentState;
  }

  get connected(): boolean {
    return this.currentState === "connected";
  }

  /** Requests awaiting a reply on the current connection. */
  get inFlight(): number {
    return this.conn?.inFlight ?? 0;
  }

  /** The last connection or authentication failure, if any. */
  get error(): Error | undefined {
    return this.lastError;
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once connected and authenticated; rejects with IprotoAuthError or
   * IprotoConnectionError. Concurrent calls share one attempt.
   */
  connect(): Promise<void> {
    if (this.currentState === "closed") {
      return Promise.reject(new IprotoConnectionError("client is closed", false));
    }
    if (this.currentState === "connected") return Promise.resolve();
    if (this.opening) return this.opening;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    return this.attempt();
  }

  /** IPROTO_CALL: resolves with the function's return values. */
  async call(fn: string, args: unknown[] = [], opts: CallOptions = {}): Promise<unknown[]> {
    const body = await this.send(RequestType.CALL, [[Body.FUNCTION_NAME, fn], [Body.TUPLE, args]], opts);
    return dataOf(body);
  }

  /** IPROTO_EVAL: runs a Lua chunk (`...` holds args); resolves with its return values. */
  async eval(expr: string, args: unknown[] = [], opts: CallOptions = {}): Promise<unknown[]> {
    const body = await this.send(RequestType.EVAL, [[Body.EXPR, expr], [Body.TUPLE, args]], opts);
    return dataOf(body);
  }

  async ping(opts: CallOptions = {}): Promise<void> {
    await this.send(RequestType.PING, [], opts);
  }

  /** Closes for good: in-flight calls reject with IprotoConnectionError, no more reconnects. */
  async close(): Promise<void> {
    if (this.currentState === "closed") return;
    this.setState("closed", undefined);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    await conn?.close("client closed");
  }

  private send(type: number, body: ReadonlyArray<readonly [number, unknown]>, opts: CallOptions): Promise<Record<string, unknown>> {
    const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs;
    validatePositive("timeoutMs", timeoutMs);
    const conn = this.conn;
    if (this.currentState !== "connected" || conn === undefined || !conn.isOpen) {
      const cause = this.lastError;
      const why = cause ? `: ${cause.message}` : "";
      return Promise.reject(new IprotoConnectionError(`not connected (${this.currentState})${why}`, false, { cause }));
    }
    if (conn.inFlight >= this.opts.maxInFlight) {
      return Promise.reject(new IprotoOverloadError(this.opts.maxInFlight));
    }
    return conn.request(type, body, timeoutMs);
  }

  private attempt(): Promise<void> {
    this.setState("connecting", undefined);
    const conn = new Connection(
      {
        host: this.opts.host,
        port: this.opts.port,
        user: this.opts.user,
        password: this.opts.password,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        maxPacketBytes: this.opts.maxPacketBytes,
      },
      (err) => this.handleDrop(conn, err),
    );
    this.conn = conn;
    const opening = conn.ready.then(
      (greeting) => this.handleOpen(conn, greeting),
      (err: unknown) => this.handleOpenFailure(conn, err),
    );
    this.opening = opening;
    return opening;
  }

  private handleOpen(conn: Connection, _greeting: Greeting): void {
    this.opening = undefined;
    if (this.conn !== conn) return; // closed while connecting
    this.failures = 0;
    this.lastError = undefined;
    this.setState("connected", undefined);
  }

  private handleOpenFailure(conn: Connection, err: unknown): never {
    this.opening = undefined;
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.conn === conn) {
      this.conn = undefined;
      this.lastError = error;
      if (error instanceof IprotoAuthError) this.setState("auth_failed", error);
      else this.scheduleReconnect(error);
    }
    throw error;
  }

  private handleDrop(conn: Connection, err: IprotoConnectionError): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.lastError = err;
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: Error): void {
    const r = this.opts.reconnect;
    if (this.currentState === "closed") return;
    if (!r) {
      this.setState("disconnected", err);
      return;
    }
    // "Equal jitter": half the backoff fixed, half random, so a fleet of
    // gateways does not reconnect in lockstep after a storage restarts.
    const ceiling = Math.min(r.maxDelayMs, r.minDelayMs * 2 ** Math.min(this.failures, 30));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.failures++;
    this.setState("reconnecting", err);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt().catch(() => {}); // failures are handled (and rescheduled) in handleOpenFailure
    }, delay);
  }

  private setState(state: ClientState, error: Error | undefined): void {
    this.currentState = state;
    for (const listener of this.listeners) {
      try {
        listener(state, error);
      } catch {
        // A listener's bug must not break the connection state machine.
      }
    }
  }
}

function dataOf(body: Record<string, unknown>): unknown[] {
  const data = body[Body.DATA];
  return Array.isArray(data) ? data : [];
}

/** Also bounds timeouts to what setTimeout supports (2^31-1 ms), beyond which Node fires at once. */
function validatePositive(name: string, v: number): void {
  if (!(v > 0 && v <= 0x7fffffff)) throw new RangeError(`${name} must be in (0, 2^31-1], got ${v}`);
}
