import type { Table } from '../table.js';
import { AGENT_METRICS, AUDIT_LOG, BUDGETS, INSTANCES, LLM_USAGE } from './agents.js';
import { LEASES, LEASE_RESOURCES, TASKS, TASK_CHECKPOINTS, TASK_DEPS } from './coord.js';
import { EVENTS, KOOR_COUNTERS, WEBHOOKS } from './events.js';
import { HOOK_SESSIONS } from './hooks.js';
import { IDEMPOTENCY_KEYS } from './idempotency.js';
import { MESSAGES, MESSAGE_RECIPIENTS } from './messages.js';
import { COMPLIANCE_RUNS, TEMPLATES, VALIDATION_RULES } from './rules.js';
import { SPECS, STATE, STATE_CHANGES, STATE_HISTORY } from './state.js';
import { API_TOKENS } from './tokens.js';

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
  API_TOKENS,
];
