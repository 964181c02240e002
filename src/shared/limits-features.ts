/**
 * The fixed limits of the features built on the core (webhooks, audit, agent metrics, LLM usage,
 * the inbox, tokens, backups, leases and tasks): the second half of the table that
 * src/shared/limits.ts begins, kept with the same rules (each with its unit and why it has that
 * value; settings a user may change live in config.ts instead).
 */

// Operations: webhooks, audit, agent metrics, LLM usage.
/** One webhook delivery attempt may take this long (success = status < 400 within 10 s). */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Consecutive failed attempts that disable a webhook for good. */
export const WEBHOOK_DISABLE_AFTER_FAILURES = 10;
/** Deliveries in flight at once across all webhooks (one per webhook at a time: order per webhook). */
export const WEBHOOK_MAX_CONCURRENT = 64;
/**
 * Events a webhook may fall behind the newest one. A webhook reads the event log from its own
 * cursor, so a live but slow endpoint behind a fast publisher would hold events from pruning
 * without bound: past this, it skips to this many events behind the newest (the matching events
 * passed over are counted in koor_webhook_deliveries_total{outcome="dropped"}).
 */
export const WEBHOOK_BACKLOG_MAX = 10_000;
/**
 * A webhook past WEBHOOK_BACKLOG_MAX skips ahead to this many events inside the bound, so that
 * under sustained overload it skips (and counts what it passes over) once per this many events,
 * not on every run.
 */
export const WEBHOOK_BACKLOG_SKIP = 1024;
/** Events a webhook's dispatcher reads from the log per look (matching ones are delivered). */
export const WEBHOOK_SCAN_MAX = 1024;
/**
 * Deliveries one webhook makes in a row (in order, one at a time) before they are settled in one
 * writer call: one commit per run instead of one per delivery.
 */
export const WEBHOOK_RUN_MAX = 64;
/**
 * With no active webhook at its last look, or all of them sending, the dispatcher reads the
 * registry again on a publish only after this long (a webhook created or changed on this node is
 * looked at at once; one created through another cluster node within this). Reading it per publish turn was ~6 % of the
 * front's CPU per durable publish on a server with no webhooks.
 */
export const WEBHOOK_IDLE_RECHECK_MS = 1000;
/** A webhook receiver's reply body is read (and discarded) up to this many bytes. */
export const WEBHOOK_MAX_REPLY_BYTES = 64 * 1024;
/** Keep-alive connections the delivery thread keeps per receiver. */
export const WEBHOOK_MAX_SOCKETS = 4;
/**
 * Nice value of the webhook delivery thread (Linux: a per-thread attribute; added to the server's
 * own, capped at 19). Delivery is background work with a durable backlog: when the cores are busy,
 * the request path wins and deliveries catch up in idle time. bench operations, 5 webhooks
 * matching every publish on a quiet 2-core box: publish/s 0.72x of no webhooks at nice 10, 0.88x
 * at 19, with the same number of deliveries made meanwhile.
 */
export const WEBHOOK_THREAD_NICE = 19;
/** `GET /api/audit` and `GET /api/llm/usage`: default and largest `limit`. */
export const OPS_LIST_DEFAULT_LIMIT = 50;
export const OPS_LIST_MAX_LIMIT = 10_000;
/**
 * Per-agent counters are added up in memory and written as one upsert per (agent, metric, hour)
 * this often: never one extra write per request. A crash loses at most this much of the counts.
 */
export const AGENT_METRICS_FLUSH_MS = 1000;
/** Rows deleted per retention turn of the audit log, agent metrics and LLM usage. */
export const OPS_PRUNE_CHUNK = 2000;

// The agent inbox.
/** Largest message body, bytes (UTF-8). */
export const MESSAGE_MAX_BODY_BYTES = 64 * 1024;
/** Recipients one message may reach once resolved (`*` on a large team included). */
export const MESSAGE_MAX_RECIPIENTS = 100;
/** `to` entries one message may name. */
export const MESSAGE_MAX_TO = 100;
/** `GET /api/inbox` and `GET /api/threads/{id}`: default and largest `limit`. */
export const INBOX_DEFAULT_LIMIT = 100;
export const INBOX_MAX_LIMIT = 1000;
/** Items one inbox push read takes from the database (a slow socket waits between reads). */
export const INBOX_PUSH_PAGE = 100;
/** `POST /api/inbox/read {"ids"}`: ids per call. */
export const INBOX_READ_MAX_IDS = 1000;
/** An Idempotency-Key is honoured this long (its reply kept), ms. */
export const IDEMPOTENCY_KEEP_MS = 24 * 3_600_000;

/** Created tokens at most: past it, revoke some before creating more. */
export const TOKENS_MAX = 1000;
/** Longest Idempotency-Key, characters. */
export const IDEMPOTENCY_KEY_MAX = 255;

/** An online backup (GET /api/admin/backup) that has not finished copying by then is abandoned. */
export const BACKUP_TIMEOUT_MS = 10 * 60_000;
/** Largest snapshot POST /api/admin/restore accepts (streamed to disk, never held in memory). */
export const RESTORE_MAX_BYTES = 16 * 1024 ** 3;

// Leases and task queues.
/** Resources (path globs) in one lease: a lease is a working set, not a file list of the repo. */
export const LEASE_MAX_RESOURCES = 100;
/** Longest lease TTL, ms: a TTL only bounds how long a lease outlives its holder's heartbeats. */
export const LEASE_MAX_TTL_MS = 7 * 24 * 3_600_000;
/** How often the front looks for leases past their TTL (a read; the writer is called only then), ms. */
export const LEASE_EXPIRY_CHECK_MS = 1000;
/** How often the server samples its own presence (monotonic vs wall clock, event-loop lateness). */
export const PRESENCE_PROBE_MS = 500;
/** Expired leases released per writer call (each stores one event): keeps a turn short. */
export const LEASE_EXPIRE_CHUNK = 500;
/** `GET /api/leases` and `GET /api/tasks`: default and largest `limit`. */
export const COORD_LIST_DEFAULT_LIMIT = 1000;
export const COORD_LIST_MAX_LIMIT = 10_000;
/** Paths one `POST /api/leases/check` may ask about (a pre-commit hook sends the staged files). */
export const LEASE_CHECK_MAX_PATHS = 10_000;
/** Attempts a task gets when its creator does not say (fail retries until then). */
export const TASK_DEFAULT_MAX_ATTEMPTS = 3;
/** Dependencies and required capabilities of one task at most. */
export const TASK_MAX_DEPS = 256;
export const TASK_MAX_CAPABILITIES = 64;
/**
 * Ready tasks a claim reads per page, in claim order, looking for one whose paths are free:
 * a small first page (the best task is usually free), then larger ones, as far as it takes.
 */
export const TASK_CLAIM_FIRST_BATCH = 8;
export const TASK_CLAIM_BATCH = 256;
/** A checkpoint's `done` and `next` at most, UTF-8 bytes; its `data` at most, bytes of JSON. */
export const CHECKPOINT_TEXT_MAX_BYTES = 2048;
export const CHECKPOINT_DATA_MAX_BYTES = 16 * 1024;
/** Checkpoints kept per task, the newest. */
export const TASK_CHECKPOINTS_KEEP = 20;
