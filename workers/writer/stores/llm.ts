import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { BudgetPeriods, Event, LlmRecordIn, WriterMethods } from '../../../schemas/rpc/writer.js';
import { inserting, sql, type Tx } from '../sql.js';
import { dataNow, storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';
import { HOOK_SESSION_ENDED_KEEP_MS } from '../../../schemas/db/tables/hooks.js';
import { LLM, usageReply } from '../../../schemas/db/tables/llm.js';
import { BUDGET_COLUMNS, budgetFill, budgetRow, SPEND, scopeParts, spendRow, type BudgetRow, type Spend, type SpendRow } from '../../../schemas/db/llm.js';

type M = WriterMethods;

const INSERT = inserting(`INSERT INTO llm_usage (${LLM.inputs.join(', ')}, created_at) VALUES (${LLM.inputs.map(() => '?').join(', ')}, ?)`);
const BY_KEY = sql("SELECT id, created_at, instance_id, project FROM llm_usage WHERE dedup_key = ? AND dedup_key <> ''");
const SESSION = sql('SELECT instance_id, project FROM hook_sessions WHERE session_id = ?');
/**
 * A session whose hooks ended it already (its export flushed at exit): whom its earlier records
 * went to. `session_id <> ''` lets the partial index llm_usage_client_session serve it (without
 * it the whole table was read: 0.75–1.2 ms at 20,000 records).
 */
const SESSION_BEFORE = sql("SELECT instance_id, project FROM llm_usage WHERE session_id = ? AND session_id <> '' AND instance_id <> '' ORDER BY id DESC LIMIT 1");
const NAME_OF = sql('SELECT name FROM instances WHERE id = ?');
/** A session's records from before a hook bound it, now the bound agent's. */
const ATTRIBUTE = sql(
  "UPDATE llm_usage SET instance_id = ?, project = CASE WHEN project = '' THEN ? ELSE project END WHERE session_id = ? AND instance_id = '' AND session_id <> ''",
);

const BUDGETS_FOR = sql(`SELECT ${BUDGET_COLUMNS} FROM budgets WHERE scope IN (?, ?, ?, ?, 'global') ORDER BY scope`);
const BUDGET = sql(`SELECT ${BUDGET_COLUMNS} FROM budgets WHERE scope = ?`);
const UPSERT = sql(
  `INSERT INTO budgets (scope, usd, tokens, period, warn_at, warned, exceeded, updated_at) VALUES (?, ?, ?, ?, ?, '', '', ?)
   ON CONFLICT (scope) DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, period = excluded.period, warn_at = excluded.warn_at, updated_at = excluded.updated_at`,
);
const MARK = sql('UPDATE budgets SET warned = ?, exceeded = ?, spent_key = ?, spent_usd = ?, spent_tokens = ?, unpriced = ? WHERE scope = ?');
/** Records moved to an agent: the running spends are summed afresh at their next record. */
const FORGET_SPENDS = sql("UPDATE budgets SET spent_key = '' WHERE spent_key <> ''");
const DELETE = sql('DELETE FROM budgets WHERE scope = ?');

async function spendOf(tx: Pick<Tx, 'get'>, scope: string, start: string): Promise<Spend> {
  const [kind, value] = scopeParts(scope);
  return spendRow(await tx.get<SpendRow>(SPEND[kind], value, value, start));
}

/** A session that ended lately (hook_sessions_ended): whose agent it was. */
const ENDED = sql('SELECT instance_id, project FROM hook_sessions_ended WHERE session_id = ? AND ended_at >= ?');
const END = sql(
  `INSERT INTO hook_sessions_ended (session_id, instance_id, project, ended_at) VALUES (?, ?, ?, ?)
   ON CONFLICT (session_id) DO UPDATE SET instance_id = excluded.instance_id, project = excluded.project, ended_at = excluded.ended_at`,
);

/** LLM usage records and the budgets they count towards. */
export function llmStore(events: EventStore) {
  const publish = async (tx: Tx, topic: string, data: string, source: string): Promise<Event> => events.publish(tx, { topic, data, source });

  /**
   * Weighs a budget against its period's spend: publishes `budget.warning` past warn_at and
   * `budget.exceeded` at the cap, each once per period (the period's key kept in the row);
   * `reset` (a cap set anew) first forgets what no longer holds. The spend is the row's running
   * one plus `added` while it is of this period, else summed afresh (once a period, or after a PUT).
   */
  const weigh = async (tx: Tx, b: BudgetRow, periods: BudgetPeriods, reset: boolean, added: Spend | null): Promise<Event[]> => {
    const p = periods[b.period];
    const spend =
      !reset && added !== null && b.spent_key === p.key
        ? { usd: b.spent_usd + added.usd, tokens: b.spent_tokens + added.tokens, unpriced: b.unpriced + added.unpriced }
        : await spendOf(tx, b.scope, p.start);
    const f = budgetFill(b, spend);
    let warned = b.warned === p.key ? b.warned : '';
    let exceeded = b.exceeded === p.key ? b.exceeded : '';
    if (reset) {
      if (f < 1) exceeded = '';
      if (f < b.warn_at) warned = '';
    }
    const out: Event[] = [];
    const data = (level: string) =>
      JSON.stringify({ scope: b.scope, level, period: b.period, period_key: p.key, usd: b.usd < 0 ? null : b.usd, tokens: b.tokens < 0 ? null : b.tokens, warn_at: b.warn_at, spent_usd: Math.round(spend.usd * 1e8) / 1e8, spent_tokens: spend.tokens, unpriced: spend.unpriced });
    if (f >= b.warn_at && warned === '') {
      warned = p.key;
      out.push(await publish(tx, 'budget.warning', data('warning'), 'budget'));
    }
    if (f >= 1 && exceeded === '') {
      exceeded = p.key;
      out.push(await publish(tx, 'budget.exceeded', data('exceeded'), 'budget'));
    }
    await tx.run(MARK, warned, exceeded, p.key, spend.usd, spend.tokens, spend.unpriced, b.scope);
    return out;
  };

  /** Whether a stored record counts towards a budget's scope (`name`: its agent's name). */
  const counts = (scope: string, r: LlmRecordIn, name: string | undefined): boolean => {
    const [kind, value] = scopeParts(scope);
    if (kind === 'global') return true;
    if (kind === 'agent') return r.instance_id !== '' && (value === r.instance_id || value === name);
    if (kind === 'project') return value === r.project;
    return value === r.session_tag;
  };

  return {
    async record(tx: Tx, req: ReqOf<M, 'llm.record'>): Promise<ResOf<M, 'llm.record'>> {
      const out: ResOf<M, 'llm.record'> = { records: [], events: [] };
      const touched = new Map<string, LlmRecordIn>();
      const stored: Array<{ r: LlmRecordIn; created_at: string }> = [];
      for (const given of req.records) {
        if (given.dedup_key !== '') {
          const seen = await tx.get<{ id: number; created_at: string; instance_id: string; project: string }>(BY_KEY, given.dedup_key);
          if (seen) {
            out.records.push({ id: Number(seen.id), created_at: seen.created_at, duplicate: true, instance_id: seen.instance_id, project: seen.project });
            continue;
          }
        }
        const r = { ...given };
        if (r.instance_id === '' && r.session_id !== '') {
          const s =
            (await tx.get<{ instance_id: string; project: string }>(SESSION, r.session_id)) ??
            (await tx.get<{ instance_id: string; project: string }>(ENDED, r.session_id, storageNow(dataNow() - HOOK_SESSION_ENDED_KEEP_MS))) ??
            (await tx.get<{ instance_id: string; project: string }>(SESSION_BEFORE, r.session_id));
          if (s) {
            r.instance_id = s.instance_id;
            if (r.project === '') r.project = s.project;
          }
        }
        const created_at = storageNow();
        const id = await tx.insert(INSERT, ...LLM.values(r), created_at);
        out.records.push({ id, created_at, duplicate: false, instance_id: r.instance_id, project: r.project });
        out.events.push(await publish(tx, 'llm.usage.recorded', JSON.stringify(usageReply({ id, ...r, created_at })), 'llmcost'));
        touched.set(`${r.instance_id}\n${r.project}\n${r.session_tag}`, r);
        stored.push({ r, created_at });
      }
      // Each budget these records count towards, weighed once after all of them.
      const names = new Map<string, string | undefined>();
      const budgets = new Map<string, BudgetRow>();
      for (const r of touched.values()) {
        if (!names.has(r.instance_id)) names.set(r.instance_id, r.instance_id === '' ? undefined : (await tx.get<{ name: string }>(NAME_OF, r.instance_id))?.name);
        const name = names.get(r.instance_id);
        const rows = await tx.all<BudgetRow>(BUDGETS_FOR, r.instance_id === '' ? '' : `agent:${r.instance_id}`, name === undefined ? '' : `agent:${name}`, r.project === '' ? '' : `project:${r.project}`, r.session_tag === '' ? '' : `session:${r.session_tag}`);
        for (const b of rows) if (!budgets.has(b.scope)) budgets.set(b.scope, budgetRow(b));
      }
      for (const b of budgets.values()) {
        const start = req.periods[b.period].start;
        const added: Spend = { usd: 0, tokens: 0, unpriced: 0 };
        for (const { r, created_at } of stored) {
          if (created_at < start || !counts(b.scope, r, names.get(r.instance_id))) continue;
          added.usd += r.cost_usd;
          added.tokens += r.tokens_in + r.tokens_out;
          if (r.cost_source === 'unknown') added.unpriced++;
        }
        out.events.push(...(await weigh(tx, b, req.periods, false, added)));
      }
      return out;
    },

    /**
     * A coding-agent session ended (its end hook): records of it exported later, on any node, are
     * still its agent's for HOOK_SESSION_ENDED_KEEP_MS (the retention pass deletes older ends).
     */
    async ended(tx: Tx, sessionId: string, instanceId: string, project: string): Promise<void> {
      await tx.run(END, sessionId, instanceId, project, storageNow());
    },

    /** A hook bound a coding-agent session: its records from before become its agent's. */
    async attribute(tx: Tx, sessionId: string, instanceId: string, project: string): Promise<void> {
      if ((await tx.run(ATTRIBUTE, instanceId, project, sessionId)) > 0) await tx.run(FORGET_SPENDS);
    },

    async putBudget(tx: Tx, req: ReqOf<M, 'budget.put'>): Promise<ResOf<M, 'budget.put'>> {
      await tx.run(UPSERT, req.scope, req.usd, req.tokens, req.period, req.warn_at, storageNow());
      const b = budgetRow((await tx.get<BudgetRow>(BUDGET, req.scope))!);
      return { events: await weigh(tx, b, req.periods, true, null) };
    },

    async deleteBudget(tx: Tx, req: ReqOf<M, 'budget.delete'>): Promise<ResOf<M, 'budget.delete'>> {
      return { deleted: (await tx.run(DELETE, req.scope)) > 0 };
    },
  };
}
