/**
 * Token budgets of the MCP control plane (docs/mcp.md#token-budget), counted with o200k_base (js-tiktoken):
 *   palette  the `tools` array of the tools/list result as compact JSON, i.e. JSON.stringify of
 *            what the SDK client returns from listTools(), which is what a client hands the
 *            model (the JSON-RPC envelope and SSE framing around it reach no model) — ≤ 350;
 *   replies  the text item of each tools/call result, exactly as received — ≤ 200 each, with
 *            discover_instances listing three instances of one workspace.
 * Instance ids and tokens are random UUIDs (18 to 34 tokens each, ~25 on average), so a reply
 * with ids varies by a few tokens from run to run; the comments show each count.
 * The server listens on `localhost`, the default host (bind `localhost:9800`), because
 * get_endpoints' api_base is the bind text verbatim: `127.0.0.1` costs 7 tokens where `localhost`
 * costs 1, and what an agent sees is the default, not the test harness's usual IP literal.
 */
import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import { parseBind } from '../../src/config.js';
import { startTestServer } from '../helpers/server.js';

const PALETTE_BUDGET = 350;
const REPLY_BUDGET = 200;

const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

interface CallResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
}

/** Three agents of one workspace, with the kind of values agents really send. */
const AGENTS = [
  { name: 'claude-frontend', workspace: 'shop', intent: 'Fix the checkout form validation', stack: 'react', capabilities: 'frontend,testing' },
  { name: 'claude-backend', workspace: 'shop', intent: 'Add rate limiting to the login API', stack: 'go', capabilities: 'backend,sql' },
  { name: 'codex-docs', workspace: 'shop', intent: 'Document the payment webhooks', stack: 'markdown', capabilities: 'docs' },
];

t.test('the palette and every tool reply stay within their token budgets', async (t) => {
  const srv = await startTestServer(t, { bind: parseBind('localhost:0', 'bind') });
  const client = new Client({ name: 'koor-tokens', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${srv.url}/mcp`)));
  t.teardown(() => client.close());

  const { tools } = await client.listTools();
  t.equal(tools.length, 5);
  const palette = tokens(JSON.stringify(tools));
  t.comment(`palette ${palette} tokens: ${tools.map((x) => `${x.name} ${tokens(JSON.stringify(x))}`).join(', ')}`);
  t.ok(palette <= PALETTE_BUDGET, `palette ${palette} <= ${PALETTE_BUDGET} tokens`);

  const reply = async (name: string, args: Record<string, string>): Promise<string> => {
    const r = (await client.callTool({ name, arguments: args })) as CallResult;
    t.equal(r.content.length, 1, `${name}: one content item`);
    const text = r.content[0]!.text!;
    const n = tokens(text);
    t.ok(n <= REPLY_BUDGET, `${name}${r.isError ? ' (error)' : ''} ${JSON.stringify(args).slice(0, 40)}: ${n} <= ${REPLY_BUDGET} tokens`);
    return text;
  };

  const ids: string[] = [];
  for (const a of AGENTS) ids.push((JSON.parse(await reply('register_instance', a)) as { instance_id: string }).instance_id);
  for (const id of ids) t.equal((await fetch(`${srv.url}/api/instances/${id}/activate`, { method: 'POST' })).status, 200);

  const all = JSON.parse(await reply('discover_instances', {})) as { count: number };
  t.equal(all.count, 3, 'all three listed');
  await reply('discover_instances', { workspace: 'shop' });
  await reply('discover_instances', { capability: 'backend' });
  await reply('set_intent', { instance_id: ids[0]!, intent: 'Review the checkout form pull request' });
  const ep = JSON.parse(await reply('get_endpoints', {})) as { api_base: string };
  t.match(ep.api_base, /^http:\/\/localhost:\d+\/api\/$/, 'measured with the default host in api_base');
  await reply('propose_rule', {
    project: 'shop',
    rule_id: 'no-inline-style',
    pattern: 'style=\\{\\{',
    message: 'Use CSS modules, not inline styles',
    severity: 'warning',
    match_type: 'regex',
    stack: 'react',
    proposed_by: ids[0]!,
    context: 'Inline styles broke the dark theme in the checkout page',
  });
  // Errors stay specific and small too.
  await reply('propose_rule', { project: 'shop', rule_id: 'no-inline-style', pattern: 'x', message: 'm' });
  await reply('set_intent', { instance_id: 'ghost', intent: 'x' });
});
