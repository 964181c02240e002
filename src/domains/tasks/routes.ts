import { Fenced, PositiveInt, Query } from '../../../schemas/http/common.js';
import { Checkpoint, CheckpointBody, CheckpointListReply, ClaimBody, ClaimReply, SettleBody, Task, TaskBody, TaskListReply } from '../../../schemas/http/tasks.js';
import { fail, failWith } from '../../errors.js';
import { fenceParam, parseIntStrict, positiveInt, queryParams } from '../../http/query.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { projectBody, projectQuery, rule } from '../../http/permissions.js';
import { permitTargets } from '../../access.js';
import { requestIdem, replayHeaders } from '../../http/idempotency.js';
import { sendJsonText } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT, TASK_DEFAULT_MAX_ATTEMPTS } from '../../shared/limits-features.js';
import { CHECKPOINT, TASK, TASK_STATUSES } from '../../../schemas/db/tables/tasks.js';
import { createInput } from '../../http/body.js';
import { taskId, type TaskService } from './service.js';

/** The calling agent: claims and their outcomes belong to identified agents. */
function agentOf(ctx: Ctx, action: string): string {
  if (!ctx.identity) throw fail('IDENTITY_REQUIRED', `task ${action}`);
  return ctx.identity.instanceId;
}

/** `after`: the last task id of the previous page (0 = from the start). */
function afterParam(raw: string | null): number {
  if (raw === null || raw === '') return 0;
  const n = parseIntStrict(raw);
  if (n === null || n < 0) throw fail('AFTER_INVALID');
  return n;
}

function statusesParam(raw: string | null): string[] | null {
  if (raw === null || raw === '') return null;
  const list = raw.split(',');
  for (const s of list) if (!(TASK_STATUSES as readonly string[]).includes(s)) throw fail('TASK_STATUS_INVALID', TASK_STATUSES, s);
  return list;
}

/** How a claimed task is settled: one route each. */
const SETTLE = {
  complete: { summary: 'Complete a claimed task', rule: rule('write', 'complete tasks') },
  fail: { summary: 'Fail a claimed task', rule: rule('write', 'fail tasks') },
  release: { summary: 'Give a claimed task back', rule: rule('write', 'release tasks') },
} as const;

function settleRoute(how: 'complete' | 'fail' | 'release', svc: TaskService): Route {
  return {
    method: 'POST',
    path: `/api/tasks/:id/${how}`,
    ...SETTLE[how],
    replies: { 200: Task },
    ...Fenced,
    body: 'json',
    schema: SettleBody,
    optionalBody: true,
    handler: async (ctx) => {
      const holder = agentOf(ctx, how);
      const b = ctx.json as { reason?: string; retry?: boolean; fence?: number };
      const w = await svc.settle(how, holder, taskId(ctx.params[0]!), b.reason ?? '', b.retry ?? true, auditBy(ctx), fenceParam(ctx, b.fence), requestIdem(ctx));
      sendJsonText(ctx, 200, w.json, replayHeaders(w.replayed));
    },
  };
}

/** The budget refusing a claim, if any: why, and the seconds until its period ends (null: a total cap, no Retry-After). */
export type BudgetRefusal = { why: string; retryAfter: number | null };
export type BudgetGate = (agent: { instanceId: string; name: string }, project: string) => BudgetRefusal | null | Promise<BudgetRefusal | null>;

export function taskRoutes(svc: TaskService, budgetRefusing: BudgetGate): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/tasks',
      summary: 'Create a task',
      rule: rule('write', 'create tasks', projectBody),
      replies: { 200: Task },
      body: 'json',
      schema: TaskBody,
      handler: async (ctx) => {
        const task = createInput(TASK, ctx, { max_attempts: TASK_DEFAULT_MAX_ATTEMPTS });
        if (!task.project) throw fail('FIELD_REQUIRED', 'project');
        if (!task.title) throw fail('FIELD_REQUIRED', 'title');
        const w = await svc.create(task, auditBy(ctx), requestIdem(ctx));
        sendJsonText(ctx, 200, w.json, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/tasks',
      summary: 'List tasks',
      rule: rule('read', 'list tasks', projectQuery),
      replies: { 200: TaskListReply },
      query: Query({ project: 'Only the tasks of this project', status: 'Only tasks in these statuses: ready, blocked, claimed, done, failed (comma-separated)', claimed_by: 'Only the tasks this agent claimed', after: 'The last task id of the previous page', limit: PositiveInt('How many tasks') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const tasks = await svc.list({
          project: q.get('project') || null,
          statuses: statusesParam(q.get('status')),
          claimedBy: q.get('claimed_by') || null,
          after: afterParam(q.get('after')),
          limit: positiveInt(q, 'limit', COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT),
        });
        sendJsonText(ctx, 200, `[${tasks.join(',')}]`);
      },
    },
    {
      method: 'POST',
      path: '/api/tasks/claim',
      summary: "Claim a project's next ready task",
      rule: rule('write', 'claim tasks', projectBody),
      replies: { 200: ClaimReply },
      body: 'json',
      schema: ClaimBody,
      handler: async (ctx) => {
        const holder = agentOf(ctx, 'claim');
        const { project } = ctx.json as { project?: string };
        if (!project) throw fail('FIELD_REQUIRED', 'project');
        const refused = await budgetRefusing(ctx.identity!, project);
        if (refused !== null) throw failWith('BUDGET_EXCEEDED', refused.retryAfter === null ? {} : { detail: { retry_after: refused.retryAfter } }, refused.why);
        const w = await svc.claim(holder, project, auditBy(ctx), requestIdem(ctx));
        sendJsonText(ctx, 200, w.json, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/tasks/:id',
      summary: 'Read a task',
      rule: rule('read', 'read tasks'),
      replies: { 200: Task },
      handler: async (ctx) => {
        const text = await svc.get(taskId(ctx.params[0]!));
        // A scoped token reads only its projects' tasks.
        if (ctx.principal.scopes) permitTargets(ctx, 'read tasks', { kind: 'project', name: (JSON.parse(text) as { project: string }).project });
        sendJsonText(ctx, 200, text);
      },
    },
    settleRoute('complete', svc),
    settleRoute('fail', svc),
    settleRoute('release', svc),
    {
      method: 'POST',
      path: '/api/tasks/:id/checkpoint',
      summary: "Checkpoint a claimed task's progress",
      rule: rule('write', 'checkpoint tasks'),
      replies: { 200: Checkpoint },
      ...Fenced,
      body: 'json',
      schema: CheckpointBody,
      handler: async (ctx) => {
        const holder = agentOf(ctx, 'checkpoint');
        const b = ctx.json as { fence?: number };
        const w = await svc.checkpoint(holder, taskId(ctx.params[0]!), createInput(CHECKPOINT, ctx, { done: '', next: '' }), fenceParam(ctx, b.fence), requestIdem(ctx));
        sendJsonText(ctx, 200, w.json, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/tasks/:id/checkpoints',
      summary: "A task's checkpoints",
      rule: rule('read', 'read tasks'),
      replies: { 200: CheckpointListReply },
      handler: async (ctx) => {
        const id = taskId(ctx.params[0]!);
        // A scoped token reads only its projects' tasks.
        if (ctx.principal.scopes) permitTargets(ctx, 'read tasks', { kind: 'project', name: (JSON.parse(await svc.get(id)) as { project: string }).project });
        sendJsonText(ctx, 200, `[${(await svc.checkpoints(id)).join(',')}]`);
      },
    },
  ];
}
