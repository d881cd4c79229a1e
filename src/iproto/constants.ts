/**
 * Numeric constants of Tarantool's binary protocol (iproto), 2.x.
 * Only what this client sends or reads; names follow Tarantool's iproto_constants.h.
 */

/** Request types (header key 0x00 in a request). */
export const RequestType = {
  AUTH: 0x07,
  EVAL: 0x08,
  CALL: 0x0a,
  PING: 0x40,
} as const;

/** Header keys. */
export const Header = {
  CODE: 0x00, // request type in a request, response code in a reply
  SYNC: 0x01,
  SCHEMA_VERSION: 0x05,
} as const;

/** Body keys. */
export const Body = {
  FUNCTION_NAME: 0x22,
  USER_NAME: 0x23,
  TUPLE: 0x21,
  EXPR: 0x27,
  DATA: 0x30,
  ERROR_24: 0x31, // plain message string, sent by every 2.x server
  ERROR: 0x52, // MP_ERROR map with the full error stack (2.4.1+)
} as const;

/** Response codes (header key 0x00 in a reply). */
export const ResponseCode = {
  OK: 0x00,
  /** An out-of-band message (box.session.push) carrying the sync of a call still running. */
  CHUNK: 0x80,
  /** Error replies are 0x8000 | errcode. */
  ERROR_FLAG: 0x8000,
} as const;

/** Keys inside an MP_ERROR map (IPROTO_ERROR body value and MP_EXT type 3). */
export const MpError = {
  STACK: 0x00,
  TYPE: 0x00,
  FILE: 0x01,
  LINE: 0x02,
  MESSAGE: 0x03,
  ERRNO: 0x04,
  CODE: 0x05,
  FIELDS: 0x06,
} as const;

/** MP_EXT type codes Tarantool uses. */
export const ExtType = {
  DECIMAL: 1,
  UUID: 2,
  ERROR: 3,
} as const;

/** Tarantool error codes the client itself cares about (box/errcode.h). */
export const ErrCode = {
  ACCESS_DENIED: 42,
  NO_SUCH_USER: 45,
  PASSWORD_MISMATCH: 47,
} as const;

/** The greeting is two 64-byte lines: version banner, then the base64 salt. */
export const GREETING_SIZE = 128;
export const GREETING_LINE_SIZE = 64;
/** chap-sha1 uses the first 20 bytes of the decoded salt. */
export const SCRAMBLE_SIZE = 20;
