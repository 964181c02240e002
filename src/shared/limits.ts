/**
 * Every fixed limit of the server in one table (its second half, the features' limits, is
 * limits-features.ts), each with its unit and why it has that value (like nats-server's const.go). Limits a user may want to change are settings instead (see
 * SETTINGS in config.ts, with their defaults); these are the ones that are not. Shared code
 * (src/shared): every process of the server may import it. The writer thread takes its values from its start-up
 * data (WRITER_LIMITS, below), so a test can start it with others.
 */
import type { WriterLimits } from '../../schemas/rpc/writer-startup.js';
import { WEBHOOK_BACKLOG_MAX, WEBHOOK_DISABLE_AFTER_FAILURES } from './limits-features.js';

// --- Requests and inputs --------------------------------------------------------------------

/**
 * Longest request head uWS reads, bytes: handed to uWS as UWS_HTTP_MAX_HEADERS_SIZE
 * before it loads (src/front/uws-env.ts). uWS builds from about v20.4x honour it, whether the head
 * arrives in one read or many, and answer 431 past it; 20.30 ignores it (4 KiB when a head arrives
 * split: the connection is closed without a reply). 32 KiB: long keys, big cookies and JWTs fit.
 */
export const HTTP_MAX_HEAD_BYTES = 32 * 1024;
/** Longest path and query of a REST request, bytes: 414 JSON past it. */
export const HTTP_MAX_URL_BYTES = 8 * 1024;

/** Longest state key, in UTF-8 bytes. Keys are path-like names, not data; 1 KiB is generous. */
export const MAX_KEY_BYTES = 1024;

/**
 * Longest text of an agent's registration and intent, UTF-8 bytes. A name reaches other agents'
 * models (lease refusals, hook digests, discover_instances) and an intent is listed whole by
 * discover_instances: a client that registers a megabyte (the body cap) must not put it in every
 * model's context. A name is a short label; a workspace a path; an intent a sentence or two.
 */
export const INSTANCE_FIELD_MAX_BYTES = { name: 200, workspace: 4096, intent: 1000, stack: 200 } as const;
/** Most capabilities of one agent, and the longest one, UTF-8 bytes. */
export const INSTANCE_CAPABILITIES_MAX = 64;
export const INSTANCE_CAPABILITY_MAX_BYTES = 200;

/**
 * Deepest nesting of a JSON body or JSON state value: 64 levels, as many JSON parsers
 * default to (Go's encoding/json has no limit but Python's and Rust's serde_json stop near 128, and
 * a recursive walk — the state diff, a contract check — must stay far from the stack's end).
 * Coordination documents are a few levels deep; 64 is generous.
 */
export const JSON_MAX_DEPTH = 64;

/**
 * `GET /api/state` page size when `limit` is absent: the largest page, so clients of the original
 * (which expect every key in one reply) see every key up to 5000; past that the reply carries a
 * `Link` to the next page.
 */
export const STATE_LIST_DEFAULT_LIMIT = 5000;
/**
 * Largest `limit` of `GET /api/state`. A page is built in SQLite at ~1 µs per key; 5000 keys keep
 * it near 5 ms of event-loop time (10,000 measured ~12 ms and a 20 ms p99 for others).
 */
export const STATE_LIST_MAX_LIMIT = 5000;

/** `?history=1` versions returned when `limit` is absent. */
export const STATE_HISTORY_DEFAULT_LIMIT = 50;
/** Largest `limit` of `?history=1`. */
export const STATE_HISTORY_MAX_LIMIT = 10_000;

/** `GET /api/events/history` events returned when `last` is absent. */
export const EVENTS_HISTORY_DEFAULT_LAST = 50;
/** Largest `last`: one reply stays a few ms of event-loop work. */
export const EVENTS_HISTORY_MAX_LAST = 10_000;
/**
 * A history reply stops adding events past this many bytes (events may be megabytes each) and
 * says so with `X-Koor-Truncated: bytes`; at least one event is always sent.
 */
