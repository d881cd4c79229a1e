/**
 * Reply decoding on msgpackr.
 *
 * - Integers: `number` when within ±2^53, `bigint` beyond (int64AsType "auto"),
 *   so a 64-bit id is never rounded.
 * - MP_EXT 1 decimal -> Decimal, 2 uuid -> Uuid, 3 error -> IprotoServerError.
 * - Maps decode to plain objects; integer keys become string property names
 *   (read header[0x01] as usual: JS converts the index).
 *
 * msgpackr's extension table is process-wide: registering types 1-3 here
 * applies to every msgpackr Unpackr in the process. Tarantool owns these type
 * codes on this wire, and msgpackr's own extensions use other codes.
 */
import { Unpackr, addExtension, type Options } from "msgpackr";
import { Body, ExtType, Header, MpError, ResponseCode } from "./constants.ts";
import { decodeDecimal } from "./decimal.ts";
import { decodeUuid } from "./uuid.ts";
import { IprotoProtocolError, IprotoServerError, type ServerErrorFrame } from "./errors.ts";

// "auto" exists in msgpackr 2.1.4 (unpack.js) but is missing from its typings.
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true, // decoded bins must not pin (or alias) the socket read buffer
  int64AsType: "auto",
} as unknown as Options);

addExtension({ type: ExtType.DECIMAL, unpack: (b: Uint8Array) => decodeDecimal(b) });
addExtension({ type: ExtType.UUID, unpack: (b: Uint8Array) => decodeUuid(b) });
addExtension({ type: ExtType.ERROR, unpack: (b: Uint8Array) => errorFromMpError(unpackr.unpack(b), 0, "") });

type MsgMap = Record<string | number, unknown>;

function isMap(x: unknown): x is MsgMap {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function asNumber(x: unknown): number | undefined {
  return typeof x === "number" ? x : typeof x === "bigint" ? Number(x) : undefined;
}

function frameFrom(entry: unknown): ServerErrorFrame | undefined {
  if (!isMap(entry)) return undefined;
  const frame: ServerErrorFrame = {
    type: typeof entry[MpError.TYPE] === "string" ? (entry[MpError.TYPE] as string) : "",
    message: typeof entry[MpError.MESSAGE] === "string" ? (entry[MpError.MESSAGE] as string) : "",
    code: asNumber(entry[MpError.CODE]) ?? 0,
  };
  const file = entry[MpError.FILE];
  const line = asNumber(entry[MpError.LINE]);
  const errno = asNumber(entry[MpError.ERRNO]);
  const fields = entry[MpError.FIELDS];
  if (typeof file === "string") frame.file = file;
  if (line !== undefined) frame.line = line;
  if (errno !== undefined && errno !== 0) frame.errno = errno;
  if (isMap(fields)) frame.fields = fields as Record<string, unknown>;
  return frame;
}

/**
 * Builds the error from an MP_ERROR map ({0x00: [frame, ...]}); code and
 * message from the response header / IPROTO_ERROR_24 win when given.
 */
export function errorFromMpError(mpError: unknown, code: number, message: string): IprotoServerError {
  const stack = isMap(mpError) ? mpError[MpError.STACK] : undefined;
  const frames = Array.isArray(stack) ? stack.map(frameFrom).filter((f) => f !== undefined) : [];
  const first = frames[0];
  return new IprotoServerError(code || first?.code || 0, message || first?.message || "unknown server error", frames);
}

export interface Reply {
  code: number;
  sync: number;
  body: MsgMap;
}

/**
 * Decodes one packet (header map, then body map). A body that fails to decode
 * still yields its sync, so only that one request fails, not the connection.
 */
export function decodeReply(packet: Buffer): { reply: Reply } | { sync: number; error: IprotoProtocolError } | { fatal: IprotoProtocolError } {
  let header: unknown;
  let body: unknown;
  try {
    unpackr.unpackMultiple(packet, (value: unknown) => {
      if (header === undefined) header = value;
      else body = value;
    });
  } catch (err) {
    const sync = isMap(header) ? asNumber(header[Header.SYNC]) : undefined;
    const error = new IprotoProtocolError(`cannot decode reply: ${(err as Error).message}`, { cause: err });
    return sync === undefined ? { fatal: error } : { sync, error };
  }
  const code = isMap(header) ? asNumber(header[Header.CODE]) : undefined;
  const sync = isMap(header) ? asNumber(header[Header.SYNC]) : undefined;
  if (code === undefined || sync === undefined) {
    return { fatal: new IprotoProtocolError("reply header without code or sync") };
  }
  return { reply: { code, sync, body: isMap(body) ? body : {} } };
}

/** The error carried by a reply whose code has the 0x8000 bit. */
export function serverErrorOf(reply: Reply): IprotoServerError {
  const code = reply.code & ~ResponseCode.ERROR_FLAG;
  const message = reply.body[Body.ERROR_24];
  return errorFromMpError(reply.body[Body.ERROR], code, typeof message === "string" ? message : "");
}

/** Exposed for tests of the codec without a server. */
export function decodeValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}
