/**
 * Versioned schema migrations, applied in order inside one transaction each; the applied
 * version is PRAGMA user_version. Never edit a released migration: add a new one, so a live
 * data file upgrades in place without losing data. The tables themselves are declared once in
 * schemas/db/tables (a new table's step is `createTable(TABLE, 'sqlite')`, and its PostgreSQL
 * step `createTable(TABLE, 'pg')`); test/unit/db-schema.test.ts checks this history arrives there.
 * Versions 1–7, written as SQL text before tables were declared, are in sqlite-migrations-first.ts.
 */
import { FIRST_MIGRATIONS } from './sqlite-migrations-first.js';
import { addColumn, createIndex, createTable } from './table.js';
import { COMPLIANCE_RUNS } from './tables/compliance.js';
import { BUDGETS } from './tables/llm.js';
import { TASK_CHECKPOINTS, TASKS } from './tables/tasks.js';
import { AUDIT_LOG } from './tables/audit.js';
import { STATE, STATE_CHANGES, STATE_HID_FROM_LOG, STATE_HISTORY } from './tables/state.js';
import { HOOK_SESSIONS, HOOK_SESSIONS_ENDED } from './tables/hooks.js';
import { IDEMPOTENCY_KEYS } from './tables/idempotency.js';
import { MESSAGES, MESSAGE_RECIPIENTS } from './tables/messages.js';
import { API_TOKENS, tokenHash } from './tables/tokens.js';
import { LEASES } from './tables/leases.js';
import { INSTANCES } from './tables/instances.js';

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

/**
 * A column added to hook_sessions unless it is there: the table is made by v10 as declared today,
 * so a new file has every column already, and only an older file gets the ALTER.
 */
const addHookSessionColumn = (name: string, ddl: string) => (db: MigrationDb): void => {
  const cols = db.prepare("SELECT name FROM pragma_table_info('hook_sessions')").all() as Array<{ name: string }>;
  if (!cols.some((c) => c.name === name)) db.prepare(`ALTER TABLE hook_sessions ADD COLUMN ${name} ${ddl}`).run();
};

