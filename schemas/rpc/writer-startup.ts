import { Type, type Static } from '../typebox.js';

/** Fixed limits the front process hands the writer at start (values live in src/shared/limits.ts). */
export const WriterLimits = Type.Object({
  max_batch_envelopes: Type.Integer({ minimum: 1 }),
  wal_autocheckpoint_pages: Type.Integer({ minimum: 0 }),
  journal_limit_bytes: Type.Integer({ minimum: -1 }),
  /** The writer checkpoints the WAL after a batch once it is larger than this (0 = never: SQLite's autocheckpoint alone). */
  wal_checkpoint_bytes: Type.Integer({ minimum: 0 }),
  busy_timeout_ms: Type.Integer({ minimum: 0 }),
  /** An older data file up to this size is converted to incremental vacuum at start. */
  vacuum_convert_max_bytes: Type.Integer({ minimum: 0 }),
  /** Events a webhook may fall behind the newest: event pruning keeps no more than this for webhooks. */
  webhook_backlog_max: Type.Integer({ minimum: 1 }),
  /** Consecutive failed attempts that disable a webhook. */
  webhook_disable_after: Type.Integer({ minimum: 1 }),
});
export type WriterLimits = Static<typeof WriterLimits>;

/** The writer thread's start-up data (workerData, besides its MessagePort). */
export const WriterStartup = Type.Object({
  /** The SQLite data file; '' in cluster mode (database_url). */
  db_path: Type.String(),
  log_level: Type.String(),
  sync: Type.Union([Type.Literal('full'), Type.Literal('normal')]),
  limits: WriterLimits,
  /** Versions kept per state key, the current one included (0 = all): a write drops the one that falls out. */
  state_history_keep: Type.Integer({ minimum: 0 }),
  /** Enables test-only methods (sys.sleep). Never set by the server's own start-up. */
  test_hooks: Type.Boolean(),
  /** Cluster mode: the PostgreSQL URL the writer commits to instead of a file. */
  database_url: Type.Optional(Type.String({ minLength: 1 })),
});
export type WriterStartup = Static<typeof WriterStartup>;
