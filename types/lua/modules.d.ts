/**
 * Declarations for the Tarantool 2.6 modules that tarantoolscript has no (or
 * unusable) types for: decimal, http.client, digest, crypto. Only what the
 * project uses. Ambient (no top-level import) so they declare modules.
 */
declare module "decimal" {
  /** Tarantool's 38-digit decimal (a cdata). Arithmetic goes through the operator helpers in storage/money.ts. */
  export interface Decimal {
    readonly __decimal_brand: unique symbol;
  }
  function new_(value: string | number | Decimal): Decimal;
  export { new_ as new };
  export function is_decimal(value: unknown): value is Decimal;
  export function scale(value: Decimal): number;
  export function precision(value: Decimal): number;
  export function trim(value: Decimal): Decimal;
  export function round(value: Decimal, scale: number): Decimal;
  export function rescale(value: Decimal, scale: number): Decimal;
  export function abs(value: Decimal): Decimal;
}

declare module "http.client" {
  export interface HttpResponse {
    status: number;
    reason?: string;
    body?: string;
    headers?: Record<string, string>;
  }
  export interface HttpRequestOptions {
    timeout?: number;
    headers?: Record<string, string>;
    keepalive_idle?: number;
    keepalive_interval?: number;
    verify_host?: boolean;
    verify_peer?: boolean;
  }
  export interface HttpClient {
    get(this: HttpClient, url: string, opts?: HttpRequestOptions): HttpResponse;
  }
  function new_(opts?: { max_connections?: number; max_total_connections?: number }): HttpClient;
  export { new_ as new };
}

declare module "digest" {
  export function crc32(value: string): number;
  export function sha256_hex(value: string): string;
}

declare module "crypto" {
  export const hmac: {
    sha256(this: void, key: string, message: string): string;
  };
}

declare module "utf8" {
  /** Characters in a UTF-8 string; undefined when it is not valid UTF-8. */
  export function len(value: string): number | undefined;
}
