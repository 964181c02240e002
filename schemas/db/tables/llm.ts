import type { Table } from '../table.js';

/** LLM usage records. */
export const LLM_USAGE: Table = {
  name: 'llm_usage',
  columns: {
    id: { type: 'int', id: 'log' },
    instance_id: { type: 'text', default: "''" },
    project: { type: 'text', default: "''" },
    provider: { type: 'text' },
    model: { type: 'text' },
    tokens_in: { type: 'int', default: 0 },
    tokens_out: { type: 'int', default: 0 },
    cost_usd: { type: 'real', default: 0 },
    request_type: { type: 'text', default: "'completion'" },
    session_tag: { type: 'text', default: "''" },
    created_at: { type: 'text' },
    /** Cache tokens apart from tokens_in (Anthropic's cache writes and reads, OpenAI's cached prompt tokens). */
    cache_creation_tokens: { type: 'int', default: 0 },
    cache_read_tokens: { type: 'int', default: 0 },
    /** `reported` (the caller's cost_usd), `priced` (from the price table), `unknown` (no price: cost_usd 0 is not a cost). */
    cost_source: { type: 'text', default: "'reported'" },
    /** The coding-agent session (Claude Code's session.id) the record came from, '' when none: re-attributed when a hook binds it. */
    session_id: { type: 'text', default: "''" },
    /** What makes a record unique across retries (OTLP: session and event sequence); '' = none. */
    dedup_key: { type: 'text', default: "''" },
  },
  indexes: [
    { name: 'llm_usage_created', on: 'created_at' },
    { name: 'llm_usage_instance', on: 'instance_id, created_at' },
    { name: 'llm_usage_project', on: 'project, created_at' },
    { name: 'llm_usage_session', on: 'session_tag, created_at' },
    { name: 'llm_usage_dedup', on: 'dedup_key', where: "dedup_key <> ''" },
    { name: 'llm_usage_client_session', on: 'session_id', where: "session_id <> ''" },
  ],
};

/**
 * Spending caps: one per scope (`agent:<id|name>`, `project:<p>`, `session:<tag>`,
 * `global`). A cap of -1 is none. `warned`/`exceeded` hold the key of the period in which the
 * warning and the exceeded event were published (once per period; '' = not in any).
 */
export const BUDGETS: Table = {
  name: 'budgets',
  columns: {
    scope: { type: 'text', primaryKey: true },
    usd: { type: 'real', default: -1 },
    tokens: { type: 'int', default: -1 },
    period: { type: 'text', default: "'month'" },
    warn_at: { type: 'real', default: 0.8 },
    warned: { type: 'text', default: "''" },
    exceeded: { type: 'text', default: "''" },
    updated_at: { type: 'text' },
    /**
     * The spend of the period `spent_key` names, kept up by each record the writer stores (so a
     * record costs an addition, not a sum over the period); '' = to be summed afresh.
     */
    spent_key: { type: 'text', default: "''" },
    spent_usd: { type: 'real', default: 0 },
    spent_tokens: { type: 'int', default: 0 },
    unpriced: { type: 'int', default: 0 },
  },
};

