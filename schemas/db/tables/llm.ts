import { Type, type Static } from '../../typebox.js';
import { f, hidden, input, record, shown } from '../record.js';
import type { Table } from '../table.js';

/**
 * LLM usage records: one per model call an agent or a coding-agent client reported. Its reply
 * is each element of GET /api/llm/usage and the data of its `llm.usage.recorded` event
 * (usageReply); its inputs are what the front hands the writer.
 */
export const LLM = record(
  'llm_usage',
  {
    id: f.int({ id: 'log' }),
    instance_id: input(f.text({ default: "''" })),
    project: input(f.text({ default: "''" })),
    provider: input(f.text()),
    model: input(f.text()),
    tokens_in: input(f.int({ default: 0 })),
    tokens_out: input(f.int({ default: 0 })),
    /** In replies null when no price was known for the model (the tokens are recorded): usageReply. */
    cost_usd: input(shown(f.real({ default: 0 }), Type.Union([Type.Number(), Type.Null()]))),
    request_type: input(f.text({ default: "'completion'" })),
    session_tag: input(f.text({ default: "''" })),
    created_at: f.time(),
    /** Cache tokens apart from tokens_in (Anthropic's cache writes and reads, OpenAI's cached prompt tokens). */
    cache_creation_tokens: input(f.int({ default: 0 })),
    cache_read_tokens: input(f.int({ default: 0 })),
    /** `reported` (the caller's cost_usd), `priced` (from the price table), `unknown` (no price: cost_usd 0 is not a cost). */
    cost_source: input(f.text({ default: "'reported'" })),
    /** The coding-agent session (Claude Code's session.id) the record came from, '' when none: re-attributed when a hook binds it. */
    session_id: input(f.text({ default: "''" })),
    /** What makes a record unique across retries (OTLP: session and event sequence); '' = none. */
    dedup_key: input(hidden(f.text({ default: "''" }))),
  },
  {
    indexes: [
      { name: 'llm_usage_created', on: 'created_at' },
      { name: 'llm_usage_instance', on: 'instance_id, created_at' },
      { name: 'llm_usage_project', on: 'project, created_at' },
      { name: 'llm_usage_session', on: 'session_tag, created_at' },
      { name: 'llm_usage_dedup', on: 'dedup_key', where: "dedup_key <> ''" },
      { name: 'llm_usage_client_session', on: 'session_id', where: "session_id <> ''" },
    ],
    // The order replies and events have always had: the tokens together, the cost after them.
    replyOrder: ['id', 'instance_id', 'project', 'provider', 'model', 'tokens_in', 'tokens_out', 'cache_creation_tokens', 'cache_read_tokens', 'cost_usd', 'cost_source', 'request_type', 'session_tag', 'session_id', 'created_at', 'dedup_key'],
  },
);
export const LLM_USAGE = LLM.table;
/** An llm_usage row. */
export type LlmRow = Static<typeof LLM.Row>;

/** A record as replies and its event show it: its cost null when no price was known. */
export const usageReply = (r: LlmRow) => ({ ...LLM.wire(r), cost_usd: r.cost_source === 'unknown' ? null : r.cost_usd });

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