export const MIGRATIONS: readonly Migration[] = [
  ...FIRST_MIGRATIONS,
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
    run: addHookSessionColumn('denied', "TEXT NOT NULL DEFAULT '[]'"),
  },
  {
    version: 19,
    name: "where a session's clone last synced, so an edit of a file another agent let go since asks for a pull first (issue 44)",
    sql: '',
    run: addHookSessionColumn('synced_event', 'INTEGER NOT NULL DEFAULT 0'),
  },
  {
    version: 20,
    name: 'the change log and the audit log without AUTOINCREMENT (their newest row is never pruned), the audit log without its timestamp index: three pages fewer in a PUT commit (issue 47)',
    sql: [
      `ALTER TABLE state_changes RENAME TO state_changes_before_20;
      ALTER TABLE audit_log RENAME TO audit_log_before_20;`,
      createTable(STATE_CHANGES, 'sqlite'),
      createTable(AUDIT_LOG, 'sqlite'),
      `INSERT INTO state_changes (id, topic, type, version, hash, content_type, updated_by)
        SELECT id, topic, type, version, hash, content_type, updated_by FROM state_changes_before_20 ORDER BY id;
      INSERT INTO audit_log (id, timestamp, actor, action, resource, detail, outcome)
        SELECT id, timestamp, actor, action, resource, detail, outcome FROM audit_log_before_20 ORDER BY id;
      DROP TABLE state_changes_before_20;
      DROP TABLE audit_log_before_20;`,
    ].join('\n'),
  },
  {
    version: 21,
    name: "the version log's rows with an id kept through VACUUM, and each key's current row pointing at its value's: a read past the cache descends two b-trees, not three (issue 47)",
    // Both tables rebuilt in SQL (state as v16 made it: a new file's has `hid` already, from its
    // declaration); no JS step, whose secure_delete would zero every page of the old log.
    sql: [
      `ALTER TABLE state_history RENAME TO state_history_before_21;
      DROP INDEX state_expiring;
      DROP INDEX state_owned;
      ALTER TABLE state RENAME TO state_before_21;`,
      createTable(STATE_HISTORY, 'sqlite'),
      createTable(STATE, 'sqlite'),
      // The rowids kept as the ids (the rows stay in the order they were written).
      `INSERT INTO state_history (id, key, version, value, hash, content_type, updated_at, updated_by)
        SELECT rowid, key, version, value, hash, content_type, updated_at, updated_by FROM state_history_before_21 ORDER BY rowid;
      INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence)
        SELECT key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence FROM state_before_21;
      DROP TABLE state_before_21;
      DROP TABLE state_history_before_21;`,
      `${STATE_HID_FROM_LOG};`,
    ].join('\n'),
  },
  {
    version: 22,
    name: 'lines of news a digest had no room for, held for the next one (a cut digest lost them)',
    sql: '',
    run: addHookSessionColumn('held', "TEXT NOT NULL DEFAULT '[]'"),
  },
  {
    version: 23,
    name: 'until when a session runs a long tool (a shell command), so its agent does not go stale mid-command',
    sql: '',
    run: addHookSessionColumn('busy_until', "TEXT NOT NULL DEFAULT ''"),
  },
  {
    version: 24,
    name: 'how many shell commands a session runs at once: the first of parallel ones to end left the others unheld',
    sql: '',
    run: addHookSessionColumn('busy_count', 'INTEGER NOT NULL DEFAULT 0'),
  },
  {
    version: 25,
    name: 'files a session was told to pull first: the warning moved its one sync point past other files changed since its pull',
    sql: '',
    run: addHookSessionColumn('pull_warned', "TEXT NOT NULL DEFAULT '[]'"),
  },
  {
    version: 26,
    name: "sessions that ended lately, in the database: a late telemetry export landing on another node than the session's end is still its agent's",
    sql: createTable(HOOK_SESSIONS_ENDED, 'sqlite'),
  },
  {
    version: 27,
    name: "compliance runs by age: a departed agent's runs go once older than the audit log's retention",
    sql: createIndex(COMPLIANCE_RUNS, 'compliance_runs_run_at', 'sqlite'),
  },
  {
    version: 28,
    name: "the version log's (key, version) a unique index a file may drop, each key's row a ring of its versions' ids: a write finds the version it drops without that index (issue 47)",
    // Both tables rebuilt in SQL, as v21 did (a file v21 made from today's declarations is rebuilt
    // the same); the rings are filled at the writer's start, which knows --state-history-keep.
    sql: [
      `DROP INDEX IF EXISTS state_history_version;
      ALTER TABLE state_history RENAME TO state_history_before_28;
      DROP INDEX state_expiring;
      DROP INDEX state_owned;
      ALTER TABLE state RENAME TO state_before_28;`,
      createTable(STATE_HISTORY, 'sqlite'),
      createTable(STATE, 'sqlite'),
      `INSERT INTO state_history (id, key, version, value, hash, content_type, updated_at, updated_by)
        SELECT id, key, version, value, hash, content_type, updated_at, updated_by FROM state_history_before_28 ORDER BY id;
      INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence, hid)
        SELECT key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence, hid FROM state_before_28;
      DROP TABLE state_before_28;
      DROP TABLE state_history_before_28;`,
    ].join('\n'),
  },
  {
    version: 29,
    name: "leases belong to a project (issue 78): a lease in one repository no longer blocks another repository's file of the same path",
    // A hook session's agent now has its project as its workspace (its project is its workspace's).
    sql: [
      `ALTER TABLE leases ADD COLUMN project TEXT NOT NULL DEFAULT '';`,
      createIndex(LEASES, 'leases_project', 'sqlite'),
      `UPDATE instances SET workspace = (SELECT s.project FROM hook_sessions s WHERE s.instance_id = instances.id AND s.project <> '' LIMIT 1)
        WHERE EXISTS (SELECT 1 FROM hook_sessions s WHERE s.instance_id = instances.id AND s.project <> '');`,
    ].join('\n'),
    run: (db) => {
      // A lease goes to its task's project, else its holder's (its workspace's folder).
      const rows = db
        .prepare(
          `SELECT l.id,
             (SELECT t.project FROM tasks t WHERE t.lease_id = l.id LIMIT 1) AS task_project,
             (SELECT i.workspace FROM instances i WHERE i.id = l.holder) AS workspace
           FROM leases l`,
        )
        .all() as Array<{ id: string; task_project: string | null; workspace: string | null }>;
      const setProject = db.prepare('UPDATE leases SET project = ? WHERE id = ?');
      // SQLite's || makes text of blobs: the new keys (project, NUL, old key) are made here.
      const keys = db.prepare('SELECT prefix, resource FROM lease_resources WHERE lease_id = ?');
      const rekey = db.prepare('UPDATE lease_resources SET prefix = ? WHERE lease_id = ? AND prefix = ? AND resource = ?');
      for (const r of rows) {
        // The folder a workspace path ends in, as src/shared/workspace.ts's folderOf said then.
        const project = r.task_project || ((r.workspace ?? '').replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '');
        setProject.run(project, r.id);
        for (const k of keys.all(r.id) as Array<{ prefix: Buffer; resource: string }>) rekey.run(Buffer.concat([Buffer.from(`${project}\u0000`), k.prefix]), r.id, k.prefix, k.resource);
      }
    },
  },
  {
    version: 30,
    name: 'the lease that refused a task a claim: later claims pass it by in the query while that lease lives, not one lease check each (a backlog of 5,000 blocked tasks cost every claim 100 ms)',
    sql: addColumn(TASKS, 'blocked_by', 'sqlite'),
  },
  {
    version: 31,
    name: 'the project each agent works in, indexed: a session start lists the others of its project, not every agent of the server',
    sql: [addColumn(INSTANCES, 'project', 'sqlite'), createIndex(INSTANCES, 'instances_project', 'sqlite')].join('\n'),
    run: (db) => {
      // projectOf as src/shared/workspace.ts has it: the folder the workspace ends in.
      const set = db.prepare('UPDATE instances SET project = ? WHERE id = ?');
      for (const r of db.prepare('SELECT id, workspace FROM instances').all() as Array<{ id: string; workspace: string }>) set.run(r.workspace.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '', r.id);
    },
  },
  {
    version: 32,
    name: 'tasks a lease refused are out of the claim order until it ends: a claim no longer walks past every blocked task (2,000 of them ahead cost each claim ~3 ms)',
    sql: [createIndex(TASKS, 'tasks_open', 'sqlite'), createIndex(TASKS, 'tasks_blocked_by', 'sqlite'), "UPDATE tasks SET blocked_by = '' WHERE blocked_by <> '' AND blocked_by NOT IN (SELECT id FROM leases);"].join('\n'),
  },
  {
    version: 33,
    name: 'the audit entries a digest reports, indexed: a digest seeks them instead of walking every entry since its cursor (1,000 agents writing: thousands a digest)',
    // Step 20 makes the table as it is declared now, this index included, on a file older than 20.
    sql: ['DROP INDEX IF EXISTS audit_log_digest;', createIndex(AUDIT_LOG, 'audit_log_digest', 'sqlite')].join('\n'),
  },
];
