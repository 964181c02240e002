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
/** PostgreSQL: candidates a claim lets the lease index refuse (a round trip each) before it reads the project's live leases at once. */
export const TASK_CLAIM_INDEX_BLOCKED = 16;
/** A checkpoint's `done` and `next` at most, UTF-8 bytes; its `data` at most, bytes of JSON. */
export const CHECKPOINT_TEXT_MAX_BYTES = 2048;
export const CHECKPOINT_DATA_MAX_BYTES = 16 * 1024;
/** Checkpoints kept per task, the newest. */
export const TASK_CHECKPOINTS_KEEP = 20;

// Shared structures.
/** The largest `--state-history-keep` kept in rings; above it (and for 0, every version) the log keeps its index. */
export const VERSION_RING_MAX = 1000;
/** The most a write drops from a ring longer than its keep (a lowered keep): the rest is the retention pass's, as a write never pauses on a backlog. */
export const VERSION_RING_DROPS_PER_WRITE = 2;

// Live delivery.
/**
 * Replay steps a subscriber may take in one turn before yielding the event loop (each step is at
 * most WS_REPLAY_STEP_IDS events or WS_REPLAY_STEP_BYTES): a fast reader catching up on a large
 * log never holds the front thread for long (npm run bench -- bounded).
 */
export const HUB_REPLAY_STEPS_PER_TURN = 2;

// Names.
/** The longest project name, bytes: a repository's identity (its origin remote's path) fits. */
export const PROJECT_MAX_BYTES = 128;

// Threads.
/** How long booting a thread for a cold pool may take before jobs go ahead (and each meets its deadline). */
export const POOL_START_MS = 30_000;

// Replies.
export const WIRE_TEXTS_MAX = 256;
/** Bytes read from disk per write when streaming a file. */
export const FILE_CHUNK_BYTES = 256 * 1024;

// Coding-agent hooks.
/** How long a shell command may run when its call names no `timeout` (ms; Claude Code's longest unless configured otherwise). */
export const HOOK_SHELL_BUSY_DEFAULT_MS = 600_000;
/** News read per digest: events and audit entries after the session's cursors (the cursors then move past them); events a node keeps parsed (HOOK_NEWS_TAIL) are taken all at once. */
export const HOOK_SCAN_EVENTS = 500;
export const HOOK_SCAN_AUDIT = 200;
export const HOOK_SCAN_MESSAGES = 20;
/**
 * A digest answered this long after its hook arrived may come after the client stopped waiting
 * (Claude Code's HTTP hooks as installed wait 5 s, the command bridge about as long): its lines are
 * then also held for the next digest, which shows them again rather than never.
 */
export const HOOK_LATE_MS = 4000;
/**
 * An edit's PreToolUse is answered within this long of its arrival, a deny when the lease could
 * not be checked by then (hooks/deadline.ts): under the shortest client timeout (Codex caps a hook
 * at 3 s, the command bridge's own start included), past which a client lets the edit through.
 */
export const HOOK_GUARD_DEADLINE_MS = 2000;
/**
 * Events of a digest's topics a node keeps parsed (news-clock.ts): a hook whose news since its
 * last digest is all among them tells from them, without reading, that none concerns its agent.
 * Beside a thousand agents (~500 such events a second) 2,048 covered ~4 s: once hooks fell a few
 * seconds behind, their digests fell off it and read the database, which put them further behind
 * — the server collapsed (hooks answered in 2–7 s) after minutes at ~0.9 of its core. 8,192
 * covers ~16 s of that team (~10 MB of parsed events at most).
 */
export const HOOK_NEWS_TAIL = 8192;
/** Audit entries a digest reports that a node keeps as it last read them, for every session's digest (audit-tail.ts). */
export const HOOK_AUDIT_TAIL = 2048;
/** A quiet session's cursors are written forward once this far behind, so another node's scans stay short too. */
export const HOOK_CURSOR_LAG = 400;
/**
 * Sessions a node remembers something of — scan positions, its binding, its last progress write —
 * per map; past it that map is forgotten (rescans from the cursors, a read of the binding, one
 * progress write more): a session killed without SessionEnd is ended by the writer, not here.
 */
export const HOOK_SESSIONS_REMEMBERED = 10_000;
/** Tokens a digest may take: on a prompt, a tool call, a stop. */
export const DIGEST_TOKENS = 200;
/** Tokens the session-start orientation may take. */
export const ORIENTATION_TOKENS = 400;
/** A message's subject or body as quoted in a digest. */
export const DIGEST_PREVIEW_CHARS = 80;
/** A task's title as quoted in the line on claims lost to staleness (the line's start must survive a cut). */
export const DIGEST_LOST_TITLE_CHARS = 40;
/** Items of one kind listed before "and N more". */
export const DIGEST_LIST_MAX = 3;

