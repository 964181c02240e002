import type { Sql } from 'postgres';
import type { ReadDb } from '../store.js';
import { pgStateReader, sqliteStateReader, type StateReader } from '../domains/state/reader.js';
import { pgInstanceReader, sqliteInstanceReader, type InstanceReader } from '../domains/instances/reader.js';
import { pgEventsReader, sqliteEventsReader, type EventsReader, type SyncEventsReader } from '../domains/events/reader.js';
import { pgSpecsReader, sqliteSpecsReader, type SpecsReader } from '../domains/specs/reader.js';
import { pgTemplatesReader, sqliteTemplatesReader, type TemplatesReader } from '../domains/templates/reader.js';
import { pgAuditReader, sqliteAuditReader, type AuditReader } from '../domains/audit/reader.js';
import { pgLlmReader, sqliteLlmReader, type LlmReader } from '../domains/llm/reader.js';
import { pgAgentMetricsReader, sqliteAgentMetricsReader, type AgentMetricsReader } from '../domains/agent-metrics/reader.js';
import { pgLeaseReader, sqliteLeaseReader, type LeaseReader } from '../domains/leases/reader.js';
import { pgTaskReader, sqliteTaskReader, type TaskReader } from '../domains/tasks/reader.js';
import { pgRuleReader, sqliteRuleReader, type RuleReader } from '../domains/rules/reader.js';
import { pgComplianceReader, sqliteComplianceReader, type ComplianceReader } from '../domains/compliance/reader.js';
import { pgWebhookReader, sqliteWebhookReader, type WebhookReader } from '../domains/webhooks/reader.js';

/**
 * Every domain's read queries, from one backend: the front's SQLite read connection, or a
 * PostgreSQL pool (cluster mode). The domain services take their reader from here and never
 * learn which backend answers.
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
  webhooks: WebhookReader;
}

/** SQLite's readers answer synchronously; the event log's local fan-out relies on it. */
export interface SqliteReaders extends Readers {
  events: SyncEventsReader;
}

export function sqliteReaders(db: ReadDb): SqliteReaders {
  return {
    state: sqliteStateReader(db),
    events: sqliteEventsReader(db),
    instances: sqliteInstanceReader(db),
    specs: sqliteSpecsReader(db),
    templates: sqliteTemplatesReader(db),
    audit: sqliteAuditReader(db),
    llm: sqliteLlmReader(db),
    agentMetrics: sqliteAgentMetricsReader(db),
    compliance: sqliteComplianceReader(db),
    rules: sqliteRuleReader(db),
    leases: sqliteLeaseReader(db),
    tasks: sqliteTaskReader(db),
    webhooks: sqliteWebhookReader(db),
  };
}

export function pgReaders(sql: Sql): Readers {
  return {
    state: pgStateReader(sql),
    events: pgEventsReader(sql),
    instances: pgInstanceReader(sql),
    specs: pgSpecsReader(sql),
    templates: pgTemplatesReader(sql),
    audit: pgAuditReader(sql),
    llm: pgLlmReader(sql),
    agentMetrics: pgAgentMetricsReader(sql),
    compliance: pgComplianceReader(sql),
    rules: pgRuleReader(sql),
    leases: pgLeaseReader(sql),
    tasks: pgTaskReader(sql),
    webhooks: pgWebhookReader(sql),
  };
}