export const EVENTS_HISTORY_MAX_BYTES = 16 * 1024 * 1024;

// --- WebSocket subscriptions ----------------------------------------------------------------

/**
 * Bytes uWS may hold for one socket before the hub stops writing to it and starts counting
 * against its buffer budget. Past this the kernel socket buffer is full too: the consumer is
 * not reading.
 */
export const WS_SOFT_BUFFER_BYTES = 64 * 1024;
/** Largest client frame accepted (clients send nothing meaningful), bytes. */
export const WS_MAX_CLIENT_FRAME_BYTES = 4 * 1024;
/**
 * Largest client frame uWS reads in so that one past a route's limit is closed with 1009, not
 * dropped (1006). uWS buffers a whole frame before handing it over, so this is also the memory one
 * socket can make the server hold: 64 KiB, not more (a frame past it is dropped unread).
 */
export const WS_HARD_FRAME_BYTES = 64 * 1024;
/** Idle timeout in seconds; uWS pings automatically so quiet subscriptions stay open. */
export const WS_IDLE_TIMEOUT_S = 120;
/**
 * Replay (`since=`) reads retained events in steps of this many ids: each step is one short
 * indexed read, and the next step starts only once the subscriber has taken the previous one,
 * so a replay never holds more than one step in memory per subscriber.
 */
export const WS_REPLAY_STEP_IDS = 512;
/** …or this many bytes of frames, whichever comes first (at least one event per step). */
export const WS_REPLAY_STEP_BYTES = 256 * 1024;

/**
 * Cluster mode: a node reads the shared event log for its subscribers in pages of at most this
 * many events or bytes (at least one event), so a node catching up never holds more than one
 * page; and retries a failed read after EVENT_FEED_RETRY_MS.
 */
export const EVENT_FEED_PAGE = 256;
export const EVENT_FEED_PAGE_BYTES = 4 * 1024 * 1024;
export const EVENT_FEED_RETRY_MS = 1000;
/** Cluster mode: a node also reads the log this often without a notification, and gives a read this long. */
export const EVENT_FEED_POLL_MS = 1000;
export const EVENT_FEED_READ_TIMEOUT_MS = 10_000;
/** SQLite: how often a node looks for committed events no write reply announced (a reply lost after COMMIT), ms. */
export const FANOUT_SWEEP_MS = 1000;
/**
 * Cluster mode's leader election (src/cluster/leader.ts): a follower tries for the lock every
 * CLUSTER_LEADER_RETRY_MS; the leader checks its session every CLUSTER_LEADER_CHECK_MS, lapses
 * after 2 checks without an answer, and a new leader waits 3 checks before it starts the jobs:
 * the jobs move to another node within ~5 s of the leader's death.
 */
export const CLUSTER_LEADER_RETRY_MS = 1000;
export const CLUSTER_LEADER_CHECK_MS = 1000;
/**
 * How often a node reads the restores counter, ms, besides when a restore's notification comes
 * and when its LISTEN connection starts again: a notification lost while that connection was down
 * is seen this late at most (src/cluster/node.ts).
 */
export const CLUSTER_RESTORE_CHECK_MS = 5000;

// --- Writer thread (passed to the worker in WriterLimits) -----------------------------------

/** Most envelopes executed in one writer transaction; the rest wait for the next turn. */
const WRITER_MAX_BATCH_ENVELOPES = 2000;
/**
 * SQLite's automatic checkpoint (inside a COMMIT, whose write it delays) is off:
 * the writer checkpoints its WAL itself after a batch's replies left, once the WAL passed
 * WRITER_WAL_CHECKPOINT_BYTES. Earlier, 10,000 pages (40 MiB) between checkpoints wrote hot pages
 * back less often (8.4 → 6.5 KB written per 1 KB put) but left a WAL that a full disk could not
 * absorb: freeing 10 MB on a full 50 MB volume did not bring writes back.
 */
