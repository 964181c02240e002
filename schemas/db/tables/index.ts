import type { Table } from '../table.js';
import { AGENT_METRICS } from './agent-metrics.js';
import { AUDIT_LOG } from './audit.js';
import { COMPLIANCE_RUNS } from './compliance.js';
import { EVENTS, KOOR_COUNTERS } from './events.js';
import { HOOK_SESSIONS, HOOK_SESSIONS_ENDED } from './hooks.js';
import { IDEMPOTENCY_KEYS } from './idempotency.js';
import { INSTANCES } from './instances.js';
import { LEASES, LEASE_RESOURCES } from './leases.js';
import { BUDGETS, LLM_USAGE } from './llm.js';
import { MESSAGES, MESSAGE_RECIPIENTS } from './messages.js';
import { VALIDATION_RULES } from './rules.js';
import { SPECS } from './specs.js';
import { STATE, STATE_CHANGES, STATE_HISTORY } from './state.js';
import { TASKS, TASK_CHECKPOINTS, TASK_DEPS } from './tasks.js';
import { TEMPLATES } from './templates.js';
import { API_TOKENS } from './tokens.js';
import { WEBHOOKS } from './webhooks.js';

/** Every table Koor keeps, by domain (a backend creates those not `onlyIn` another). */
export const TABLES: readonly Table[] = [
  STATE,
  STATE_HISTORY,
  SPECS,
  STATE_CHANGES,
  EVENTS,
  WEBHOOKS,
  KOOR_COUNTERS,
  INSTANCES,
  AGENT_METRICS,
  LLM_USAGE,
  BUDGETS,
  AUDIT_LOG,
  VALIDATION_RULES,
  TEMPLATES,
  COMPLIANCE_RUNS,
  LEASES,
  LEASE_RESOURCES,
  TASKS,
  TASK_DEPS,
  TASK_CHECKPOINTS,
  MESSAGES,
  MESSAGE_RECIPIENTS,
  IDEMPOTENCY_KEYS,
  HOOK_SESSIONS,
  HOOK_SESSIONS_ENDED,
  API_TOKENS,
];
