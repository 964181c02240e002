/**
 * Versioned schema migrations, applied in order inside one transaction each; the applied
 * version is PRAGMA user_version. Never edit a released migration: add a new one, so a live
 * data file upgrades in place without losing data.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
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
];
