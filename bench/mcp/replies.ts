/**
 * The MCP tools' typical replies, made on a fresh server (three agents of one workspace
 * registered and activated): each reply's text in tokens, and the same reply in the original's
 * format (2-space pretty JSON, full instance summaries, all 16 endpoints with message and usage).
 */
import { ENDPOINTS } from '../../src/mcp/tools.js';
import { tokens } from './tokens.js';

/** get_endpoints' message and cli.usage before Koor's replies were made compact (the original's wording, our CLI). */
const ORIGINAL_ENDPOINTS_EXTRA = {
  usage: 'koor-cli --help',
  message: 'Use REST or koor-cli for all data (0 tokens); MCP only for discovery and proposals. Activate first: koor-cli activate <instance-id>',
};

/** A tool call's result, as the SDK's Client gives it. */
export interface CallResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
}

export const textOf = (r: CallResult): string => r.content.map((c) => c.text ?? '').join('');

/** A REST call, its status and body (10 s at most). */
export async function rest(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

/** One typical reply: its text, tokens and bytes, and its tokens in the original's format. */
export interface TypicalReply {
  tool: string;
  args: Record<string, string>;
  text: string;
  tokens: number;
  bytes: number;
  original_tokens: number;
}

/**
 * The typical replies of each tool, through `call` against the server at `base` (a fresh one:
 * these are its first instances); the registered instances' ids for later calls.
 */
export async function typicalReplies(base: string, call: (name: string, args: Record<string, string>) => Promise<CallResult>, failures: string[], log: (m: string) => void): Promise<{ replies: TypicalReply[]; ids: string[] }> {
  const replies: TypicalReply[] = [];
  /** The same reply as the original would send it: 2-space pretty JSON of `value`. */
  const record = (tool: string, args: Record<string, string>, r: CallResult, original: (v: Record<string, unknown>) => unknown = (v) => v) => {
    const text = textOf(r);
    let originalText = text;
    try {
      originalText = JSON.stringify(original(JSON.parse(text) as Record<string, unknown>), null, 2);
    } catch {
      /* not JSON */
    }
    replies.push({ tool, args, text, tokens: tokens(text), bytes: Buffer.byteLength(text), original_tokens: tokens(originalText) });
  };
  const agents = [
    { name: 'claude-frontend', workspace: 'koor', intent: 'Wire the dashboard state panel to /api/state', stack: 'react', capabilities: 'frontend,testing' },
    { name: 'claude-backend', workspace: 'koor', intent: 'Add compare-and-set to PUT /api/state', stack: 'node', capabilities: 'backend,sqlite' },
    { name: 'codex-docs', workspace: 'koor', intent: 'Document the MCP tools', stack: 'markdown', capabilities: 'docs' },
  ];
  const ids: string[] = [];
  for (const [i, a] of agents.entries()) {
    const r = await call('register_instance', a);
    ids.push((JSON.parse(textOf(r)) as { instance_id: string }).instance_id);
    if (i === 0) record('register_instance', a, r);
  }
  for (const id of ids) {
    const act = await rest(`${base}/api/instances/${id}/activate`, { method: 'POST' });
    if (act.status !== 200) failures.push(`activate ${id} → ${act.status}`);
  }
  // The original lists full summaries (registered_at, RFC 3339 times) as objects: what REST returns.
  const summaries = JSON.parse((await rest(`${base}/api/instances`)).body) as unknown[];
  record('discover_instances', {}, await call('discover_instances', {}), () => ({ count: summaries.length, instances: summaries }));
  const intentArgs = { instance_id: ids[0]!, intent: 'Review the dashboard state panel PR' };
  record('set_intent', intentArgs, await call('set_intent', intentArgs));
  record('get_endpoints', {}, await call('get_endpoints', {}), (v) => ({
    ...v,
    endpoints: ENDPOINTS,
    cli: { ...(v.cli as object), usage: ORIGINAL_ENDPOINTS_EXTRA.usage },
    message: ORIGINAL_ENDPOINTS_EXTRA.message,
  }));
  const ruleArgs = {
    project: 'koor',
    rule_id: 'no-inline-style',
    pattern: 'style=\\{\\{',
    message: 'Use CSS modules, not inline styles',
    severity: 'warning',
    match_type: 'regex',
    stack: 'react',
    proposed_by: ids[0]!,
    context: 'Inline styles broke the dark theme in PR 42',
  };
  record('propose_rule', ruleArgs, await call('propose_rule', ruleArgs));
  for (const r of replies) log(`reply ${r.tool}: ${r.tokens} tokens (${r.original_tokens} in the original's format), ${r.bytes} bytes`);
  return { replies, ids };
}
