/**
 * One TCP connection to Tarantool, from greeting to close. It never
 * reconnects; IprotoClient replaces it when it dies.
 *
 * Invariant: every request handed to `request()` settles exactly once — with
 * its reply, its timeout, or an IprotoConnectionError when the socket closes.
 */
import { connect as netConnect, type Socket } from "node:net";
import { Body, ErrCode, GREETING_SIZE, RequestType, ResponseCode } from "./constants.ts";
import { decodeReply, serverErrorOf, type Reply } from "./decode.ts";
import { RawStr, encodeRequest } from "./encode.ts";
import {
  IprotoAuthError,
  IprotoConnectionError,
  IprotoError,
  IprotoServerError,
  IprotoTimeoutError,
} from "./errors.ts";
import { chapSha1Scramble, parseGreeting, type Greeting } from "./greeting.ts";
import { PacketReader } from "./frames.ts";

export interface ConnectionOptions {
  host: string;
  port: number;
  user: string | undefined;
  password: string;
  connectTimeoutMs: number;
  maxPacketBytes: number;
}

interface Pending {
  resolve: (body: Reply["body"]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Server errors to an auth request that mean "wrong credentials", not "try later". */
const CREDENTIAL_ERRORS: ReadonlySet<number> = new Set([
  ErrCode.PASSWORD_MISMATCH,
  ErrCode.NO_SUCH_USER,
  ErrCode.ACCESS_DENIED, // e.g. the user lacks the 'session' privilege
]);

/** Sync ids wrap well before 2^53; a collision would need 4 billion requests in flight. */
const MAX_SYNC = 0xffffffff;

export class Connection {
  /** Resolves once the greeting is read and authentication succeeded. */
  readonly ready: Promise<Greeting>;
  /** Resolves when the socket is fully closed. */
  readonly closed: Promise<void>;

  private readonly socket: Socket;
  private readonly reader: PacketReader;
  private readonly pending = new Map<number, Pending>();
  private nextSync = 1;
  private isReady = false;
  private isClosed = false;
  private corked = false;
  private lastError: Error | undefined;
  private closeReason: IprotoError | undefined;
  /** Set until the 128-byte greeting has arrived. */
  private greetingWaiter: ((raw: Buffer) => void) | undefined;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly onClose: (err: IprotoConnectionError) => void,
  ) {
    this.reader = new PacketReader(opts.maxPacketBytes);
    this.socket = netConnect({ host: opts.host, port: opts.port });
    this.socket.setNoDelay(true); // requests are small and latency-bound
    this.socket.setKeepAlive(true, 10_000); // notice a peer that vanished without a FIN
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve()));
    // One permanent data listener: swapping listeners could drop a chunk in between.
    this.socket.on("data", (chunk: Buffer) => this.handleData(chunk));
    this.socket.on("error", (err) => (this.lastError = err));
    this.ready = this.handshake();
    this.ready.catch(() => {}); // observed by the client; avoid an unhandled rejection here
    this.socket.on("close", () => this.handleClose());
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get isOpen(): boolean {
    return this.isReady && !this.isClosed;
  }

