import { PositiveInt, Query } from '../../../schemas/http/common.js';
import { Type } from '../../../schemas/typebox.js';
import { gunzipSync } from 'node:zlib';
import { Budget, BudgetBody, BudgetDeletedReply, BudgetListReply, LlmListReply, LlmRecordedReply, LlmSummaryReply, LlmUsageBody, OtlpLogsBody, OtlpMetricsBody, OtlpReply, OtlpTracesBody } from '../../../schemas/http/llm.js';
import type { BudgetPeriod } from '../../../schemas/rpc/writer.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import { checkName } from '../../names.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Ctx } from '../../http/context.js';
import { projectQuery, queryValue, rule } from '../../http/permissions.js';
import { permitTargets, type Target } from '../../access.js';
import type { Route } from '../../http/route.js';
import { instantParam, positiveInt, queryParams } from '../../http/query.js';
import { OTLP_CHUNK_RECORDS, OTLP_MAX_RECORDS } from '../../shared/limits.js';
import { OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT } from '../../shared/limits-features.js';
import { usageFromLogs, usageFromTraces } from './otlp.js';
import { isGroupBy, type ListFilter, type LlmService, type Usage } from './service.js';

type N = number | null | undefined;
type Body = { [K in 'instance_id' | 'project' | 'provider' | 'model' | 'request_type' | 'session_tag']?: string | null } & {
  tokens_in?: N;
  tokens_out?: N;
  cache_creation_tokens?: N;
  cache_read_tokens?: N;
  cost_usd?: N;
  usage?: {
    input_tokens?: N;
    output_tokens?: N;
    cache_creation_input_tokens?: N;
    cache_read_input_tokens?: N;
    prompt_tokens?: N;
    completion_tokens?: N;
    prompt_tokens_details?: { cached_tokens?: N } | null;
  } | null;
};

/**
 * Token counts from Koor's own members, else from the provider's `usage` object:
 * Anthropic's input_tokens exclude cache writes and reads, which it counts apart; OpenAI's
 * prompt_tokens include the cached ones (prompt_tokens_details.cached_tokens), kept apart here
 * as cache reads so that tokens_in means the same for both.
 */
function tokensOf(b: Body): Pick<Usage, 'tokens_in' | 'tokens_out' | 'cache_creation_tokens' | 'cache_read_tokens'> {
  const u = b.usage ?? {};
  const openai = u.prompt_tokens != null || u.completion_tokens != null;
  const cached = openai ? (u.prompt_tokens_details?.cached_tokens ?? 0) : (u.cache_read_input_tokens ?? 0);
  const fromUsage = openai
    ? { tokens_in: Math.max(0, (u.prompt_tokens ?? 0) - cached), tokens_out: u.completion_tokens ?? 0, cache_creation_tokens: 0, cache_read_tokens: cached }
    : { tokens_in: u.input_tokens ?? 0, tokens_out: u.output_tokens ?? 0, cache_creation_tokens: u.cache_creation_input_tokens ?? 0, cache_read_tokens: cached };
  return {
    tokens_in: b.tokens_in ?? fromUsage.tokens_in,
    tokens_out: b.tokens_out ?? fromUsage.tokens_out,
    cache_creation_tokens: b.cache_creation_tokens ?? fromUsage.cache_creation_tokens,
    cache_read_tokens: b.cache_read_tokens ?? fromUsage.cache_read_tokens,
  };
}

const SCOPE = /^(?:global|(?:agent|project|session):.+)$/s;

/** A budget scope from the path: `agent:<id|name>`, `project:<p>`, `session:<tag>` or `global`. */
function scopeParam(raw: string): string {
  let scope: string;
  try {
    scope = decodeURIComponent(raw);
  } catch {
    throw fail('INVALID_URL_ENCODING', 'budget scope');
  }
  if (!SCOPE.test(scope)) throw fail('BUDGET_SCOPE_INVALID', scope);
  checkName(scope, 'budget scope');
  return scope;
}

/**
 * An OTLP/HTTP body's JSON bytes (gzip allowed); protobuf is refused with what to set instead. The
 * JSON is then checked as every route's is (UTF-8, depth, the schema's types).
 */
function otlpJson(ctx: Ctx, body: Buffer): Buffer {
  if (/protobuf/i.test(ctx.headers.contentType)) throw fail('OTLP_PROTOBUF');
  if (!/gzip/i.test(ctx.extraHeaders['content-encoding'] ?? '')) return body;
  try {
    return gunzipSync(body, { maxOutputLength: 16 * 1024 * 1024 });
  } catch {
    throw fail('INVALID_JSON');
  }
}

/**
 * The agents a non-admin caller may charge through an OTLP session id: its own, and those bound by
 * its token (as the hooks record it: a created token's id, or `instance:<id>` for an instance token).
 */
