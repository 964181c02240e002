import { COMPLIANCE_RUN } from '../db/tables/compliance.js';
import { LLM } from '../db/tables/llm.js';
import { SPEC_DOC } from '../db/tables/specs.js';
import { Type, type Static } from '../typebox.js';
import { Bytes, type MethodTable } from './envelope.js';
import { Event, Events, RuleRow } from './writer-rows.js';
import { InstanceMethods } from './writer-instances.js';
import { LeaseMethods } from './writer-leases.js';
import { TaskMethods } from './writer-tasks.js';
import { HookMethods } from './writer-hooks.js';
import { MessageMethods } from './writer-messages.js';
import { TokenMethods } from './writer-tokens.js';
import { TxnMethods } from './writer-txn.js';

/** The rows and start-up data the writer's callers name, by name: one import for the writer's types. */
export { CheckpointRow, Event, LeaseRow, MessageRow, RecipientRow, RuleRow, TaskRow } from './writer-rows.js';
export { HookSession } from './writer-hooks.js';
export { WriterLimits, WriterStartup } from './writer-startup.js';

/** Compare-and-set preconditions carried by conditional writes. */
const Preconditions = {
  /** `"<hash>"` must equal the current ETag, or `*` = must exist. */
  if_match: Type.Optional(Type.String()),
  /** `*` = must not exist. */
  if_none_match: Type.Optional(Type.String()),
};

const StateMeta = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  hash: Type.String(),
  content_type: Type.String(),
  /** Storage text, `YYYY-MM-DD HH:MM:SS` UTC. */
  updated_at: Type.String(),
  /** The store-wide revision of this write. */
  revision: Type.Integer(),
  /** When the key expires (X-Koor-TTL), epoch ms by the writer's clock; absent = never. */
  expires_at: Type.Optional(Type.Integer()),
});

/** A spec as a write left it, without its bytes. */
const SpecMeta = Type.Omit(SPEC_DOC.Row, ['data']);

/** One LLM usage record as the front hands it to the writer: the record's inputs (schemas/db/tables/llm.ts). */
const LlmRecordIn = Type.Object({
  ...LLM.Create.properties,
  provider: Type.String({ minLength: 1 }),
  model: Type.String({ minLength: 1 }),
  cost_source: Type.Union([Type.Literal('reported'), Type.Literal('priced'), Type.Literal('unknown')]),
});
export type LlmRecordIn = Static<typeof LlmRecordIn>;

export const BudgetPeriod = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month'), Type.Literal('total')]);
export type BudgetPeriod = Static<typeof BudgetPeriod>;
/** Each period's current key and its start (storage text; '' for total), by the front's clock. */
const PeriodNow = Type.Object({ key: Type.String(), start: Type.String() });
const BudgetPeriods = Type.Object({ day: PeriodNow, week: PeriodNow, month: PeriodNow, total: PeriodNow });
export type BudgetPeriods = Static<typeof BudgetPeriods>;

/**
 * The writer's method table: every write in the product goes through one of these,
 * executed by the single writer thread inside a group-committed transaction (either backend).
 */
