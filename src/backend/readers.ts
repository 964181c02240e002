import type { Sql } from 'postgres';
import type { TxClient } from '../shared/pg-tx.js';
import type { ReadDb } from '../store.js';
import { stateReader, type StateReader } from '../domains/state/reader.js';
import { instanceReader, type InstanceReader } from '../domains/instances/reader.js';
import { pgEventsReader, sqliteEventsReader, type EventsReader, type SyncEventsReader } from '../domains/events/reader.js';
import { specsReader, type SpecsReader } from '../domains/specs/reader.js';
import { templatesReader, type TemplatesReader } from '../domains/templates/reader.js';
import { auditReader, type AuditReader } from '../domains/audit/reader.js';
import { llmReader, type LlmReader } from '../domains/llm/reader.js';
import { agentMetricsReader, type AgentMetricsReader } from '../domains/agent-metrics/reader.js';
import { leaseReader, type LeaseReader } from '../domains/leases/reader.js';
import { taskReader, type TaskReader } from '../domains/tasks/reader.js';
import { hookReader, type HookReader } from '../domains/hooks/reader.js';
import { tokenReader, type TokenReader } from '../domains/tokens/reader.js';
import { messageReader, type MessageReader } from '../domains/messages/reader.js';
import { ruleReader, type RuleReader } from '../domains/rules/reader.js';
import { complianceReader, type ComplianceReader } from '../domains/compliance/reader.js';
import { webhookReader, type WebhookReader } from '../domains/webhooks/reader.js';
import { pgReads, sqliteReads, type Reads } from './reads.js';

/**
 * Every domain's read queries, from one backend: the front's SQLite read connection, or a
 * PostgreSQL pool (cluster mode). Each reader is written once over `Reads` (statements in both
 * dialects); the event log's alone has a half per backend (a glob filter in C with a streaming
 * statement, against a regular expression with a cursor in a snapshot). The domain services take
 * their reader from here and never learn which backend answers.
 */
export interface Readers {
  state: StateReader;
  events: EventsReader;
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
}

/** SQLite's readers answer synchronously; the event log's local fan-out relies on it. */
export interface SqliteReaders extends Readers {
  events: SyncEventsReader;
}

/** The readers written once, over either backend's `Reads`. */
function readersOver(db: Reads): Omit<Readers, 'events'> {
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
  };
}

export function sqliteReaders(db: ReadDb): SqliteReaders {
  return { ...readersOver(sqliteReads(db)), events: sqliteEventsReader(db) };
}

/** The readers on PostgreSQL: plain reads on the pool `sql`, snapshot reads on `snapshots`. */
export function pgReaders(sql: Sql, snapshots: TxClient): Readers {
  return { ...readersOver(pgReads(sql, snapshots)), events: pgEventsReader(sql, snapshots) };
}
