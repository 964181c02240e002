import type { TSchema } from '../typebox.js';
import { DeletedReply } from './common.js';
import { ContractTestReply, ContractValidateReply } from './contracts.js';
import { Checkpoint, CheckpointListReply, ClaimReply, Lease, LeaseCheckReply, LeaseListReply, LeaseReleasedReply, Task, TaskListReply } from './coord.js';
import { EventListReply, EventReply } from './events.js';
import { ClaudeHookOutput, DigestReply, HookSessionReply } from './hooks.js';
import { TokenCreatedReply, TokenListReply, TokenRevokedReply } from './tokens.js';
import { AckReply, InboxReply, Message, MessageReceiptsReply, ReadReply, ThreadReply } from './messages.js';
import { CapabilitiesReply, InstanceListReply, InstanceStatusReply, InstanceSummary, LivenessReply, RegisterReply } from './instances.js';
import {
  AuditListReply,
  AuditSummaryReply,
  ComplianceHistoryReply,
  ComplianceRunReply,
  BudgetDeletedReply,
  BudgetListReply,
  Budget,
  LlmListReply,
  OtlpReply,
  LlmRecordedReply,
  LlmSummaryReply,
  Webhook,
  WebhookListReply,
  WebhookTestReply,
} from './ops.js';
import { ProjectRulesReply, RuleDecisionReply, RuleListReply, RulesImportReply, RulesPutReply, ValidateReply } from './rules.js';
import { SpecDeletedReply, SpecListReply, SpecPutReply } from './specs.js';
import { StateDeletedReply, StateDiffReply, StateHistoryReply, StateListReply, StatePutReply, StateRollbackReply, TxnReply } from './state.js';
import { AgentMetricRows, AgentMetricTotals, HealthReply, MetricsReply, MetricsResetReply, RestoreReply } from './system.js';
import { Template, TemplateApplyReply, TemplateListReply } from './templates.js';

/**
 * The body of a 200 of every REST route, by `METHOD path` as the route is declared (`:name` a
 * path parameter, `*` the rest of the path); a `?mode` suffix names a query that changes the
 * reply. `null`: the reply is not JSON of the server's making (stored bytes, a database file,
 * Prometheus text). Errors are ErrorBody (schemas/errors.ts). test/http/replies.test.ts calls each
 * route of a real server and checks its reply against this table, and the table against the
 * routes the server declares.
 */