async function mayCharge(svc: LlmService, ctx: Ctx, sessionId: string, cache: Map<string, boolean>): Promise<boolean> {
  if (ctx.principal.role === 'admin' || sessionId === '') return true;
  const known = cache.get(sessionId);
  if (known !== undefined) return known;
  const own = ctx.identity?.instanceId ?? null;
  const token = ctx.principal.tokenId ?? (own !== null ? `instance:${own}` : null);
  const o = await svc.sessionOwner(sessionId);
  const ok = o.instance_id === '' || o.instance_id === own || (token !== null && o.token_id === token);
  cache.set(sessionId, ok);
  return ok;
}

/**
 * An OTLP export's usage records, recorded: at most OTLP_MAX_RECORDS an export, and a non-admin
 * caller's records of another agent's session refused, both told in OTLP's partialSuccess (`field`:
 * `rejectedLogRecords` or `rejectedSpans`); a scoped token reports only for its projects (the whole
 * export refused, as any call out of scope).
 */
async function recordExport(svc: LlmService, ctx: Ctx, usages: Usage[], field: 'rejectedLogRecords' | 'rejectedSpans'): Promise<void> {
  for (const p of new Set(usages.map((u) => u.project).filter((x) => x !== ''))) permitTargets(ctx, 'send telemetry', { kind: 'project', name: p });
  const reasons: string[] = [];
  const kept: Usage[] = [];
  let foreign = 0;
  const owners = new Map<string, boolean>();
  for (const u of usages.slice(0, OTLP_MAX_RECORDS)) {
    if (u.instance_id === '' && !(await mayCharge(svc, ctx, u.session_id, owners))) foreign++;
    else kept.push(u);
  }
  const over = Math.max(0, usages.length - OTLP_MAX_RECORDS);
  if (over > 0) reasons.push(`${over} usage records past the ${OTLP_MAX_RECORDS} an export may carry`);
  if (foreign > 0) reasons.push(`${foreign} records of sessions bound to agents this token may not act as`);
  let recorded = 0;
  let duplicates = 0;
  // In writer calls of OTLP_CHUNK_RECORDS: one export does not hold the writer for long.
  for (let i = 0; i < kept.length; i += OTLP_CHUNK_RECORDS) {
    const r = await svc.record(kept.slice(i, i + OTLP_CHUNK_RECORDS), auditBy(ctx, ctx.identity?.instanceId ?? ''));
    for (const x of r.records) x.duplicate ? duplicates++ : recorded++;
  }
  const partialSuccess = over + foreign > 0 ? { [field]: over + foreign, errorMessage: reasons.join('; ') } : {};
  sendJson(ctx, 200, { partialSuccess, recorded, duplicates });
}

/** An OTLP/HTTP receiving route: JSON (gzip allowed, protobuf refused), OTLP's reply. */
function otlpRoute(path: string, kind: string, schema: Route['schema'], handler: Route['handler']): Route {
  return {
    method: 'POST',
    path,
    summary: `Receive OpenTelemetry ${kind} (OTLP/HTTP)`,
    rule: rule('write', 'send telemetry'),
    replies: { 200: OtlpReply },
    body: 'json',
    schema,
    headers: { 'content-encoding': GzipHeader },
    decode: otlpJson,
    handler,
  };
}

/** OTLP/HTTP exporters may gzip their bodies. */
const GzipHeader = Type.String({ description: 'gzip, or absent' });

const budgetQuery = {
  from: 'request',
  target: (ctx: Ctx): Target => {
    const scope = queryValue(ctx, 'scope');
    return { kind: 'project', name: scope !== null && scope.startsWith('project:') ? scope.slice('project:'.length) : null };
  },
} as const;

