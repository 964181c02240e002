import { Type, type TSchema } from '../typebox.js';

/**
 * The five MCP tools: names, descriptions, string parameters.
 *
 * Every word here is paid for in every session of every agent: the `tools/list` palette must stay
 * ≤ 350 o200k_base tokens (test/mcp/tokens.test.ts). The JSON frame alone (names,
 * `{"type":"string"}` per parameter, `required`) is ~265 of them, so descriptions say what to call
 * and when in a few words, and a parameter gets a description only when its name does not say
 * how to fill it (a list in one string, a closed set of values, whose id).
 */
export interface ToolDef {
  name: string;
  description: string;
  inputSchema: TSchema;
}

const S = (description?: string) => (description === undefined ? Type.String() : Type.String({ description }));

export const MCP_TOOLS = [
  {
    name: 'register_instance',
    description: 'Call once at session start; keep the instance_id.',
    inputSchema: Type.Object({
      name: S(),
      workspace: Type.Optional(S()),
      intent: Type.Optional(S()),
      stack: Type.Optional(S()),
      capabilities: Type.Optional(S('Comma-separated')),
    }),
  },
  {
    name: 'discover_instances',
    description: 'Who is working on what. Filters match exactly.',
    inputSchema: Type.Object({
      name: Type.Optional(S()),
      workspace: Type.Optional(S()),
      stack: Type.Optional(S()),
      capability: Type.Optional(S()),
    }),
  },
  {
    name: 'set_intent',
    description: 'Call when your task changes.',
    inputSchema: Type.Object({ instance_id: S(), intent: S() }),
  },
  {
    name: 'get_endpoints',
    description: 'How to read/write shared state, specs and events: REST or CLI, not MCP.',
    inputSchema: Type.Object({}),
  },
  {
    name: 'propose_rule',
    description: 'After fixing a mistake others could repeat, propose a regex rule for the user to review.',
    inputSchema: Type.Object({
      project: S(),
      rule_id: S(),
      pattern: S(),
      message: S(),
      severity: Type.Optional(S('error|warning')),
      match_type: Type.Optional(S()),
      stack: Type.Optional(S()),
      proposed_by: Type.Optional(S('Your instance_id')),
      context: Type.Optional(S()),
    }),
  },
] as const satisfies readonly ToolDef[];

export type ToolName = (typeof MCP_TOOLS)[number]['name'];
