import fs from 'node:fs';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { TEST_BACKEND, startTestServer } from '../helpers/server.js';

/**
 * Codex's OpenTelemetry logs export, as the real codex-cli 0.169.0 sent it (a capture of
 * one `codex exec` session with two requests to the model, each answered with usage of 100 input
 * tokens, 20 of them cached, and 7 output tokens: test/fixtures/otlp/codex-0.169.0.txt), becomes
 * one usage record per request — from the `codex.sse_event` records of kind `response.completed`
 * that carry token counts, the session being the export's `conversation.id` — and a retried
 * export records nothing twice. Codex reports no cost: Koor prices it from its table (gpt-5.5 at
 * gpt-5's prices: 80 × 1.25 + 20 × 0.125 + 7 × 10 µUSD).
 */
const CAPTURE = fs
  .readFileSync(repoPath('test', 'fixtures', 'otlp', 'codex-0.169.0.txt'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => {
    const [, p, type] = l.split(' ', 3);
    return { path: p!, body: l.slice(`POST ${p} ${type} `.length) };
  });
const SESSION = '01a2140c-dfd7-7a00-80cd-c77eb7dbfab3';

t.test("Codex's export: one usage record per request to the model, once", async (t) => {
  const s = await startTestServer(t);
  const post = async (body: string) => {
    const r = await fetch(`${s.url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: r.status, body: (await r.json()) as unknown };
  };
  let recorded = 0;
  for (const c of CAPTURE) {
    const r = await post(c.body);
    t.equal(r.status, 200);
    recorded += (r.body as { recorded: number }).recorded;
  }
  t.equal(recorded, 2, 'two requests, two records (of 19 records of other kinds and the duration-only twins)');
  for (const c of CAPTURE) t.match(await post(c.body), { status: 200, body: { recorded: 0 } }, 'the same export again: nothing new');
  const usage = (await (await fetch(`${s.url}/api/llm/usage`)).json()) as unknown[];
  t.equal(usage.length, 2);
  for (const u of usage)
    t.match(u, { provider: 'openai', model: 'gpt-5.5', tokens_in: 80, cache_read_tokens: 20, cache_creation_tokens: 0, tokens_out: 7, request_type: 'codex', session_id: SESSION, cost_usd: 0.0001725, cost_source: 'priced' });
});

t.test("an export that comes after the session's end (Codex flushes its batch at exit, after SessionEnd) is still its agent's, on whichever node it lands", async (t) => {
  const s = await startTestServer(t);
  // Cluster mode: the session ends on the first node, its export lands on the last (another writer).
  const [endedOn, exportedTo] = [s.nodeUrls[0]!, s.nodeUrls.at(-1)!];
  if (TEST_BACKEND === 'cluster') t.not(endedOn, exportedTo, 'two nodes');
  const hook = (event: string) =>
    fetch(`${endedOn}/api/hooks/claude-code`, { method: 'POST', headers: { 'x-koor-agent-name': 'alice', 'x-koor-client': 'codex' }, body: JSON.stringify({ session_id: SESSION, hook_event_name: event, cwd: '/w/shop', prompt: 'hi' }) });
  t.equal((await hook('UserPromptSubmit')).status, 200);
  const bound = (await (await fetch(`${s.url}/api/hooks/claude-code/sessions/${SESSION}`)).json()) as { instance_id: string };
  t.equal((await hook('SessionEnd')).status, 200);
  t.equal((await fetch(`${s.url}/api/hooks/claude-code/sessions/${SESSION}`)).status, 404, 'the session is over, its agent gone');
  for (const c of CAPTURE) t.equal((await fetch(`${exportedTo}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.body })).status, 200);
  const usage = (await (await fetch(`${s.url}/api/llm/usage`)).json()) as Array<{ instance_id: string; project: string }>;
  t.equal(usage.length, 2);
  for (const u of usage) t.match(u, { instance_id: bound.instance_id, project: 'shop' }, "the late export is alice's, from the session that ended");
});
