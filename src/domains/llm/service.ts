import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import type { BudgetPeriod, BudgetPeriods } from '../../../schemas/rpc/writer.js';
import { budgetFill } from '../../../schemas/db/llm.js';
import { usageReply } from '../../../schemas/db/tables/llm.js';
import type { Budget, LlmRecord as LlmRecordReply } from '../../../schemas/http/llm.js';
import { fail } from '../../errors.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339 } from '../../../schemas/db/time.js';
import { periodsAt, secondsLeft } from './periods.js';
import type { PriceTable } from './prices.js';
import type { ListFilter, LlmInput, LlmReader, Span, Sum } from './reader.js';

export type { ListFilter, LlmInput, LlmRecord } from './reader.js';

/** `GET /api/llm/summary` group_by values → columns. */
const GROUP_COLUMN = { instance: 'instance_id', project: 'project', model: 'model', session_tag: 'session_tag' } as const;
export type GroupBy = keyof typeof GROUP_COLUMN;
export const isGroupBy = (s: string): s is GroupBy => Object.hasOwn(GROUP_COLUMN, s);

/** A record as a caller gives it: without a cost, the price table prices it. */
export type Usage = Omit<LlmInput, 'cost_usd' | 'cost_source'> & { cost_usd: number | null };

/**
 * LLM usage, cost and budgets: records through the writer (priced from the
 * price table when they come without a cost), lists, summaries and budgets from its reader.
 */
export class LlmService {
  constructor(
    private readonly reader: LlmReader,
    private readonly writer: WriterClient,
    /** Fans out the events a write stored (`llm.usage.recorded`, `budget.*`). */
    readonly prices: PriceTable,
    /** The budget clock: the wall clock, or ahead of it under test. */
    private readonly now: () => number,
  ) {}

  periods(): BudgetPeriods {
    return periodsAt(this.now());
  }

  /** A record's cost and where it came from: given, priced, or unknown (tokens kept, cost 0 is not claimed). */
  priced(u: Usage): LlmInput {
    if (u.tokens_in < 0 || u.tokens_out < 0 || u.cache_creation_tokens < 0 || u.cache_read_tokens < 0) throw fail('TOKENS_NEGATIVE');
    if (u.cost_usd !== null) return { ...u, cost_usd: u.cost_usd, cost_source: 'reported' };
    const cost = this.prices.cost(u.model, u);
    return cost === null ? { ...u, cost_usd: 0, cost_source: 'unknown' } : { ...u, cost_usd: cost, cost_source: 'priced' };
  }

  /** Stores the records in one transaction (a retried one not again), then fans out what it published. */
  async record(usages: readonly Usage[], audit: AuditTag): Promise<{ records: Array<{ id: number; duplicate: boolean; cost_usd: number | null; cost_source: LlmInput['cost_source'] }> }> {
    const inputs = usages.map((u) => this.priced(u));
    const r = await this.writer.call('llm.record', { records: inputs, periods: this.periods() }, { audit });
    return { records: r.records.map((x, i) => ({ id: x.id, duplicate: x.duplicate, cost_usd: inputs[i]!.cost_source === 'unknown' ? null : inputs[i]!.cost_usd, cost_source: inputs[i]!.cost_source })) };
  }

  /** A coding-agent session's agent ('' = none yet) and the token that bound it. */
  sessionOwner(sessionId: string): Promise<{ instance_id: string; token_id: string }> {
    return Promise.resolve(this.reader.sessionOwner(sessionId));
  }

  async list(f: ListFilter): Promise<LlmRecordReply[]> {
    return (await this.reader.list(f)).map(usageReply);
  }

  async summary(groupBy: GroupBy, span: Span): Promise<{ groups: Record<string, Sum>; total: Sum }> {
    const r = await this.reader.summary(GROUP_COLUMN[groupBy], span);
    const groups: Record<string, Sum> = {};
    for (const { g, ...sum } of r.groups) groups[g] = sum;
    return { groups, total: r.total };
  }

  // ── Budgets ──

  /**
   * Every budget (or those of `only`) with its spend this period: the row's running spend, which
   * each record adds to and the claim gate reads, while it is of the current period; summed from
   * the log only when the period rolled (or a hook moved records) since it was last weighed.
   */
  async budgets(only?: (scope: string) => boolean): Promise<Budget[]> {
    const periods = this.periods();
    const rows = (await this.reader.budgets()).filter((b) => only === undefined || only(b.scope));
    return Promise.all(
      rows.map(async (b): Promise<Budget> => {
        const p = periods[b.period];
        const spend = b.spent_key === p.key ? { usd: b.spent_usd, tokens: b.spent_tokens, unpriced: b.unpriced } : await this.reader.spend(b.scope, p.start);
        const fill = budgetFill(b, spend);
        return {
          scope: b.scope,
          usd: b.usd < 0 ? null : b.usd,
          tokens: b.tokens < 0 ? null : b.tokens,
          period: b.period,
          period_key: p.key,
          warn_at: b.warn_at,
          spent_usd: Math.round(spend.usd * 1e8) / 1e8,
          spent_tokens: spend.tokens,
          unpriced: spend.unpriced,
          fill: Number.isFinite(fill) ? Math.round(fill * 1e4) / 1e4 : 1,
          status: b.exceeded === p.key ? 'exceeded' : fill >= b.warn_at ? 'warning' : 'ok',
          updated_at: toRfc3339(b.updated_at),
        };
      }),
    );
  }

  /** `replayed`: an idempotent retry (its events went out with the first write); the budget is read as it is now. */
  async putBudget(scope: string, b: { usd: number; tokens: number; period: BudgetPeriod; warn_at: number }, audit: AuditTag, idem: IdemTag | null = null): Promise<{ budget: Budget; replayed: boolean }> {
    const { replayed } = await this.writer.callIdempotent('budget.put', { scope, ...b, periods: this.periods() }, idem, { audit });
    return { budget: (await this.budgets((x) => x === scope))[0]!, replayed };
  }

  async deleteBudget(scope: string, audit: AuditTag): Promise<void> {
    const r = await this.writer.call('budget.delete', { scope }, { audit });
    if (!r.deleted) throw fail('BUDGET_NOT_FOUND', scope);
  }

  /**
   * The budget that refuses an agent's task claim in a project this period, if any: its own
   * (by id or name), the project's, or the global one, exceeded in the current period.
   */
  async refusing(agent: { instanceId: string; name: string }, project: string): Promise<{ why: string; retryAfter: number | null } | null> {
    const rows = await this.reader.exceeded([`agent:${agent.instanceId}`, agent.name === '' ? '' : `agent:${agent.name}`, `project:${project}`]);
    if (rows.length === 0) return null;
    const periods = this.periods();
    const b = rows.find((x) => x.exceeded === periods[x.period].key);
    if (!b) return null;
    const caps = [b.usd >= 0 ? `$${b.usd}` : '', b.tokens >= 0 ? `${b.tokens} tokens` : ''].filter((x) => x !== '').join(' / ');
    const why = `${b.scope} reached its ${b.period === 'total' ? 'total' : `${b.period}ly`.replace('dayly', 'daily')} cap of ${caps}`;
    // Retry when the period ends (never, for a total cap: a person must raise it).
    return { why, retryAfter: secondsLeft(b.period, this.now()) };
  }
}
