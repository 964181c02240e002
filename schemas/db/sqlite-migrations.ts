/**
 * Versioned schema migrations, applied in order inside one transaction each; the applied
 * version is PRAGMA user_version. Never edit a released migration: add a new one, so a live
 * data file upgrades in place without losing data. The tables themselves are declared once in
 * schemas/db/tables (a new table's step is `createTable(TABLE, 'sqlite')`, and its PostgreSQL
 * step `createTable(TABLE, 'pg')`); test/unit/db-schema.test.ts checks this history arrives there.
 */
import { createTable } from './table.js';
import { BUDGETS } from './tables/agents.js';
import { TASK_CHECKPOINTS } from './tables/coord.js';
import { STATE, STATE_CHANGES } from './tables/state.js';
import { HOOK_SESSIONS } from './tables/hooks.js';
import { IDEMPOTENCY_KEYS } from './tables/idempotency.js';
import { MESSAGES, MESSAGE_RECIPIENTS } from './tables/messages.js';
import { API_TOKENS, tokenHash } from './tables/tokens.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * A step SQL cannot say (SQLite has no SHA-256), run after `sql` in the same transaction, with
   * `PRAGMA secure_delete` on: what it overwrites is zeroed, not left in free space.
   */
  run?: (db: MigrationDb) => void;
}