export const REPLIES = {
  'GET /health': HealthReply,

  'GET /api/state': StateListReply,
  'GET /api/state/*': null,
  'GET /api/state/*?history': StateHistoryReply,
  'GET /api/state/*?diff': StateDiffReply,
  'GET /api/state/*?version': null,
  'PUT /api/state/*': StatePutReply,
  'POST /api/state/*': StateRollbackReply,
  'DELETE /api/state/*': StateDeletedReply,
  'POST /api/txn': TxnReply,

  'GET /api/specs/:project': SpecListReply,
  'GET /api/specs/:project/:name': null,
  'PUT /api/specs/:project/:name': SpecPutReply,
  'DELETE /api/specs/:project/:name': SpecDeletedReply,

  'POST /api/events/publish': EventReply,
  'GET /api/events/history': EventListReply,

  'GET /api/instances': InstanceListReply,
  'GET /api/instances/stale': InstanceListReply,
  'GET /api/instances/:id': InstanceSummary,
  'POST /api/instances/register': RegisterReply,
  'POST /api/instances/:id/activate': InstanceStatusReply,
  'POST /api/instances/:id/heartbeat': InstanceStatusReply,
  'POST /api/instances/:id/capabilities': CapabilitiesReply,
  'DELETE /api/instances/:id': DeletedReply,
  'POST /api/liveness/check': LivenessReply,

  'POST /api/leases': Lease,
  'GET /api/leases': LeaseListReply,
  'GET /api/leases/check': LeaseListReply,
  'POST /api/leases/check': LeaseCheckReply,
  'GET /api/leases/:id': Lease,
  'POST /api/leases/:id/renew': Lease,
  'DELETE /api/leases/:id': LeaseReleasedReply,

  'POST /api/tasks': Task,
  'GET /api/tasks': TaskListReply,
  'POST /api/tasks/claim': ClaimReply,
  'GET /api/tasks/:id': Task,
  'POST /api/tasks/:id/complete': Task,
  'POST /api/tasks/:id/fail': Task,
  'POST /api/tasks/:id/release': Task,
  'POST /api/tasks/:id/checkpoint': Checkpoint,
  'GET /api/tasks/:id/checkpoints': CheckpointListReply,
  'POST /api/messages': Message,
  'GET /api/inbox': InboxReply,
  'POST /api/inbox/read': ReadReply,
  'POST /api/inbox/:id/ack': AckReply,
  'GET /api/messages/:id': MessageReceiptsReply,
  'GET /api/threads/:id': ThreadReply,
  'POST /api/hooks/claude-code': ClaudeHookOutput,
  'GET /api/hooks/claude-code/sessions/:id': HookSessionReply,
  'GET /api/agents/:id/digest': DigestReply,

  'GET /api/validate/:project/rules': ProjectRulesReply,
  'PUT /api/validate/:project/rules': RulesPutReply,
  'POST /api/validate/:project': ValidateReply,
  'POST /api/rules/propose': RuleDecisionReply,
  'POST /api/rules/:project/:rule/accept': RuleDecisionReply,
  'POST /api/rules/:project/:rule/reject': RuleDecisionReply,
  'GET /api/rules': RuleListReply,
  'DELETE /api/rules/:project/:rule': DeletedReply,
  'GET /api/rules/export': RuleListReply,
  'POST /api/rules/import': RulesImportReply,

  'POST /api/contracts/:project/:name/validate': ContractValidateReply,
  'POST /api/contracts/:project/:name/test': ContractTestReply,

  'GET /api/compliance/history': ComplianceHistoryReply,
  'POST /api/compliance/run': ComplianceRunReply,

  'GET /api/webhooks': WebhookListReply,
  'POST /api/webhooks': Webhook,
  'DELETE /api/webhooks/:id': DeletedReply,
  'POST /api/webhooks/:id/test': WebhookTestReply,

  'GET /api/templates': TemplateListReply,
  'POST /api/templates': Template,
  'GET /api/templates/:id': Template,
  'DELETE /api/templates/:id': DeletedReply,
  'POST /api/templates/:id/apply': TemplateApplyReply,

  'GET /api/audit': AuditListReply,
  'GET /api/audit/summary': AuditSummaryReply,

  'GET /api/metrics': MetricsReply,
  'POST /api/metrics/reset': MetricsResetReply,
  'GET /metrics': null,
  'GET /api/metrics/agents': AgentMetricTotals,
  'GET /api/metrics/agents?instance_id': AgentMetricRows,
  'GET /api/metrics/agents/:id': AgentMetricRows,

  'GET /api/llm/usage': LlmListReply,
  'POST /api/llm/usage': LlmRecordedReply,
  'GET /api/llm/usage/summary': LlmSummaryReply,
  'POST /v1/logs': OtlpReply,
  'POST /v1/metrics': OtlpReply,
  'GET /api/budgets': BudgetListReply,
  'PUT /api/budgets/:scope': Budget,
  'DELETE /api/budgets/:scope': BudgetDeletedReply,

  'POST /api/tokens': TokenCreatedReply,
  'GET /api/tokens': TokenListReply,
  'DELETE /api/tokens/:id': TokenRevokedReply,

  'GET /api/admin/backup': null,
  'POST /api/admin/restore': RestoreReply,
} as const satisfies Record<string, TSchema | null>;

export type ReplyRoute = keyof typeof REPLIES;
