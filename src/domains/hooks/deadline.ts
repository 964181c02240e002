import { HOOK_GUARD_DEADLINE_MS } from '../../shared/limits-features.js';
import { orElse } from '../../within.js';
import { unconfirmedReason } from './digest.js';
import { EDIT_TOOLS, type HookContext, type HookInput } from './input.js';
import type { HookService } from './service.js';

/**
 * A hook's answer; the PreToolUse of an edit within HOOK_GUARD_DEADLINE_MS of its arrival. When
 * the lease table cannot be read (or the auto-lease written) by then — the writer is stalled, a
 * cluster node cannot reach its database — the edit is denied as not confirmed, never let
 * through: a client takes a hook that fails or runs past its own timeout (Codex's 3 s) as no
 * objection. The guard goes on in the background and may still take its auto-lease, which lapses
 * by itself.
 */
export function answerInTime(svc: HookService, input: HookInput, ctx: HookContext): Promise<Record<string, unknown>> {
  const field = input.hook_event_name === 'PreToolUse' && input.tool_name !== undefined ? EDIT_TOOLS[input.tool_name] : undefined;
  if (field === undefined) return svc.handle(input, ctx);
  const file = input.tool_input?.[field];
  return orElse(svc.handle(input, ctx), HOOK_GUARD_DEADLINE_MS - (performance.now() - ctx.arrivedMs), () => {
    svc.stats.unconfirmed++;
    return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: unconfirmedReason(typeof file === 'string' ? file : 'the file') } };
  });
}
