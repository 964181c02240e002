/**
 * What MCP's text costs a model, in o200k_base tokens (js-tiktoken): the tools/list palette and
 * what each of its parts contributes, and what each member or column of a reply costs.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';

const enc = new Tiktoken(o200k_base);
export const tokens = (s: string): number => enc.encode(s).length;

/** A tool as tools/list gives it. */
export interface Tool {
  name: string;
  description?: string;
  inputSchema: { type: string; properties?: Record<string, { type?: string; description?: string }>; required?: string[] };
}

/** Token cost of the palette and what each part contributes (by leaving it out). */
export function paletteCost(tools: Tool[]) {
  const json = (ts: unknown) => JSON.stringify(ts);
  const total = tokens(json(tools));
  const noToolDesc = tokens(json(tools.map((t) => ({ ...t, description: '' }))));
  const noParamDesc = tokens(
    json(
      tools.map((t) => ({
        ...t,
        inputSchema: { ...t.inputSchema, properties: Object.fromEntries(Object.entries(t.inputSchema.properties ?? {}).map(([k, v]) => [k, { type: v.type }])) },
      })),
    ),
  );
  const noSchema = tokens(json(tools.map((t) => ({ ...t, inputSchema: {} }))));
  const perTool = tools.map((t) => {
    const props = Object.entries(t.inputSchema.properties ?? {});
    return {
      name: t.name,
      tokens: tokens(json(t)),
      bytes: Buffer.byteLength(json(t)),
      description_tokens: tokens(t.description ?? ''),
      schema_tokens: tokens(json(t.inputSchema)),
      params: props.length,
      param_description_tokens: props.reduce((a, [, v]) => a + (v.description ? tokens(v.description) : 0), 0),
    };
  });
  return {
    total_tokens: total,
    bytes: Buffer.byteLength(json(tools)),
    pretty_tokens: tokens(JSON.stringify(tools, null, 2)),
    tool_descriptions_tokens: total - noToolDesc,
    param_descriptions_tokens: total - noParamDesc,
    schemas_tokens: total - noSchema,
    /** Names, empty schemas and JSON framing: what is left with no descriptions and no schemas. */
    bare_tokens: tokens(json(tools.map((t) => ({ name: t.name, description: '', inputSchema: {} })))),
    per_tool: perTool,
  };
}

/** What each top-level member of a reply costs (tokens with it minus without it), largest first. */
export function memberCost(value: Record<string, unknown>): Array<[string, number]> {
  const full = tokens(JSON.stringify(value));
  return Object.keys(value)
    .map((k): [string, number] => {
      const rest = { ...value };
      delete rest[k];
      return [k, full - tokens(JSON.stringify(rest))];
    })
    .sort((a, b) => b[1] - a[1]);
}

/** discover_instances is a table: what each column costs over all rows (header name included). */
export function columnCost(value: { columns: string[]; instances: unknown[][] }): Array<[string, number]> {
  const full = tokens(JSON.stringify(value));
  return value.columns
    .map((c, i): [string, number] => {
      const drop = <T>(xs: T[]) => xs.filter((_, j) => j !== i);
      return [`column ${c}`, full - tokens(JSON.stringify({ ...value, columns: drop(value.columns), instances: value.instances.map(drop) }))];
    })
    .sort((a, b) => b[1] - a[1]);
}