const WRITER_WAL_AUTOCHECKPOINT_PAGES = 0;
/** After a full disk, while no write comes, the writer tries a write that needs room this often, ms. */
export const STORAGE_PROBE_MS = 2000;
/**
 * The writer connection's page cache, KiB (SQLite's own default; better-sqlite3 builds with 16 MB).
 * At every COMMIT SQLite truncates its page cache to the database's size, and that walks the
 * cache's hash table whatever is in it (`pcache1TruncateUnsafe`): with 16 MB a durable 1 KB PUT
 * cost the writer thread ~10 µs more at 50 connections (2 MB and 0.5 MB measured alike).
 * Pages it no longer holds come back from the OS page cache, or from the WAL.
 */
export const WRITER_PAGE_CACHE_KIB = 2048;
/**
 * The WAL restarts once this much of it is written (frames, not the file's size), bytes; it is
 * copied back into the data file in steps of an eighth before that (workers/writer/sqlite/driver.ts).
 */
export const WRITER_WAL_CHECKPOINT_BYTES = 8 * 1024 * 1024;
/** The WAL file is truncated back to this after a checkpoint, bytes: what a full disk must give back is at most this. */
const WRITER_JOURNAL_LIMIT_BYTES = 8 * 1024 * 1024;
/**
 * A data file from before incremental vacuum is converted at start (a full VACUUM, ~140 MB/s
 * here) only up to this size, well inside the start-up timeout; a larger one logs how to run
 * `koor-server --vacuum` once instead.
 */
const VACUUM_CONVERT_MAX_BYTES = 256 * 1024 * 1024;
/** How long a connection waits on a lock held by another before SQLITE_BUSY, ms. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;
/**
 * A write the writer has begun to run when its deadline passes is waited for this much longer
 * before its caller is told `outcome unknown` (504), ms. Counted from when the front
 * first saw it overdue, so a pause of the whole process (SIGSTOP) does not spend it.
 */
export const WRITER_OUTCOME_GRACE_MS = 10_000;
/** The longest a write nobody waits for (WriterClient.call's `lazy`) waits for another to ride with, ms. */
export const WRITER_LAZY_MS = 100;
/** Wait before respawning a writer that died, ms (doubles up to the max). */
export const WRITER_RESTART_BACKOFF_MS = 50;
export const WRITER_RESTART_BACKOFF_MAX_MS = 2000;
/**
 * Cluster mode's writer (workers/writer/pg/driver.ts): after its connection to PostgreSQL was
 * lost it reconnects with the next batch; when that fails it waits this long before the next
 * try, doubling up to the max, and answers the writes that come meanwhile 503 without trying
 * (the max matches the 503's Retry-After of 1 s), ms. The front's transactions do the same
 * (src/shared/pg-tx.ts), and every PostgreSQL client reconnects a closed connection after the
 * same waits (src/shared/pg.ts).
 */
export const PG_RECONNECT_BACKOFF_MS = 50;
export const PG_RECONNECT_BACKOFF_MAX_MS = 1000;
/**
 * A writer session idle inside its transaction this long is ended by PostgreSQL, ms
 * (`idle_in_transaction_session_timeout`): a node cut off or frozen mid-batch holds the cluster's
 * write lock, and every node's writes wait behind it until PostgreSQL notices the lost client (its
 * TCP keepalive: two hours by default). A batch never idles between its statements but for a
 * pause of its node's process: above the pauses the soak gives a node (3–6.5 s) and a GC's.
 */
export const PG_WRITER_IDLE_IN_TX_MS = 15_000;
/**
 * The planner's cost of a page read out of order, for koor's own sessions (`random_page_cost`;
 * PostgreSQL's default is 4, for disks that seek). Koor's tables are small and hot, so a probe of
 * an index costs about what a page read in order does. At the default, a hook's lease check read
 * every key of the lease index from 300 to ~2,000 leases, comparing each with every prefix of the
 * path (0.36 ms a check at 1,000 leases), and probed the index only above that (0.09 ms at
 * 10,000); at 1.1 it probes the index at any size (0.07–0.09 ms at 300, 1,000 and 10,000).
 */
export const PG_RANDOM_PAGE_COST = 1.1;

