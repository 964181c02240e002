import { HOOK_SESSION } from '../db/tables/hooks.js';
import { Type, type Static } from '../typebox.js';

/** The coding-agent hooks' REST bodies and replies. */

/**
 * POST /api/hooks/claude-code: Claude Code's hook input for any event (its documented members;
 * the ones Koor reads are typed, every other member is accepted and ignored).
 */
export const ClaudeHookInput = Type.Object({
  session_id: Type.Optional(Type.String({ maxLength: 200 })),
  hook_event_name: Type.Optional(Type.String()),
  cwd: Type.Optional(Type.String()),
  tool_name: Type.Optional(Type.String()),
  tool_input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  stop_hook_active: Type.Optional(Type.Boolean()),
});

/** Its reply: Claude Code's documented hook output (`{}`: nothing to say). */
export const ClaudeHookOutput = Type.Object({
  hookSpecificOutput: Type.Optional(
    Type.Object({
      hookEventName: Type.String(),
      additionalContext: Type.Optional(Type.String()),
      permissionDecision: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('ask')])),
      permissionDecisionReason: Type.Optional(Type.String()),
    }),
  ),
  decision: Type.Optional(Type.Literal('block')),
  reason: Type.Optional(Type.String()),
});
export type ClaudeHookOutput = Static<typeof ClaudeHookOutput>;

/** GET /api/hooks/claude-code/sessions/{session_id}: a session's binding (schemas/db/tables/hooks.ts), with its agent's name. */
export const HookSessionReply = Type.Object({ ...HOOK_SESSION.Wire.properties, name: Type.String() });

/** GET /api/agents/{id}/digest: what a digest would tell the agent now (`text` null: nothing). */
export const DigestReply = Type.Object({
  agent: Type.String(),
  name: Type.String(),
  text: Type.Union([Type.String(), Type.Null()]),
  lines: Type.Array(Type.String()),
});
