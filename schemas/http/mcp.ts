import { Type, type TSchema } from 'typebox';

/** The five MCP tools (SPEC §3, §7-2): names, one-line descriptions, string parameters. */
export interface ToolDef {
  name: string;
  description: string;
  inputSchema: TSchema;
}

const S = (description: string) => Type.String({ description });

export const MCP_TOOLS = [
  {
    name: 'register_instance',
    description: 'Register this agent once at start. Returns instance_id and token.',
    inputSchema: Type.Object({
      name: S('Agent name, e.g. claude-frontend'),
      workspace: Type.Optional(S('Workspace or project')),
      intent: Type.Optional(S('Current task')),
      stack: Type.Optional(S('Tech stack, e.g. react')),
      capabilities: Type.Optional(S('Comma-separated')),
    }),
  },
  {
    name: 'discover_instances',
    description: 'Find registered agents. Filters are exact; none = all.',
    inputSchema: Type.Object({
      name: Type.Optional(Type.String()),
      workspace: Type.Optional(Type.String()),
      stack: Type.Optional(Type.String()),
      capability: Type.Optional(Type.String()),
    }),
  },
  {
    name: 'set_intent',
    description: "Update an instance's current task (also a heartbeat).",
    inputSchema: Type.Object({ instance_id: Type.String(), intent: Type.String() }),
  },
  {
    name: 'get_endpoints',
    description: 'REST endpoints and CLI usage for all data (state, specs, events). Use those, not MCP, for data.',
    inputSchema: Type.Object({}),
  },
  {
    name: 'propose_rule',
    description: 'Propose a validation rule learned from a fix; a user accepts it later.',
    inputSchema: Type.Object({
      project: Type.String(),
      rule_id: S('e.g. no-inline-style'),
      pattern: S('Regex (RE2), or custom check name'),
      message: S('Violation message'),
      severity: Type.Optional(S('error|warning')),
      match_type: Type.Optional(S('regex|missing|custom')),
      stack: Type.Optional(Type.String()),
      proposed_by: Type.Optional(S('Your instance_id')),
      context: Type.Optional(S('What led to the rule')),
    }),
  },
] as const satisfies readonly ToolDef[];

export type ToolName = (typeof MCP_TOOLS)[number]['name'];
