/**
 * Idempotent, versioned schema set-up. Each migration runs once, in order,
 * and records the version reached in billing_meta, so a node restarts on its
 * own data and an older node's data is upgraded in place.
 */
import type { NodeConfig } from "./config";
import { space } from "./db";

const SHARDED_SPACES = ["customers", "accounts", "ledger", "idempotency", "outbox"];

type Migration = (config: NodeConfig) => void;

function createSpace(name: string, format: [string, string, boolean?][], config: NodeConfig): void {
  const schema = box.schema as unknown as {
    space: { create(this: void, name: string, options: object): unknown };
  };
  schema.space.create(name, {
    if_not_exists: true,
    engine: "memtx",
    is_sync: config.sync_replication && SHARDED_SPACES.includes(name),
    format: format.map(([fieldName, type, nullable]) => ({ name: fieldName, type, is_nullable: nullable === true })),
  });
}

function createIndex(spaceName: string, name: string, parts: unknown[], unique: boolean): void {
  const target = (box.space as unknown as Record<string, { create_index(this: unknown, n: string, o: object): void }>)[spaceName];
  target!.create_index(name, { type: "TREE", unique, parts, if_not_exists: true });
}

const MIGRATIONS: Migration[] = [
  // Version 1: the data model of DESIGN.md. All memtx: a Tarantool transaction
  // cannot span two engines, and a depletion writes account, ledger and outbox at once.
  (config) => {
    createSpace("customers", [["customer_id", "unsigned"], ["bucket_id", "unsigned"], ["name", "string"],
      ["created_at_ms", "unsigned"], ["account_count", "unsigned"]], config);
    createIndex("customers", "primary", [{ field: "customer_id" }], true);
    createIndex("customers", "bucket_id", [{ field: "bucket_id" }], false);

    createSpace("accounts", [["customer_id", "unsigned"], ["account_id", "unsigned"], ["bucket_id", "unsigned"],
      ["name", "string"], ["balance", "decimal"], ["rate_per_s", "decimal"], ["updated_at_ms", "unsigned"],
      ["depletes_at_ms", "unsigned", true], ["status", "string"], ["ledger_seq", "unsigned"],
      ["created_at_ms", "unsigned"]], config);
    createIndex("accounts", "primary", [{ field: "customer_id" }, { field: "account_id" }], true);
    createIndex("accounts", "bucket_id", [{ field: "bucket_id" }], false);
    createIndex("accounts", "deadline", [{ field: "depletes_at_ms", is_nullable: true }], false);

    createSpace("ledger", [["customer_id", "unsigned"], ["account_id", "unsigned"], ["seq", "unsigned"],
      ["bucket_id", "unsigned"], ["at_ms", "unsigned"], ["kind", "string"], ["amount", "decimal"],
      ["charged", "decimal"], ["balance_after", "decimal"], ["rate_after", "decimal"], ["reference", "string"]], config);
    createIndex("ledger", "primary", [{ field: "customer_id" }, { field: "account_id" }, { field: "seq" }], true);
    createIndex("ledger", "bucket_id", [{ field: "bucket_id" }], false);

    createSpace("idempotency", [["customer_id", "unsigned"], ["key", "string"], ["bucket_id", "unsigned"],
      ["request", "string"], ["result", "map"], ["created_at_ms", "unsigned"]], config);
    createIndex("idempotency", "primary", [{ field: "customer_id" }, { field: "key" }], true);
    createIndex("idempotency", "bucket_id", [{ field: "bucket_id" }], false);
    createIndex("idempotency", "created", [{ field: "created_at_ms" }], false);

    createSpace("outbox", [["event_id", "string"], ["customer_id", "unsigned"], ["account_id", "unsigned"],
      ["bucket_id", "unsigned"], ["kind", "string"], ["occurred_at_ms", "unsigned"], ["created_at_ms", "unsigned"],
      ["attempts", "unsigned"], ["next_attempt_at_ms", "unsigned"], ["last_error", "string", true]], config);
    createIndex("outbox", "primary", [{ field: "event_id" }], true);
    createIndex("outbox", "bucket_id", [{ field: "bucket_id" }], false);
    createIndex("outbox", "due", [{ field: "next_attempt_at_ms" }, { field: "event_id" }], true);

    createSpace("buckets", [["bucket_id", "unsigned"], ["status", "string"], ["destination", "string", true]], config);
    createIndex("buckets", "primary", [{ field: "bucket_id" }], true);
    createIndex("buckets", "status", [{ field: "status" }, { field: "bucket_id" }], true);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Runs pending migrations; only on a writable node (a replica gets the schema by replication). */
export function migrate(config: NodeConfig): void {
  const schema = box.schema as unknown as {
    space: { create(this: void, name: string, options: object): unknown };
  };
  if (box.space["billing_meta" as keyof typeof box.space] === undefined) {
    schema.space.create("billing_meta", {
      if_not_exists: true,
      format: [{ name: "key", type: "string" }, { name: "value", type: "any" }],
    });
    createIndexIfMissing();
  }
  const meta = space("billing_meta");
  const stored = meta.get("schema_version");
  let version = stored === undefined ? 0 : (stored[1] as number);
  while (version < MIGRATIONS.length) {
    const migration = MIGRATIONS[version]!;
    // DDL cannot always run inside a transaction on 2.6; every step uses
    // if_not_exists instead, so a migration cut short by a crash simply reruns.
    migration(config);
    version += 1;
    meta.replace(["schema_version", version]);
  }
  pinBucketCount(config.bucket_count);
}

function createIndexIfMissing(): void {
  const target = (box.space as unknown as Record<string, { create_index(this: unknown, n: string, o: object): void }>)["billing_meta"];
  target!.create_index("primary", { type: "TREE", unique: true, if_not_exists: true, parts: [{ field: "key" }] });
}

/** bucket_count is fixed at bootstrap: every key's bucket depends on it. */
function pinBucketCount(bucket_count: number): void {
  const meta = space("billing_meta");
  const stored = meta.get("bucket_count");
  if (stored === undefined) {
    meta.replace(["bucket_count", bucket_count]);
  } else if (stored[1] !== bucket_count) {
    error(`config: bucket_count ${bucket_count} differs from ${tostring(stored[1])} this storage was bootstrapped with; it can never change`, 0);
  }
}