// Audit.
/** Audit entries of refusals written per second at most: a client hammering a forbidden route must not become the writer's load. */
export const DENIED_AUDITS_PER_S = 20;

// Events.
/** Rows per round trip of a PostgreSQL cursor. */
export const EVENTS_CURSOR_ROWS = 64;

// Agents.
/** Stale agents' sessions ended per writer turn, and turns per liveness check (the rest wait for the next). */
export const STALE_SESSION_CHUNK = 100;
export const STALE_SESSION_TURNS = 10;

// State.
/** Changes read per step of the live feed. */
export const WATCH_FEED_PAGE = 512;
/** A change frame carries the value (`&values=1`) up to this many bytes; a larger one says `"value_omitted":"too large"`. */
export const WATCH_VALUE_MAX_BYTES = 64 * 1024;
/**
 * Once the cache is full, a read miss is admitted when the same key missed shortly before
 * (`StateCache.fill`): the doorkeeper remembers the last miss of this many slots of key hashes.
 */
export const CACHE_DOORKEEPER_SLOTS = 1024;
/**
 * Keys deleted lately, with their deletes' revisions, kept so that a write committed before the
 * delete whose reply is applied after it cannot bring the key back (the newest first out past
 * this; more than a batch of writer replies, WRITER_MAX_BATCH_ENVELOPES).
 */
export const CACHE_TOMBSTONES_MAX = 4096;

// Webhooks.
/** Distinct `patterns` values whose matchers are kept (webhooks are few; a flood of distinct ones is forgotten). */
export const WEBHOOK_PATTERN_SETS_MAX = 10_000;

// Tokens.
/** Longest ttl: ten years (beyond, say no ttl). */
export const TOKEN_TTL_MAX_MS = 10 * 365 * 86_400_000;
/** Headers remembered at most (an unknown token each time only empties it sooner: still bounded). */
export const TOKEN_MEMO_MAX = 4096;
/** Longer headers are no token of ours (`Bearer koor_…` is 55 characters, an instance token 43): hashed, never kept. */
export const TOKEN_MEMO_HEADER_MAX = 128;

// The front.
/** Host and Origin values remembered as allowed, at most (past it the slow path decides each time). */
export const HOST_GUARD_REMEMBERED_MAX = 256;
/** Callers whose buckets are remembered at once; past it, the idle ones are forgotten first. */
export const RATE_LIMIT_MAX_BUCKETS = 10_000;

// Webhook delivery.
/** Reply head (status line + headers) bigger than this is refused. */
export const DELIVERY_MAX_HEAD_BYTES = 64 * 1024;
/** An idle connection is closed after this long (receivers close theirs after 5–60 s). */
export const DELIVERY_IDLE_MS = 4000;

// The pool.
/** Compiled patterns kept per worker (a project's rules are re-used on every validation). */
export const REGEX_CACHE_ENTRIES = 1024;
/** Parsed rule lists of this worker, by their JSON text (a project's selection repeats). */
export const RULE_LISTS_CACHED = 256;
/** Compiled validators kept per worker thread (contracts, each with its compiled sections). */
export const CONTRACT_CACHE_MAX = 256;

// Backups.
/** Rows per INSERT (PostgreSQL takes at most 65535 parameters per statement). */
export const BACKUP_ROWS_PER_INSERT = 500;
/** Rows per round trip when reading PostgreSQL. */
export const BACKUP_CURSOR_ROWS = 500;

// The writer.
/** A checkpoint's `next` as the claim event carries it (the claim reply has all of it). */
export const TASK_RESUME_CHARS = 200;
/** Files a session remembers having edited (the newest), for the leases of others touching them. */
export const HOOK_EDITED_KEEP = 100;
/** Refused edits a session remembers (the newest), to tell it when each lease ends. */
export const HOOK_DENIED_KEEP = 20;
/** Files a session's pull-first warnings are remembered for (the newest). */
export const HOOK_PULL_WARNED_KEEP = 20;
/** Background checkpoint steps in a full WAL. */
export const WAL_STEPS = 8;
/**
 * The fewest batches between two steps before the WAL is full. A step writes the hot pages (the
 * tables' last leaves, the state rows) again; spreading the syncs matters when there are many
 * commits to delay, each of a few writes. At 50 connections a batch of ~40 PUTs fills an eighth
 * of the WAL in 2–3 batches: there the whole WAL is copied at once, as before (eight
 * steps cost ~3 µs more CPU per PUT).
 */
export const WAL_STEP_BATCHES = 32;
/** Keys converted per statement page (each key's ids read through the index, in one transaction). */
export const HISTORY_MODE_KEYS_PER_PAGE = 1000;
