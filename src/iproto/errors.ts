/**
 * Typed errors of the iproto client. Callers branch with `instanceof`:
 * - IprotoServerError: the server ran the request and reported an error (has `code`);
 *   the request did reach Tarantool, so it may have had effects.
 * - IprotoTimeoutError: no reply within the call's timeout; outcome unknown.
 * - IprotoConnectionError: not connected, or the connection dropped while the
 *   request was in flight; outcome unknown unless `sent` is false.
 * - IprotoAuthError: the server refused the credentials.
 * - IprotoOverloadError: too many requests in flight; nothing was sent.
 * - IprotoProtocolError: the server sent bytes this client cannot decode.
 */

export class IprotoError extends Error {
  override readonly name: string = "IprotoError";
}

/** One entry of the server's error stack (IPROTO_ERROR / MP_ERROR), innermost cause last. */
export interface ServerErrorFrame {
  type: string;
  message: string;
  code: number;
  file?: string;
  line?: number;
  errno?: number;
  fields?: Record<string, unknown>;
}

export class IprotoServerError extends IprotoError {
  override readonly name: string = "IprotoServerError";
  /** Tarantool error code (box.error code, e.g. 32 for a Lua error, or a custom code). */
  readonly code: number;
  /** Tarantool error type, e.g. "ClientError", "LuajitError", or a custom type; "" if unknown. */
  readonly type: string;
  /** Custom fields of the error (box.error.new{...} payload), if the server sent them. */
  readonly fields: Record<string, unknown> | undefined;
  /** Full stack as sent by the server (2.4.1+), first entry is the error itself. */
  readonly frames: readonly ServerErrorFrame[];

  constructor(code: number, message: string, frames: readonly ServerErrorFrame[] = []) {
    super(message);
    this.code = code;
    this.frames = frames;
    this.type = frames[0]?.type ?? "";
    this.fields = frames[0]?.fields;
  }
}

export class IprotoTimeoutError extends IprotoError {
  override readonly name: string = "IprotoTimeoutError";
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number) {
    super(message);
    this.timeoutMs = timeoutMs;
  }
}

export class IprotoConnectionError extends IprotoError {
  override readonly name: string = "IprotoConnectionError";
  /** False when the request was never written to a socket, so it certainly had no effect. */
  readonly sent: boolean;
  constructor(message: string, sent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.sent = sent;
  }
}

export class IprotoAuthError extends IprotoError {
  override readonly name: string = "IprotoAuthError";
  /** Tarantool error code of the refusal (47 wrong password, 45 no such user, ...). */
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

export class IprotoOverloadError extends IprotoError {
  override readonly name: string = "IprotoOverloadError";
  readonly maxInFlight: number;
  constructor(maxInFlight: number) {
    super(`too many requests in flight (maxInFlight=${maxInFlight}); request not sent`);
    this.maxInFlight = maxInFlight;
  }
}

export class IprotoProtocolError extends IprotoError {
  override readonly name: string = "IprotoProtocolError";
}