export const WriterMethods = {
  'sys.ping': { req: Type.Object({}), res: Type.Object({ threadId: Type.Integer(), schema_version: Type.Integer() }) },
  /**
   * Blocks the writer for `ms` (max 5000). A test hook (deadlines, queueing): the writer answers
   * it only when started with `test_hooks`, which only test code sets; otherwise "unknown method".
   */
  'sys.sleep': { req: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 5000 }) }), res: Type.Object({}) },

  'state.put': {
    req: Type.Object({
      key: Type.String({ minLength: 1 }),
      value: Bytes,
      content_type: Type.String(),
      updated_by: Type.String(),
      ...Preconditions,
      /** Expires this long after the write (X-Koor-TTL), ms; absent = never. */
      ttl_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      /** Bound to this agent instance (X-Koor-Ephemeral): deleted when it deregisters or goes stale. */
      owner: Type.Optional(Type.String({ minLength: 1 })),
      /** X-Koor-Fence: refused when a live lease on the key, or an earlier fenced write of it, has a larger token. */
      fence: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
    res: StateMeta,
  },
  'state.delete': {
    req: Type.Object({ key: Type.String({ minLength: 1 }), if_match: Type.Optional(Type.String()), updated_by: Type.Optional(Type.String()), fence: Type.Optional(Type.Integer({ minimum: 0 })) }),
    res: Type.Object({ key: Type.String(), revision: Type.Integer() }),
  },
  /** Deletes up to `limit` keys past their TTL, each with an `expire` change. */
  'state.expire': {
    req: Type.Object({ limit: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ expired: Type.Integer(), more: Type.Boolean() }),
  },
  /** Deletes up to `chunk` of the oldest state and spec changes beyond the newest `keep`. */
  'state.prune_changes': {
    req: Type.Object({ keep: Type.Integer({ minimum: 1 }), chunk: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },
  'state.rollback': {
    req: Type.Object({ key: Type.String({ minLength: 1 }), version: Type.Integer(), fence: Type.Optional(Type.Integer({ minimum: 0 })) }),
    /** The new current row, value included so the front can refresh its cache. */
    res: Type.Intersect([StateMeta, Type.Object({ rolled_back: Type.Integer(), value: Bytes })]),
  },

  'specs.put': {
    req: Type.Object({
      project: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      data: Bytes,
      ...Preconditions,
    }),
    res: SpecMeta,
  },
  'specs.delete': {
    req: Type.Object({
      project: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      if_match: Type.Optional(Type.String()),
    }),
    res: Type.Object({ project: Type.String(), name: Type.String(), revision: Type.Integer() }),
  },

  'events.publish': {
    req: Type.Object({
      topic: Type.String({ minLength: 1 }),
      /** Raw JSON text of the event data (`null` when absent), stored verbatim. */
      data: Type.String({ minLength: 1 }),
      source: Type.String(),
    }),
    res: Event,
  },
  /** Deletes up to `chunk` of the oldest events beyond the newest `keep` (called repeatedly). */
  'events.prune': {
    req: Type.Object({ keep: Type.Integer({ minimum: 0 }), chunk: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },
  /**
   * One bounded turn of state-history retention: visits up to `keys` keys after the
   * cursor `after` ('' = from the start) and deletes their logged versions older than the
   * newest `keep` (the current one counts), at most `rows` rows. `next` is the cursor of the
   * following turn; `wrapped` when the sweep reached the last key.
   */
  'state.prune_history': {
    req: Type.Object({ keep: Type.Integer({ minimum: 1 }), after: Type.String(), keys: Type.Integer({ minimum: 1 }), rows: Type.Integer({ minimum: 1 }) }),
    /** `dropped_by_writes`: versions writes dropped themselves since the previous turn. */
    res: Type.Object({ deleted: Type.Integer(), next: Type.String(), wrapped: Type.Boolean(), dropped_by_writes: Type.Integer() }),
  },
  /** Returns up to `pages` free pages to the file system (incremental vacuum); 0 = only report. */
  'db.vacuum': {
    req: Type.Object({ pages: Type.Integer({ minimum: 0 }) }),
    res: Type.Object({ freed: Type.Integer(), free_pages: Type.Integer(), page_count: Type.Integer(), page_size: Type.Integer() }),
  },

  /** A new `proposed` rule (source `learned`); an existing (project, rule_id) is never overwritten. */
  'rules.propose': {
    req: Type.Object({ ...Type.Omit(RuleRow, ['source']).properties, rule_id: Type.String({ minLength: 1 }), pattern: Type.String({ minLength: 1 }) }),
    res: Type.Object({ project: Type.String(), rule_id: Type.String(), status: Type.Literal('proposed') }),
  },
  /** Replaces all of a project's rules (every status) with `rules`, all `accepted` (PUT /api/rules). */
  'rules.replace': {
    req: Type.Object({ project: Type.String({ minLength: 1 }), rules: Type.Array(RuleRow) }),
    res: Type.Object({ count: Type.Integer() }),
  },
  /** A `proposed` rule becomes `accepted` or `rejected`; anything else is NOT_FOUND. */
  'rules.decide': {
    req: Type.Object({ project: Type.String(), rule_id: Type.String(), status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]) }),
    res: Type.Object({ project: Type.String(), rule_id: Type.String(), status: Type.String() }),
  },
  /** Deletes one rule, whatever its status; an absent one is NOT_FOUND. */
  'rules.delete': {
    req: Type.Object({ project: Type.String({ minLength: 1 }), rule_id: Type.String({ minLength: 1 }) }),
    res: Type.Object({ project: Type.String(), rule_id: Type.String() }),
  },
  /**
   * Upserts `accepted` rules (the rules import): a new row keeps its proposed_by/context; an
   * existing one gets the rule's fields and `accepted`, its proposed_by/context kept.
   */
  'rules.import': {
    req: Type.Object({ rules: Type.Array(RuleRow) }),
    res: Type.Object({ imported: Type.Integer() }),
  },

  /**
   * A new template; an existing id is ALREADY_EXISTS, never overwritten.
   * `data` is the JSON text as the client sent it; the reply leaves it out (the caller has it).
   */
  'templates.create': {
    req: Type.Object({
      id: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      description: Type.String(),
      kind: Type.String({ minLength: 1 }),
      data: Type.String({ minLength: 1 }),
      tags: Type.Array(Type.String()),
    }),
    /** Times in storage text. */
    res: Type.Object({ id: Type.String(), version: Type.Integer(), created_at: Type.String(), updated_at: Type.String() }),
  },
  'templates.delete': { req: Type.Object({ id: Type.String({ minLength: 1 }) }), res: Type.Object({ id: Type.String() }) },

  /**
   * One compliance pass: inserts its runs, all with one `run_at`, and keeps
   * the newest `keep` runs per (instance_id, contract) (0 = all), in the same transaction.
   * `violations` is JSON text; `pruned` counts the rows retention removed.
   */
  'compliance.record': {
    req: Type.Object({
      runs: Type.Array(COMPLIANCE_RUN.Create),
      keep: Type.Integer({ minimum: 0 }),
    }),
    res: Type.Object({
      runs: Type.Array(COMPLIANCE_RUN.Row),
      pruned: Type.Integer(),
    }),
  },

  /** A new webhook; an existing id is ALREADY_EXISTS. Matching events are queued from the next publish on. */
  'webhooks.create': {
    req: Type.Object({ id: Type.String({ minLength: 1 }), url: Type.String({ minLength: 1 }), patterns: Type.Array(Type.String()), secret: Type.String() }),
    res: Type.Object({ id: Type.String(), created_at: Type.String() }),
  },
  /**
   * Replaces a webhook's secret stored in plain text by its sealed form, only if it is
   * still `was` (another node may have sealed it first). `sealed` false: nothing changed.
   */
  'webhooks.seal_secret': {
    req: Type.Object({ id: Type.String({ minLength: 1 }), was: Type.String({ minLength: 1 }), secret: Type.String({ minLength: 1 }) }),
    res: Type.Object({ sealed: Type.Boolean() }),
  },
  /** Deletes the webhook (its cursor goes with it). */
  'webhooks.delete': { req: Type.Object({ id: Type.String({ minLength: 1 }) }), res: Type.Object({ id: Type.String() }) },
  /**
   * The outcome of a run of delivery attempts of one webhook, in event order. `cursor`: the last
   * event the webhook is done with (delivered, or not matching its patterns); `delivered`: how
   * many POSTs succeeded (`last_fired` = `at`, `fail_count` 0); `dropped`: matching events passed
   * over because the webhook fell more than the backlog bound behind. `failure` (the attempt that
   * ended the run, on event `event_id`, the one after `cursor`): `fail_count`+1; at
   * WEBHOOK_DISABLE_AFTER_FAILURES the webhook is disabled; else the event is retried at
   * `next_at` (epoch ms), or passed over once it has had `max_attempts`.
   */
  'webhooks.settle': {
    req: Type.Object({
      webhook_id: Type.String(),
      at: Type.String(),
      cursor: Type.Integer({ minimum: 0 }),
      delivered: Type.Integer({ minimum: 0 }),
      dropped: Type.Integer({ minimum: 0 }),
      failure: Type.Optional(Type.Object({ event_id: Type.Integer(), error: Type.String(), next_at: Type.Number() })),
      max_attempts: Type.Integer({ minimum: 1 }),
      /**
       * Cluster mode: the live-restore count the run's reads were made under (ActiveHook.restores).
       * A restore since replaced the log the run read: nothing is recorded.
       */
      restores: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
    res: Type.Object({ disabled: Type.Boolean(), dropped: Type.Integer() }),
  },

  /** Adds per-agent counter increments into their hourly buckets; one upsert each. */
  'agent_metrics.add': {
    req: Type.Object({
      rows: Type.Array(Type.Object({ instance_id: Type.String(), metric_name: Type.String(), period: Type.String(), value: Type.Integer({ minimum: 1 }) })),
    }),
    res: Type.Object({ rows: Type.Integer() }),
  },

  /**
   * LLM usage records, one or a batch (an OTLP export) in one transaction:
   * a record whose `dedup_key` is stored already is not stored again (`duplicate`); one with a
   * `session_id` and no instance is attributed to the agent its hook session binds, when bound.
   * Each stored record publishes `llm.usage.recorded` (source `llmcost`), and the budgets it
   * counts towards publish `budget.warning` / `budget.exceeded` once per period.
   */
  'llm.record': {
    req: Type.Object({
      records: Type.Array(LlmRecordIn, { minItems: 1 }),
      periods: BudgetPeriods,
    }),
    res: Type.Object({
      records: Type.Array(Type.Object({ id: Type.Integer(), created_at: Type.String(), duplicate: Type.Boolean(), instance_id: Type.String(), project: Type.String() })),
      events: Events,
    }),
  },

  /** Sets a spending cap and weighs it against this period's spend at once (a lowered cap may be exceeded now; a raised one lets claims through). */
  'budget.put': {
    req: Type.Object({
      scope: Type.String({ minLength: 1 }),
      usd: Type.Number(),
      tokens: Type.Integer(),
      period: BudgetPeriod,
      warn_at: Type.Number(),
      periods: BudgetPeriods,
    }),
    res: Type.Object({ events: Events }),
  },

  /** Removes a spending cap. */
  'budget.delete': {
    req: Type.Object({ scope: Type.String({ minLength: 1 }) }),
    res: Type.Object({ deleted: Type.Boolean() }),
  },

  /** A call its route's access rule refused: one audit entry, `auth.denied`, outcome `denied`. */
  'audit.denied': {
    req: Type.Object({ actor: Type.String(), resource: Type.String(), detail: Type.String() }),
    res: Type.Object({ id: Type.Integer() }),
  },
  /**
   * Rows beyond the newest `keep` (bounded by count, not only age), oldest first, at most
   * `chunk`; `more` when the chunk was full. The logs count by id (gaps only keep fewer); agent-metric
   * buckets by their count, oldest hours first.
   */
  'ops.trim': {
    req: Type.Object({
      table: Type.Union([Type.Literal('audit_log'), Type.Literal('agent_metrics'), Type.Literal('llm_usage'), Type.Literal('messages'), Type.Literal('idempotency_keys')]),
      keep: Type.Integer({ minimum: 1 }),
      chunk: Type.Integer({ minimum: 1 }),
    }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },
  /**
   * One bounded retention turn of an append-only operations table: deletes up to
   * `chunk` of its oldest rows older than `before` (storage text; for agent_metrics an hour
   * period `YYYY-MM-DDTHH`). `more` when a full chunk went.
   */
  'ops.prune': {
    req: Type.Object({
      table: Type.Union([Type.Literal('audit_log'), Type.Literal('agent_metrics'), Type.Literal('llm_usage'), Type.Literal('idempotency_keys'), Type.Literal('api_tokens'), Type.Literal('hook_sessions_ended'), Type.Literal('compliance_runs')]),
      before: Type.String(),
      chunk: Type.Integer({ minimum: 1 }),
    }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },

  ...InstanceMethods,
  ...LeaseMethods,
  ...TaskMethods,
  ...MessageMethods,
  ...HookMethods,
  ...TxnMethods,
  ...TokenMethods,
} satisfies MethodTable;

export type WriterMethods = typeof WriterMethods;
export type WriterMethod = keyof WriterMethods;