export function llmRoutes(svc: LlmService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/llm/usage',
      summary: 'Record LLM usage',
      // Whose usage and which project: checked by the handler (the caller's own agent; a scoped token's projects).
      rule: rule('write', 'record LLM usage'),
      replies: { 200: LlmRecordedReply },
      body: 'json',
      schema: LlmUsageBody,
      handler: async (ctx) => {
        const b = ctx.json as Body;
        if (!b.provider) throw fail('FIELD_REQUIRED', 'provider');
        if (!b.model) throw fail('FIELD_REQUIRED', 'model');
        // An identified agent that leaves instance_id out records usage as itself; only
        // the operator charges another agent's budget.
        const own = ctx.identity?.instanceId ?? '';
        if (ctx.principal.role !== 'admin' && b.instance_id && b.instance_id !== own) throw fail('ROLE_FORBIDDEN', ctx.principal.role, 'record LLM usage for another agent');
        if (b.project) permitTargets(ctx, 'record LLM usage', { kind: 'project', name: b.project });
        const instanceId = b.instance_id || own;
        const usage: Usage = {
          instance_id: instanceId,
          project: b.project ?? '',
          provider: b.provider,
          model: b.model,
          ...tokensOf(b),
          cost_usd: b.cost_usd ?? null,
          request_type: b.request_type || 'completion',
          session_tag: b.session_tag ?? '',
          session_id: '',
          dedup_key: '',
        };
        const r = (await svc.record([usage], auditBy(ctx, instanceId))).records[0]!;
        sendJson(ctx, 200, { id: r.id, recorded: true, cost_usd: r.cost_usd, cost_source: r.cost_source });
      },
    },
    {
      method: 'GET',
      path: '/api/llm/usage',
      summary: 'List LLM usage records',
      rule: rule('read', 'read LLM usage', projectQuery),
      replies: { 200: LlmListReply },
      query: Query({ instance: 'Only the records of this agent', project: 'Only the records of this project', session_tag: 'Only the records of this session', from: 'Records at or after this instant', to: 'Records before this instant', limit: PositiveInt('How many records') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        let by: ListFilter['by'] = null;
        if (q.get('instance')) by = { column: 'instance_id', value: q.get('instance')! };
        else if (q.get('project')) by = { column: 'project', value: q.get('project')! };
        else if (q.get('session_tag')) by = { column: 'session_tag', value: q.get('session_tag')! };
        sendJson(
          ctx,
          200,
          await svc.list({ by, from: instantParam(q, 'from', true), to: instantParam(q, 'to', true), limit: positiveInt(q, 'limit', OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT) }),
        );
      },
    },
    {
      method: 'GET',
      path: '/api/llm/usage/summary',
      summary: 'Summarise LLM usage',
      rule: rule('read', 'read LLM usage', projectQuery),
      replies: { 200: LlmSummaryReply },
      query: Query({ group_by: 'instance, project (default), model or session_tag', project: 'Only the records of this project', from: 'Records at or after this instant', to: 'Records before this instant' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const groupBy = q.get('group_by') || 'project';
        if (!isGroupBy(groupBy)) throw fail('GROUP_BY_INVALID');
        const span = { from: instantParam(q, 'from', true), to: instantParam(q, 'to', true), project: q.get('project') || null };
        // from/to echoed as given ("" when absent).
        sendJson(ctx, 200, { group_by: groupBy, from: q.get('from') ?? '', to: q.get('to') ?? '', ...(await svc.summary(groupBy, span)) });
      },
    },
    // OpenTelemetry in: OTLP/HTTP JSON, the paths an exporter appends to its endpoint.
    otlpRoute('/v1/logs', 'logs', OtlpLogsBody, (ctx) => recordExport(svc, ctx, usageFromLogs(ctx.json, ctx.identity?.instanceId ?? '').usages, 'rejectedLogRecords')),
    // Copilot CLI reports each request to the model as a span; Gemini CLI exports traces beside its logs.
    otlpRoute('/v1/traces', 'traces', OtlpTracesBody, (ctx) => recordExport(svc, ctx, usageFromTraces(ctx.json, ctx.identity?.instanceId ?? '').usages, 'rejectedSpans')),
    // Metrics are accepted (an exporter configured for both must not see errors) and not kept:
    // the log records and spans carry each request's tokens and cost.
    otlpRoute('/v1/metrics', 'metrics', OtlpMetricsBody, (ctx) => sendJson(ctx, 200, { partialSuccess: {}, recorded: 0, duplicates: 0 })),
    // Budgets.
    {
      // `?scope=` narrows to one budget (a scoped token must: to a project of its scopes).
      method: 'GET',
      path: '/api/budgets',
      summary: 'List LLM budgets',
      rule: rule('read', 'read budgets', budgetQuery),
      replies: { 200: BudgetListReply },
      query: Query({ scope: 'Only this budget: agent:<id|name>, project:<p>, session:<tag> or global' }),
      handler: async (ctx) => {
        const only = queryParams(ctx).get('scope') || null;
        sendJson(ctx, 200, await svc.budgets(only === null ? undefined : (s) => s === only));
      },
    },
    {
      method: 'PUT',
      path: '/api/budgets/:scope',
      summary: 'Set an LLM budget',
      rule: rule('admin', 'set budgets'),
      replies: { 200: Budget },
      body: 'json',
      schema: BudgetBody,
      handler: async (ctx) => {
        const scope = scopeParam(ctx.params[0]!);
        const b = ctx.json as { usd?: number | null; tokens?: number | null; period?: BudgetPeriod | null; warn_at?: number | null };
        if (b.usd == null && b.tokens == null) throw fail('BUDGET_CAP_REQUIRED');
        const w = await svc.putBudget(scope, { usd: b.usd ?? -1, tokens: b.tokens ?? -1, period: b.period ?? 'month', warn_at: b.warn_at ?? 0.8 }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.budget, replayHeaders(w.replayed));
      },
    },
    {
      method: 'DELETE',
      path: '/api/budgets/:scope',
      summary: 'Remove an LLM budget',
      rule: rule('admin', 'remove budgets'),
      replies: { 200: BudgetDeletedReply },
      handler: async (ctx) => {
        const scope = scopeParam(ctx.params[0]!);
        await svc.deleteBudget(scope, auditBy(ctx));
        sendJson(ctx, 200, { deleted: scope });
      },
    },
  ];
}