// --- Background work ------------------------------------------------------------------------

/** Oldest events deleted per writer call while pruning: keeps each prune turn short. */
export const EVENTS_PRUNE_CHUNK = 2000;
/** Keys one state-history retention turn visits (one index seek each when nothing is due). */
export const RETENTION_KEYS_PER_TURN = 512;
/** Archived versions one retention turn deletes at most: a turn stays ~a millisecond. */
export const RETENTION_ROWS_PER_TURN = 2000;
/** Retention turns in one pass at most (the cursor carries on at the next pass). */
export const RETENTION_MAX_TURNS_PER_PASS = 1000;
/**
 * Incremental vacuum: start once this many pages (4 KiB each) are free, leave this many for
 * writes to reuse, and return at most this many per writer turn (each moved page is I/O).
 */
export const VACUUM_START_FREE_PAGES = 1024;
export const VACUUM_KEEP_FREE_PAGES = 256;
export const VACUUM_PAGES_PER_TURN = 256;
/** An identified agent's `last_seen` is written at most this often, ms. */
export const IDENTITY_TOUCH_INTERVAL_MS = 10_000;
/** How often `last_seen` is written under a liveness timeout: at most IDENTITY_TOUCH_INTERVAL_MS, and often enough that a short timeout judges the last sign of life, not one 10 s older. */
export const touchIntervalMs = (livenessTimeoutMs: number): number => Math.min(IDENTITY_TOUCH_INTERVAL_MS, Math.floor(livenessTimeoutMs / 4));
/** Cluster mode: unknown tokens / instance ids remembered per node (cleared when full), so a bad token costs one lookup. */
export const IDENTITY_MISSES_MAX = 10_000;
/**
 * Cluster mode: a token this node remembers is confirmed against the database again once it was
 * last confirmed this long ago, ms: a token revoked or an agent deregistered on another
 * node is refused here within this bound even if the notification is late or lost.
 */
export const TOKEN_CONFIRM_MS = 500;

// --- Pool, MCP, caches ----------------------------------------------------------------------

/** Pending CPU jobs beyond the running ones before 503. */
export const POOL_MAX_QUEUE = 256;
/** A clocked pool job (budget counted from its start) may wait this long in the queue first. */
export const POOL_MAX_QUEUE_WAIT_MS = 10_000;
/**
 * Rules of one validation that may run over the job's time budget before the rest of that job
 * is reported as timed out too (each costs a pool worker and one budget of waiting).
 */
export const VALIDATE_MAX_TIMEOUTS = 3;
/**
 * Violations one validation reports at most (a rule matching every line of a 10 MiB file would
 * otherwise be millions, built, copied and serialised at the cost of every other request); the
 * reply then says `"truncated":true`.
 */
export const VALIDATE_MAX_VIOLATIONS = 1000;
/** Projects whose accepted rules the front keeps parsed for validation (dropped on any rule write). */
export const RULES_CACHE_PROJECTS = 1024;
/** Distinct rule subsets (by filename/stack selection) per project kept as ready JSON for the pool. */
export const RULES_CACHE_SUBSETS = 64;
/** Compiled glob patterns kept; beyond this the cache is reset (patterns come from clients). */
export const GLOB_CACHE_MAX_PATTERNS = 4096;
/**
 * State pairs one lease-overlap test may visit (a power of two). Real globs visit tens; only long
 * runs of wildcards on both sides come near (~5 ms at the bound, in the writer thread); past it
 * the two globs count as overlapping, the safe answer for a lock.
 */
export const GLOB_OVERLAP_MAX_PAIRS = 1 << 16;
/** Bookkeeping bytes counted per state-cache entry besides its value. */
export const STATE_CACHE_ENTRY_OVERHEAD_BYTES = 200;

// --- Contracts and compliance ----------------------------------------------------------------

