/**
 * SQLite migrations 1–7 (the start of MIGRATIONS, schemas/db/sqlite-migrations.ts): released,
 * never edited, written as SQL text before the tables were declared in schemas/db/tables. Plain
 * SQL steps, so no JS step (`run`) and no import.
 */
export const FIRST_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
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
];
