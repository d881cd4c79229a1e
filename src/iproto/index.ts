/**
 * Tarantool iproto (binary protocol) client for Node.
 * See client.ts for connection behaviour and errors.ts for the error model.
 */
export {
  IprotoClient,
  type IprotoClientOptions,
  type ReconnectOptions,
  type CallOptions,
  type ClientState,
  type StateListener,
} from "./client.ts";
export {
  IprotoError,
  IprotoServerError,
  IprotoTimeoutError,
  IprotoConnectionError,
  IprotoAuthError,
  IprotoOverloadError,
  IprotoProtocolError,
  type ServerErrorFrame,
} from "./errors.ts";
export { Decimal, DECIMAL_MAX_DIGITS } from "./decimal.ts";
export { Uuid } from "./uuid.ts";
export { encodeValue } from "./encode.ts";
export { decodeValue } from "./decode.ts";
