import { DeletedReply, Query } from '../../../schemas/http/common.js';
import { auditBy } from '../../http/actor.js';
import { ProjectRulesReply, RuleDecisionReply, RuleInput, RuleListReply, RulesImportBody, RulesImportReply, RulesPutBody, RulesPutReply, ValidateBody, ValidateReply } from '../../../schemas/http/rules.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { queryParams } from '../../http/query.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { RULE_STATUSES, type RuleService, type RuleStatus } from './service.js';
import { fail } from '../../errors.js';
import { projectBody, projectParam, projectQuery, rule } from '../../http/permissions.js';

type Str = string | null | undefined;
const s = (v: Str): string => v ?? '';
const project = (ctx: Ctx): string => pathName(ctx.params[0]!, 'project');
/** A decision's reply, marked when it was an idempotent retry answered with the first result. */
const decided = (ctx: Ctx, w: { res: unknown; replayed: boolean }): void => sendJson(ctx, 200, w.res, replayHeaders(w.replayed));

/** Sources exported when `?source=` is absent. */
const DEFAULT_EXPORT_SOURCES = ['local', 'learned'];

/** Rules, validation and the rule lifecycle. */
export function ruleRoutes(svc: RuleService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/validate/:project/rules',
      summary: "A project's rules",
      rule: rule('read', 'read rules', projectParam),
      replies: { 200: ProjectRulesReply },
      query: Query({ stack: 'Only the rules for this stack' }),
      handler: async (ctx) => sendJson(ctx, 200, await svc.list(project(ctx), queryParams(ctx).get('stack') ?? '')),
    },
    {
      method: 'PUT',
      path: '/api/validate/:project/rules',
      summary: "Replace a project's rules",
      rule: rule('admin', 'replace a rule set', projectParam),
      replies: { 200: RulesPutReply },
      body: 'json',
      schema: RulesPutBody,
      handler: async (ctx) => sendJson(ctx, 200, await svc.replace(project(ctx), ctx.json as RuleInput[] | null)),
    },
    {
      method: 'POST',
      path: '/api/validate/:project',
      summary: "Check content against a project's rules",
      rule: rule('read', 'validate content', projectParam),
      replies: { 200: ValidateReply },
      body: 'json',
      schema: ValidateBody,
      handler: async (ctx) => {
        const b = ctx.json as { filename?: Str; content?: Str; stack?: Str };
        const r = await svc.validate(project(ctx), { filename: s(b.filename), content: s(b.content), stack: s(b.stack) });
        ctx.tally?.('validations');
        ctx.tally?.('violations', r.count);
        sendJson(ctx, 200, r);
      },
    },
    {
      method: 'POST',
      path: '/api/rules/propose',
      summary: 'Propose a rule',
      rule: rule('write', 'propose rules', projectBody),
      replies: { 200: RuleDecisionReply },
      body: 'json',
      schema: RuleInput,
      handler: async (ctx) => {
        const r = ctx.json as RuleInput;
        // The actor is the body's proposed_by (else the calling agent).
        const w = await svc.propose(r, ctx.identity?.instanceId ?? '', auditBy(ctx, r.proposed_by ?? ''), requestIdem(ctx));
        sendJson(ctx, 200, w.res, replayHeaders(w.replayed));
      },
    },
    {
      method: 'POST',
      path: '/api/rules/:project/:rule/accept',
      summary: 'Accept a proposed rule',
      rule: rule('admin', 'accept rules', projectParam),
      replies: { 200: RuleDecisionReply },
      handler: async (ctx) => decided(ctx, await svc.decide(project(ctx), pathName(ctx.params[1]!, 'rule_id'), 'accepted', auditBy(ctx), requestIdem(ctx))),
    },
    {
      method: 'POST',
      path: '/api/rules/:project/:rule/reject',
      summary: 'Reject a proposed rule',
      rule: rule('admin', 'reject rules', projectParam),
      replies: { 200: RuleDecisionReply },
      handler: async (ctx) => decided(ctx, await svc.decide(project(ctx), pathName(ctx.params[1]!, 'rule_id'), 'rejected', auditBy(ctx), requestIdem(ctx))),
    },
    {
      // Every project's rules, optionally of one status (an extension: what the dashboard lists
      // as waiting for a decision); by project, rule_id.
      method: 'GET',
      path: '/api/rules',
      summary: 'List rules',
      rule: rule('read', 'list rules', projectQuery),
      replies: { 200: RuleListReply },
      query: Query({ status: 'Only the rules in this status: accepted, proposed, rejected', project: "Only this project's rules (a scoped token must name a project of its scopes)" }),
      handler: async (ctx) => {
        const raw = queryParams(ctx).get('status') || null;
        if (raw !== null && !(RULE_STATUSES as readonly string[]).includes(raw)) throw fail('RULE_STATUS_INVALID');
        // The project a scoped token was let in for is the one it reads (its rule checked ?project=).
        const project = queryParams(ctx).get('project') || null;
        const rules = await svc.listAll(raw as RuleStatus | null);
        sendJson(ctx, 200, project === null ? rules : rules.filter((r) => r.project === project));
      },
    },
    {
      method: 'DELETE',
      path: '/api/rules/:project/:rule',
      summary: 'Delete a rule',
      rule: rule('admin', 'delete rules', projectParam),
      replies: { 200: DeletedReply },
      handler: async (ctx) => sendJson(ctx, 200, await svc.delete(project(ctx), pathName(ctx.params[1]!, 'rule_id'), auditBy(ctx))),
    },
    {
      method: 'GET',
      path: '/api/rules/export',
      summary: 'Export rules',
      rule: rule('read', 'export rules', projectQuery),
      replies: { 200: RuleListReply },
      query: Query({ source: 'The rule sources to export, comma-separated (default local,learned)', project: "Only this project's rules (a scoped token must name a project of its scopes)" }),
      handler: async (ctx) => {
        const raw = queryParams(ctx).get('source');
        const sources = raw ? raw.split(',').map((x) => x.trim()) : DEFAULT_EXPORT_SOURCES;
        const project = queryParams(ctx).get('project') || null;
        const rules = await svc.export(sources);
        sendJson(ctx, 200, project === null ? rules : rules.filter((r) => r.project === project));
      },
    },
    {
      method: 'POST',
      path: '/api/rules/import',
      summary: 'Import rules',
      rule: rule('admin', 'import rules'),
      replies: { 200: RulesImportReply },
      body: 'json',
      schema: RulesImportBody,
      handler: async (ctx) => sendJson(ctx, 200, await svc.import((ctx.json as RuleInput[] | null) ?? [], { audit: auditBy(ctx) })),
    },
  ];
}