  /** Sends one request; resolves with the reply body, rejects with a typed IprotoError. */
  request(type: number, body: ReadonlyArray<readonly [number, unknown]>, timeoutMs: number): Promise<Reply["body"]> {
    // A peer that already closed its side (FIN read, "close" not yet emitted) will never see this
    // request: Node refuses the write. Say so, so callers may retry a write safely.
    if (this.isClosed || this.socket.readableEnded || !this.socket.writable) {
      return Promise.reject(new IprotoConnectionError("connection is closed; request not sent", false));
    }
    const sync = this.nextSync;
    this.nextSync = sync >= MAX_SYNC ? 1 : sync + 1;
    const packet = encodeRequest(type, sync, body); // throws TypeError on unencodable args: nothing sent
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The server may still answer; that late reply finds no entry and is dropped.
        this.pending.delete(sync);
        reject(new IprotoTimeoutError(`no reply within ${timeoutMs} ms`, timeoutMs));
      }, timeoutMs);
      this.pending.set(sync, { resolve, reject, timer });
      this.write(packet);
    });
  }

  /** Closes the socket; in-flight requests reject with IprotoConnectionError. */
  close(reason = "connection closed by the client"): Promise<void> {
    this.closeReason ??= new IprotoConnectionError(reason, true);
    this.socket.destroy();
    return this.closed;
  }

  private write(packet: Buffer): void {
    // Pipelined calls issued in the same tick go out in one syscall.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(packet);
  }

  private async handshake(): Promise<Greeting> {
    const timer = setTimeout(() => {
      this.closeReason ??= new IprotoConnectionError(`connect timed out after ${this.opts.connectTimeoutMs} ms`, false);
      this.socket.destroy();
    }, this.opts.connectTimeoutMs);
    try {
      const greeting = parseGreeting(await this.readGreeting());
      if (this.opts.user !== undefined) await this.authenticate(this.opts.user, greeting.salt);
      this.isReady = true;
      return greeting;
    } catch (err) {
      this.closeReason ??= err instanceof IprotoError ? err : new IprotoConnectionError(String(err), false, { cause: err });
      this.socket.destroy();
      throw this.closeReason;
    } finally {
      clearTimeout(timer);
    }
  }

  private readGreeting(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.greetingWaiter = resolve;
      this.socket.once("close", () => {
        if (this.greetingWaiter === undefined) return;
        this.greetingWaiter = undefined;
        reject(this.closeReason ?? this.connectionLost(false));
      });
    });
  }

  private async authenticate(user: string, salt: Buffer): Promise<void> {
    const scramble = chapSha1Scramble(this.opts.password, salt);
    const body = [[Body.USER_NAME, user], [Body.TUPLE, ["chap-sha1", new RawStr(scramble)]]] as const;
    try {
      await this.request(RequestType.AUTH, body, this.opts.connectTimeoutMs);
    } catch (err) {
      // Only a refusal of the credentials is an auth failure. Other errors are
      // transient: a server still bootstrapping answers ER_LOADING (116) here.
      if (err instanceof IprotoServerError && CREDENTIAL_ERRORS.has(err.code)) {
        throw new IprotoAuthError(`authentication as '${user}' failed: ${err.message}`, err.code);
      }
      if (err instanceof IprotoServerError) {
        throw new IprotoConnectionError(`authentication not possible yet: ${err.message}`, false, { cause: err });
      }
      throw err;
    }
  }

  private handleData(chunk: Buffer): void {
    this.reader.push(chunk);
    if (this.greetingWaiter !== undefined) {
      const raw = this.reader.takeRaw(GREETING_SIZE); // the greeting has no length prefix
      if (raw === null) return;
      const waiter = this.greetingWaiter;
      this.greetingWaiter = undefined;
      waiter(raw);
    }
    try {
      for (let packet = this.reader.next(); packet !== null; packet = this.reader.next()) {
        this.dispatch(packet);
      }
    } catch (err) {
      // Framing is lost (bad prefix, oversized packet): the stream cannot be resynchronized.
      this.closeReason ??= new IprotoConnectionError(`protocol error: ${(err as Error).message}`, true, { cause: err });
      this.socket.destroy();
    }
  }

  private dispatch(packet: Buffer): void {
    const decoded = decodeReply(packet);
    if ("fatal" in decoded) throw decoded.fatal;
    if ("error" in decoded) return this.settle(decoded.sync, (p) => p.reject(decoded.error));
    const { reply } = decoded;
    // box.session.push() messages share the sync of the running call; they are not its reply.
    if (reply.code === ResponseCode.CHUNK) return;
    if (reply.code & ResponseCode.ERROR_FLAG) return this.settle(reply.sync, (p) => p.reject(serverErrorOf(reply)));
    this.settle(reply.sync, (p) => p.resolve(reply.body));
  }

  private settle(sync: number, action: (p: Pending) => void): void {
    const p = this.pending.get(sync);
    if (p === undefined) return; // timed out earlier: a late reply is discarded
    this.pending.delete(sync);
    clearTimeout(p.timer);
    action(p);
  }

  private connectionLost(sent: boolean): IprotoConnectionError {
    const where = `${this.opts.host}:${this.opts.port}`;
    const what = this.isReady ? `connection to ${where} lost` : `cannot connect to ${where}`;
    const why = this.lastError ? `: ${this.lastError.message}` : "";
    return new IprotoConnectionError(`${what}${why}`, sent, { cause: this.lastError });
  }

  private handleClose(): void {
    this.isClosed = true;
    this.reader.clear();
    const reason = this.closeReason;
    for (const [sync, p] of this.pending) {
      this.pending.delete(sync);
      clearTimeout(p.timer);
      p.reject(reason instanceof IprotoConnectionError ? reason : this.connectionLost(true));
    }
    // Only a connection that was up reports its loss; a failed handshake rejects `ready` instead.
    if (this.isReady) this.onClose(reason instanceof IprotoConnectionError ? reason : this.connectionLost(true));
  }
}
