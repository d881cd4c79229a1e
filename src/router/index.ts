/**
 * The router library: one entry point. See router.ts for the retry rules and
 * errors.ts for what a caller may catch.
 */
export {
  Router, ROUTER_DEFAULTS,
  type RouterOptions, type RouterSettings, type CallOptions, type ReplicasetOutcome, type RouterStats, type RouterStatus,
} from "./router.ts";
export {
  RouterError, RouterUnavailableError, RouterConfigError, isRouterError, isRouterUnavailableError, asErrorValue,
  type RouteContext, type UnavailableReason,
} from "./errors.ts";
export type { InstanceAddress, Credentials } from "./replicaset.ts";
export { bucketOf, customerKey, BUCKET_COUNT_MAX } from "./buckets.ts";
export { crc32c, tarantoolCrc32 } from "./crc32c.ts";