/** `GET /api/compliance/history` runs returned when `limit` is absent. */
export const COMPLIANCE_HISTORY_DEFAULT_LIMIT = 50;
/** Largest `limit` of the compliance history: one reply stays a few ms of event-loop work. */
export const COMPLIANCE_HISTORY_MAX_LIMIT = 10_000;
/** A contract test gives up on the backend after this, ms (10 s, like the original). */
export const CONTRACT_TEST_TIMEOUT_MS = 10_000;
/** Bytes of a backend's reply a contract test reads; the rest is not read. */
export const CONTRACT_TEST_MAX_REPLY_BYTES = 10 * 1024 * 1024;

// --- Lifecycle ------------------------------------------------------------------------------

/** Start-up gives up (one line, exit 1) if the database is not open by then, ms. */
export const STARTUP_TIMEOUT_MS = 15_000;
/** How long shutdown waits for in-flight writes, ms (5 s grace). */
export const SHUTDOWN_GRACE_MS = 5000;
/**
 * A shutdown still not done this long after the signal ends the process anyway (exit 1), ms: its
 * steps wait on threads, sockets and, in cluster mode, PostgreSQL, which a frozen or cut-off
 * database would hold for its TCP keepalive (minutes). Well past the grace's two waits (writes,
 * then the writer's close). A second SIGINT/SIGTERM ends it at once.
 */
export const SHUTDOWN_DEADLINE_MS = 30_000;

/** The writer's share of the limits above, as it travels to the thread in its start-up data. */
export const WRITER_LIMITS: WriterLimits = Object.freeze({
  max_batch_envelopes: WRITER_MAX_BATCH_ENVELOPES,
  wal_autocheckpoint_pages: WRITER_WAL_AUTOCHECKPOINT_PAGES,
  journal_limit_bytes: WRITER_JOURNAL_LIMIT_BYTES,
  wal_checkpoint_bytes: WRITER_WAL_CHECKPOINT_BYTES,
  busy_timeout_ms: SQLITE_BUSY_TIMEOUT_MS,
  vacuum_convert_max_bytes: VACUUM_CONVERT_MAX_BYTES,
  webhook_backlog_max: WEBHOOK_BACKLOG_MAX,
  webhook_disable_after: WEBHOOK_DISABLE_AFTER_FAILURES,
});

// --- Threads (what an idle server holds) -----------------------------------------

/** A pool thread idle this long ends (the pool starts threads on demand), ms. */
export const POOL_IDLE_MS = 60_000;
/**
 * V8 heap limits of a pool thread: jobs parse documents and run rules of bounded size, and a
 * young generation of 8 MB (the default is 16–32) keeps a busy thread's RSS small. A job that
 * exceeds the old generation ends its thread (piscina starts another): that job fails, no other.
 */
export const POOL_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 512 } as const;

/** How often expired state keys (X-Koor-TTL) are swept, ms; reads treat them as gone at once regardless. */
export const STATE_EXPIRY_CHECK_MS = 1000;
/** Expired keys deleted per writer turn of the sweep. */
export const STATE_EXPIRY_CHUNK = 256;
/** State and spec changes kept for watchers to resume from: the newest this many revisions. */
export const STATE_CHANGES_KEEP = 100_000;
/** Changes deleted per writer turn when pruning the change log. */
export const STATE_CHANGES_PRUNE_CHUNK = 5000;
/** How often the change log is pruned, ms. */
export const STATE_CHANGES_PRUNE_MS = 30_000;
/** Compares and ops of one POST /api/txn, in all. */
export const TXN_MAX_OPS = 64;

/** `api_request` records one OTLP logs export may carry; past them, partialSuccess rejects the rest. */
export const OTLP_MAX_RECORDS = 1_000;
/** Records per writer call while storing an OTLP export (a big export does not hold the writer). */
export const OTLP_CHUNK_RECORDS = 200;

/**
 * Open MCP server-sent-event streams one root credential (a created token with the instances it
 * registered, the server token, an instance) may hold at once; past it its least recently used
 * stream's session closes. A client holds one GET stream per session; 32 is many agents' worth.
 */
export const MCP_STREAMS_PER_PRINCIPAL = 32;
