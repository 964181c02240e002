import { Type } from '../../../schemas/typebox.js';
import { ClaudeHookInput, ClaudeHookOutput, DigestReply, HookSessionReply } from '../../../schemas/http/hooks.js';
import { fail } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { sendJson, sendJsonText } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import type { HookCaller, HookContext, HookInput } from './input.js';
import type { HookService } from './service.js';
import { rule } from '../../http/permissions.js';
import { answerInTime } from './deadline.js';

/**
 * Headers the installer fills from the agent's environment (`$KOOR_AGENT_NAME` …; empty when
 * unset), and the client the command bridge (`koor-cli hook <client>`) posts for.
 */
const CONTEXT_HEADERS = {
  'x-koor-agent-name': Type.String({ description: "The agent's name ($KOOR_AGENT_NAME)" }),
  'x-koor-project': Type.String({ description: 'The project the agent works on ($KOOR_PROJECT): overrides X-Koor-Repository' }),
  'x-koor-repository': Type.String({ description: "The repository's identity, from its origin remote (written by koor-cli init): the project when X-Koor-Project is empty" }),
  'x-koor-repo-root': Type.String({ description: "The repository's root directory ($KOOR_REPO_ROOT)" }),
  'x-koor-client': Type.String({ description: 'The client the bridge or plugin posts for: claude-code (default), cursor, codex, copilot, gemini, opencode or kilo' }),
};
/** The clients whose input this endpoint takes (the others' translated by the bridge or plugin, cli/hooks/clients/); any other value counts as Claude Code. */
const CLIENTS = new Set(['claude-code', 'cursor', 'codex', 'copilot', 'gemini', 'opencode', 'kilo']);
const callerOf = (ctx: Ctx): HookCaller => ({ role: ctx.principal.role, tokenId: ctx.principal.tokenId, instanceId: ctx.identity?.instanceId ?? null, scopes: ctx.principal.scopes });
const contextOf = (ctx: Ctx, caller: HookCaller): HookContext => {
  const client = (ctx.extraHeaders['x-koor-client'] ?? '').trim();
  return {
    agentName: (ctx.extraHeaders['x-koor-agent-name'] ?? '').trim(),
    // KOOR_PROJECT overrides; else the repository's identity its clones share; else (the service) its folder.
    project: (ctx.extraHeaders['x-koor-project'] ?? '').trim() || (ctx.extraHeaders['x-koor-repository'] ?? '').trim(),
    repoRoot: (ctx.extraHeaders['x-koor-repo-root'] ?? '').trim(),
    client: CLIENTS.has(client) ? client : 'claude-code',
    caller,
    arrivedMs: ctx.t0,
  };
};

export function hookRoutes(svc: HookService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/hooks/claude-code',
      summary: 'Answer a Claude Code hook',
      rule: rule('write', 'call agent hooks'),
      replies: { 200: ClaudeHookOutput },
      body: 'json',
      schema: ClaudeHookInput,
      headers: CONTEXT_HEADERS,
      handler: (ctx) => {
        const b = ctx.json as Partial<HookInput>;
        if (!b.session_id) throw fail('FIELD_REQUIRED', 'session_id');
        if (!b.hook_event_name) throw fail('FIELD_REQUIRED', 'hook_event_name');
        const caller = callerOf(ctx);
        // A hook that changes nothing, answered at once from what the node keeps (HookService.quick).
        const quick = svc.quick(b as HookInput, caller);
        if (quick !== undefined) return sendJson(ctx, 200, quick);
        return answerInTime(svc, b as HookInput, contextOf(ctx, caller)).then((out) => sendJson(ctx, 200, out));
      },
    },
    {
      method: 'GET',
      path: '/api/hooks/claude-code/sessions/:id',
      summary: 'Read a hook session',
      rule: rule('read', 'read hook sessions'),
      replies: { 200: HookSessionReply },
      handler: async (ctx) => sendJsonText(ctx, 200, await svc.session(pathName(ctx.params[0]!, 'session_id'))),
    },
    {
      method: 'GET',
      path: '/api/agents/:id/digest',
      summary: 'What changed for an agent since its last digest',
      rule: rule('read', 'read digests'),
      replies: { 200: DigestReply },
      handler: async (ctx) => sendJsonText(ctx, 200, await svc.digestOf(pathName(ctx.params[0]!, 'agent id'))),
    },
  ];
}
