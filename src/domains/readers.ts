import type { Sql } from 'postgres';
import type { ReadSide } from '../backend/backend.js';
import { pgReads, sqliteReads, type Reads, type TurnSnapshot } from '../backend/reads.js';
import type { TxClient } from '../shared/pg-tx.js';
import type { ReadDb } from '../backend/read-db.js';
import { within } from '../within.js';
import { stateReader, type StateReader } from './state/reader.js';
import { instanceReader, type InstanceReader } from './instances/reader.js';
import { pgEventsReader, sqliteEventsReader, type EventsReader, type SyncEventsReader } from './events/reader.js';
import { specsReader, type SpecsReader } from './specs/reader.js';
import { templatesReader, type TemplatesReader } from './templates/reader.js';
import { auditReader, type AuditReader } from './audit/reader.js';
import { llmReader, type LlmReader } from './llm/reader.js';
import { agentMetricsReader, type AgentMetricsReader } from './agent-metrics/reader.js';
import { leaseReader, type LeaseReader } from './leases/reader.js';
import { taskReader, type TaskReader } from './tasks/reader.js';
import { hookReader, type HookReader } from './hooks/reader.js';
import { tokenReader, type TokenReader } from './tokens/reader.js';
import { messageReader, type MessageReader } from './messages/reader.js';
import { ruleReader, type RuleReader } from './rules/reader.js';
import { complianceReader, type ComplianceReader } from './compliance/reader.js';
import { webhookReader, type WebhookReader } from './webhooks/reader.js';

/**
 * Every domain's read queries, over the read side a backend opened (src/backend/backend.ts
 * ReadSide): the front's SQLite read connection, or a PostgreSQL pool (cluster mode). Each domain
 * brings its reader (src/domains/<d>/reader.ts), written once over `Reads` (statements in both
 * dialects); the event log's alone has a half per backend (a glob filter in C with a streaming
 * statement, against a regular expression with a cursor in a snapshot). The domain services take
 * their reader from here and never learn which backend answers; the backend knows none of them.
 */
export interface Readers {
  state: StateReader;
  events: EventsReader;
  /** The same reader where it answers synchronously (SQLite), which the event log's local fan-out relies on; null on PostgreSQL. */
  syncEvents: SyncEventsReader | null;
  instances: InstanceReader;
  specs: SpecsReader;
  templates: TemplatesReader;
  audit: AuditReader;
  llm: LlmReader;
  agentMetrics: AgentMetricsReader;
  compliance: ComplianceReader;
  rules: RuleReader;
  leases: LeaseReader;
  tasks: TaskReader;
  messages: MessageReader;
  hooks: HookReader;
  tokens: TokenReader;
  webhooks: WebhookReader;
  /** The read side itself: how many statements the readers above ran (Reads.statements). */
  reads: Pick<Reads, 'statements'>;
}

/** SQLite's readers answer synchronously; the event log's local fan-out relies on it. */
export interface SqliteReaders extends Readers {
  events: SyncEventsReader;
}

/**
 * The readers over what a backend opened. On PostgreSQL every read is bounded by `deadlineMs`
 * (--read-deadline): a read queued while the client reconnects to a database that is slow to come
 * back, or waiting on a lock, is answered 503 then instead of holding its request open.
 */
export function readersOf(side: ReadSide, deadlineMs = 0): Readers {
  if (side.kind === 'sqlite') return sqliteReaders(side.db, side.snapshot);
  const readers = pgReaders(side.sql, side.snapshots);
  return deadlineMs > 0 ? withDeadline(readers, deadlineMs) : readers;
}

/** Each reader's promises bounded by `ms`: past it, READ_TIMEOUT (503 database unavailable). */
function withDeadline(readers: Readers, ms: number): Readers {
  const out: Record<string, unknown> = {};
  for (const [name, reader] of Object.entries(readers)) {
    if (reader === null) {
      out[name] = null;
      continue;
    }
    const bounded: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(reader as Record<string, unknown>)) {
      bounded[method] =
        typeof fn === 'function'
          ? (...args: unknown[]) => {
              const r: unknown = fn(...args);
              return r instanceof Promise ? within(r, ms, 'a PostgreSQL read', 'READ_TIMEOUT') : r;
            }
          : fn;
    }
    out[name] = bounded;
  }
  return out as unknown as Readers;
}


/** The readers written once, over either backend's `Reads`. */
function readersOver(db: Reads): Omit<Readers, 'events' | 'syncEvents'> {
  return {
    state: stateReader(db),
    instances: instanceReader(db),
    specs: specsReader(db),
    templates: templatesReader(db),
    audit: auditReader(db),
    llm: llmReader(db),
    agentMetrics: agentMetricsReader(db),
    compliance: complianceReader(db),
    rules: ruleReader(db),
    leases: leaseReader(db),
    tasks: taskReader(db),
    messages: messageReader(db),
    hooks: hookReader(db),
    tokens: tokenReader(db),
    webhooks: webhookReader(db),
    reads: { statements: () => db.statements() },
  };
}

/** `snapshot`: a turn's reads in one read transaction (the server's read side); without it, each read on its own. */
export function sqliteReaders(db: ReadDb, snapshot: TurnSnapshot | null = null): SqliteReaders {
  const events = sqliteEventsReader(db, snapshot);
  return { ...readersOver(sqliteReads(db, snapshot)), events, syncEvents: events };
}

/** The readers on PostgreSQL: plain reads on the pool `sql`, snapshot reads on `snapshots`. */
export function pgReaders(sql: Sql, snapshots: TxClient): Readers {
  return { ...readersOver(pgReads(sql, snapshots)), events: pgEventsReader(sql, snapshots), syncEvents: null };
}