/** What a JS step may use of the connection (better-sqlite3's Database). */
export interface MigrationDb {
  prepare(sql: string): { all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'state and specs',
    sql: `
      CREATE TABLE state (
        key          TEXT PRIMARY KEY NOT NULL,
        value        BLOB NOT NULL,
        version      INTEGER NOT NULL,
        hash         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        updated_by   TEXT NOT NULL DEFAULT ''
      );
      CREATE TABLE state_history (
        key          TEXT NOT NULL,
        version      INTEGER NOT NULL,
        value        BLOB NOT NULL,
        hash         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        updated_by   TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (key, version)
      );
      CREATE TABLE specs (
        project    TEXT NOT NULL,
        name       TEXT NOT NULL,
        data       BLOB NOT NULL,
        version    INTEGER NOT NULL,
        hash       TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, name)
      );
    `,
  },
  {
    version: 2,
    name: 'events',
    sql: `
      CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        topic      TEXT NOT NULL,
        data       TEXT NOT NULL DEFAULT 'null',
        source     TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
      );
      CREATE INDEX events_created_at ON events (created_at);
    `,
  },
  {
    version: 3,
    name: 'instances and validation rules',
    sql: `
      CREATE TABLE instances (
        id            TEXT PRIMARY KEY NOT NULL,
        name          TEXT NOT NULL,
        workspace     TEXT NOT NULL DEFAULT '',
        intent        TEXT NOT NULL DEFAULT '',
        stack         TEXT NOT NULL DEFAULT '',
        capabilities  TEXT NOT NULL DEFAULT '[]',
        status        TEXT NOT NULL DEFAULT 'pending',
        token         TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        last_seen     TEXT NOT NULL
      );
      CREATE INDEX instances_status ON instances (status, last_seen);
      CREATE TABLE validation_rules (
        project     TEXT NOT NULL,
        rule_id     TEXT NOT NULL,
        severity    TEXT NOT NULL DEFAULT 'error',
        match_type  TEXT NOT NULL DEFAULT 'regex',
        pattern     TEXT NOT NULL,
        message     TEXT NOT NULL DEFAULT '',
        stack       TEXT NOT NULL DEFAULT '',
        applies_to  TEXT NOT NULL DEFAULT '["*"]',
        source      TEXT NOT NULL DEFAULT 'local',
        status      TEXT NOT NULL DEFAULT 'accepted',
        proposed_by TEXT NOT NULL DEFAULT '',
        context     TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        PRIMARY KEY (project, rule_id)
      );
    `,
  },
  {
    version: 4,
    name: 'compliance runs and templates',
    sql: `
      CREATE TABLE compliance_runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        instance_id TEXT NOT NULL,
        project     TEXT NOT NULL,
        contract    TEXT NOT NULL,
        pass        INTEGER NOT NULL,
        violations  TEXT NOT NULL DEFAULT '[]',
        run_at      TEXT NOT NULL
      );
      CREATE INDEX compliance_runs_instance ON compliance_runs (instance_id, contract, id);
      CREATE TABLE templates (
        id          TEXT PRIMARY KEY NOT NULL,
        name        TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        kind        TEXT NOT NULL DEFAULT 'rules',
        data        TEXT NOT NULL,
        tags        TEXT NOT NULL DEFAULT '[]',
        version     INTEGER NOT NULL DEFAULT 1,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'operations: webhooks and their delivery outbox, audit log, agent metrics, LLM usage',
    sql: `
      CREATE TABLE webhooks (
        id         TEXT PRIMARY KEY NOT NULL,
        url        TEXT NOT NULL,
        patterns   TEXT NOT NULL DEFAULT '["*"]',
        secret     TEXT NOT NULL DEFAULT '',
        active     INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        last_fired TEXT,
        fail_count INTEGER NOT NULL DEFAULT 0,
        -- beyond the original: delivery state shown to operators
        last_error TEXT NOT NULL DEFAULT '',
        delivered  INTEGER NOT NULL DEFAULT 0,
        failed     INTEGER NOT NULL DEFAULT 0
      );
      -- One row per (webhook, event) still to deliver, written in the transaction that stores the
      -- event; the event's body is read from events (pruning keeps events the outbox references).
      CREATE TABLE webhook_outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL,
        event_id   INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        -- epoch ms of the next attempt
        next_at    INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX webhook_outbox_hook ON webhook_outbox (webhook_id, id);
      CREATE INDEX webhook_outbox_event ON webhook_outbox (event_id);
      CREATE TABLE audit_log (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        actor     TEXT NOT NULL DEFAULT '',
        action    TEXT NOT NULL,
        resource  TEXT NOT NULL DEFAULT '',
        detail    TEXT NOT NULL DEFAULT '{}',
        outcome   TEXT NOT NULL DEFAULT 'success'
      );
      CREATE INDEX audit_log_timestamp ON audit_log (timestamp);
      CREATE INDEX audit_log_actor ON audit_log (actor, id);
      CREATE INDEX audit_log_action ON audit_log (action, id);
      CREATE TABLE agent_metrics (
        instance_id  TEXT NOT NULL,
        metric_name  TEXT NOT NULL,
        period       TEXT NOT NULL,
        metric_value INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (instance_id, metric_name, period)
      );
      CREATE INDEX agent_metrics_period ON agent_metrics (period);
      CREATE TABLE llm_usage (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        instance_id  TEXT NOT NULL DEFAULT '',
        project      TEXT NOT NULL DEFAULT '',
        provider     TEXT NOT NULL,
        model        TEXT NOT NULL,
        tokens_in    INTEGER NOT NULL DEFAULT 0,
        tokens_out   INTEGER NOT NULL DEFAULT 0,
        cost_usd     REAL NOT NULL DEFAULT 0,
        request_type TEXT NOT NULL DEFAULT 'completion',
        session_tag  TEXT NOT NULL DEFAULT '',
        created_at   TEXT NOT NULL
      );
      CREATE INDEX llm_usage_created ON llm_usage (created_at);
      CREATE INDEX llm_usage_instance ON llm_usage (instance_id, created_at);
      CREATE INDEX llm_usage_project ON llm_usage (project, created_at);
      CREATE INDEX llm_usage_session ON llm_usage (session_tag, created_at);
    `,
  },
  {
    version: 6,
    name: 'webhook cursors instead of a per-(webhook, event) outbox',
    // A webhook is a reader of the event log with a durable cursor (the last event it has had):
    // publishing writes nothing for webhooks, and delivery resumes from the cursor after a crash.
    // Rows still in the old outbox become the cursor just before the oldest of them.
    sql: `
      ALTER TABLE webhooks ADD COLUMN cursor INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE webhooks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE webhooks ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE webhooks ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
      UPDATE webhooks SET cursor = coalesce(
        (SELECT min(o.event_id) - 1 FROM webhook_outbox o WHERE o.webhook_id = webhooks.id),
        (SELECT seq FROM sqlite_sequence WHERE name = 'events'),
        0);
      DROP TABLE webhook_outbox;
    `,
  },
  {
    version: 7,
    name: 'leases on path globs and task queues (SPEC §8.8)',
    // A lease's resources are also rows of lease_resources keyed by their literal prefix (the
    // UTF-8 bytes before the first wildcard): two globs can only overlap when one prefix starts
    // the other, so a conflict check seeks the few candidate rows instead of comparing them all.
    sql: `
      CREATE TABLE leases (
        id          TEXT PRIMARY KEY NOT NULL,
        holder      TEXT NOT NULL,
        holder_name TEXT NOT NULL,
        resources   TEXT NOT NULL,
        exclusive   INTEGER NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        -- 0 = no TTL; else expires_ms (epoch ms) = last renewal + ttl_ms
        ttl_ms      INTEGER NOT NULL DEFAULT 0,
        acquired_at TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX leases_holder ON leases (holder);
      CREATE INDEX leases_expiry ON leases (expires_ms) WHERE expires_ms > 0;
      CREATE TABLE lease_resources (
        prefix   BLOB NOT NULL,
        lease_id TEXT NOT NULL REFERENCES leases (id) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        PRIMARY KEY (prefix, lease_id, resource)
      ) WITHOUT ROWID;
      CREATE INDEX lease_resources_lease ON lease_resources (lease_id);
      CREATE TABLE tasks (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        project         TEXT NOT NULL,
        title           TEXT NOT NULL,
        data            TEXT NOT NULL DEFAULT 'null',
        priority        INTEGER NOT NULL DEFAULT 0,
        deps            TEXT NOT NULL DEFAULT '[]',
        capabilities    TEXT NOT NULL DEFAULT '[]',
        status          TEXT NOT NULL,
        claimed_by      TEXT NOT NULL DEFAULT '',
        claimed_by_name TEXT NOT NULL DEFAULT '',
        attempts        INTEGER NOT NULL DEFAULT 0,
        max_attempts    INTEGER NOT NULL,
        reason          TEXT NOT NULL DEFAULT '',
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );
      -- the claim order: best priority first, then oldest
      CREATE INDEX tasks_queue ON tasks (project, status, priority DESC, id);
      CREATE INDEX tasks_claimed ON tasks (claimed_by) WHERE status = 'claimed';
      CREATE TABLE task_deps (
        dep_id  INTEGER NOT NULL,
        task_id INTEGER NOT NULL,
        PRIMARY KEY (dep_id, task_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    name: 'the agent inbox: messages and their recipients (issue 28)',
    sql: [createTable(MESSAGES, 'sqlite'), createTable(MESSAGE_RECIPIENTS, 'sqlite')].join('\n'),
  },
  {
    version: 9,
    name: 'replies of writes sent with an Idempotency-Key (issue 28)',
    sql: createTable(IDEMPOTENCY_KEYS, 'sqlite'),
  },
  {
    version: 10,
    name: 'coding-agent sessions bound to agent instances by their hooks (issue 29)',
    sql: createTable(HOOK_SESSIONS, 'sqlite'),
  },
  {
    version: 11,
    name: 'tokens an admin created, with a role and scopes, stored hashed (issue 30)',
    sql: createTable(API_TOKENS, 'sqlite'),
  },
  {
    version: 12,
    name: 'instance tokens stored as their SHA-256, looked up by it (issue 30)',
    sql: `
      ALTER TABLE instances RENAME COLUMN token TO token_hash;
      CREATE INDEX instances_token_hash ON instances (token_hash);
    `,
    run: (db) => {
      const rows = db.prepare('SELECT id, token_hash FROM instances').all() as Array<{ id: string; token_hash: string }>;
      const set = db.prepare('UPDATE instances SET token_hash = ? WHERE id = ?');
      for (const r of rows) set.run(tokenHash(r.token_hash), r.id);
    },
  },
  {
    version: 13,
    name: 'the created token that registered an instance, which may act as it (issue 30)',
    sql: "ALTER TABLE instances ADD COLUMN token_id TEXT NOT NULL DEFAULT '';",
  },
  {
    version: 14,
    name: 'LLM usage with cache tokens, cost source, coding-agent session and retry key; spending caps (issue 32)',
    sql: [
      `ALTER TABLE llm_usage ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE llm_usage ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE llm_usage ADD COLUMN cost_source TEXT NOT NULL DEFAULT 'reported';
      ALTER TABLE llm_usage ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
      ALTER TABLE llm_usage ADD COLUMN dedup_key TEXT NOT NULL DEFAULT '';
      CREATE INDEX llm_usage_dedup ON llm_usage (dedup_key) WHERE dedup_key <> '';
      CREATE INDEX llm_usage_client_session ON llm_usage (session_id) WHERE session_id <> '';`,
      createTable(BUDGETS, 'sqlite'),
    ].join('\n'),
  },
  {
    version: 15,
    name: 'store-wide revisions, the change log of state and specs, expiring and agent-bound keys, fencing tokens (issue 31)',
    sql: [
      `
      ALTER TABLE state ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE state ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE state ADD COLUMN owner TEXT NOT NULL DEFAULT '';
      CREATE INDEX state_expiring ON state (expires_at) WHERE expires_at > 0;
      CREATE INDEX state_owned ON state (owner) WHERE owner <> '';
      ALTER TABLE specs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE state ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    `,
      createTable(STATE_CHANGES, 'sqlite'),
    ].join('\n'),
  },
  {
    version: 16,
    name: 'a version log: each value written once into state_history, the current one included; state holds metadata, without rowid (issue 33)',
    sql: [
      `
      INSERT OR REPLACE INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
        SELECT key, version, value, hash, content_type, updated_at, updated_by FROM state;
      DROP INDEX state_expiring;
      DROP INDEX state_owned;
      ALTER TABLE state RENAME TO state_before_16;
    `,
      createTable(STATE, 'sqlite'),
      `
      INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence)
        SELECT key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence FROM state_before_16;
      DROP TABLE state_before_16;
    `,
    ].join('\n'),
  },
  {
    version: 17,
    name: 'no audit indexes by actor or action: no query used them, every audited write paid for them (issue 33)',
    sql: 'DROP INDEX audit_log_actor; DROP INDEX audit_log_action;',
  },
  {
    version: 18,
    name: 'tasks that know their files (a claim leases them), checkpoints of their progress, auto-leases with an idle lifetime, the edits refused to a session (issue 44)',
    sql: [
      `ALTER TABLE tasks ADD COLUMN paths TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE tasks ADD COLUMN lease_id TEXT NOT NULL DEFAULT '';
      ALTER TABLE leases ADD COLUMN auto INTEGER NOT NULL DEFAULT 0;`,
      createTable(TASK_CHECKPOINTS, 'sqlite'),
    ].join('\n'),
    // hook_sessions is made by v10 as declared today, so a new file has `denied` already.
    run: (db) => {
      const cols = db.prepare("SELECT name FROM pragma_table_info('hook_sessions')").all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'denied')) db.prepare("ALTER TABLE hook_sessions ADD COLUMN denied TEXT NOT NULL DEFAULT '[]'").run();
    },
  },
  {
    version: 19,
    name: "where a session's clone last synced, so an edit of a file another agent let go since asks for a pull first (issue 44)",
    sql: '',
    // hook_sessions is made by v10 as declared today, so a new file has `synced_event` already.
    run: (db) => {
      const cols = db.prepare("SELECT name FROM pragma_table_info('hook_sessions')").all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'synced_event')) db.prepare('ALTER TABLE hook_sessions ADD COLUMN synced_event INTEGER NOT NULL DEFAULT 0').run();
    },
  },
];
