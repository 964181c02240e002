import fs from 'node:fs';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Gemini CLI's, GitHub Copilot CLI's and OpenCode's OpenTelemetry exports, as the real clients sent
 * them (one session each with two requests to the model, each answered with usage of 100 input
 * tokens, 20 of them cached, 7 output tokens and 3 of reasoning: test/fixtures/otlp/gemini-cli-0.61.0.txt,
 * a logs export; copilot-cli-1.0.102.txt, a traces export, Copilot's only kind; opencode-1.18.33.txt,
 * traces, with OpenCode's title request too), become one usage record per request, the session
 * being the one their hooks name; the records that repeat a request's usage (Gemini's
 * `gen_ai.client.inference.operation.details`, Copilot's `invoke_agent` span summing the prompt,
 * OpenCode's `ai.streamText` around each `ai.streamText.doStream`) are not counted again, and a
 * retried export records nothing twice.
 */
function capture(file: string): Array<{ path: string; body: string }> {
  return fs
    .readFileSync(repoPath('test', 'fixtures', 'otlp', file), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [, p, type] = l.split(' ', 3);
      return { path: p!, body: l.slice(`POST ${p} ${type} `.length) };
    });
}

async function exportTwice(t: typeof import('tap').default, url: string, exports: Array<{ path: string; body: string }>, requests = 2): Promise<void> {
  const post = async (c: { path: string; body: string }) => {
    const r = await fetch(`${url}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.body });
    return { status: r.status, body: (await r.json()) as { recorded: number; duplicates: number; partialSuccess: object } };
  };
  let recorded = 0;
  for (const c of exports) {
    const r = await post(c);
    t.same([r.status, r.body.partialSuccess], [200, {}], `${c.path}: taken whole`);
    recorded += r.body.recorded;
  }
  t.equal(recorded, requests, `${requests} requests, ${requests} records`);
  let duplicates = 0;
  for (const c of exports) duplicates += (await post(c)).body.duplicates;
  t.equal(duplicates, requests, 'the same export again: all known, nothing new');
}

t.test("Gemini CLI's logs: one record per request, thoughts billed as output, priced", async (t) => {
  const s = await startTestServer(t);
  await exportTwice(t, s.url, capture('gemini-cli-0.61.0.txt'));
  const usage = (await (await fetch(`${s.url}/api/llm/usage`)).json()) as unknown[];
  t.equal(usage.length, 2);
  // gemini-2.5-flash: 80 × 0.3 + 20 × 0.075 + 10 × 2.5 µUSD.
  for (const u of usage)
    t.match(u, { provider: 'google', model: 'gemini-2.5-flash', tokens_in: 80, cache_read_tokens: 20, cache_creation_tokens: 0, tokens_out: 10, request_type: 'gemini', session_id: 'fcbfcc62-e449-4cfb-920c-76cd9561efb5', cost_usd: 0.0000505, cost_source: 'priced' });
});

t.test("Copilot CLI's traces: one record per chat span, not the agent span that sums them", async (t) => {
  const s = await startTestServer(t);
  const exports = capture('copilot-cli-1.0.102.txt');
  t.same(exports.map((c) => c.path), ['/v1/traces'], 'Copilot exports no logs');
  await exportTwice(t, s.url, exports);
  const usage = (await (await fetch(`${s.url}/api/llm/usage`)).json()) as unknown[];
  t.equal(usage.length, 2);
  // gpt-4.1: 80 × 2 + 20 × 0.5 + 7 × 8 µUSD.
  for (const u of usage)
    t.match(u, { provider: 'openai', model: 'gpt-4.1', tokens_in: 80, cache_read_tokens: 20, cache_creation_tokens: 0, tokens_out: 7, request_type: 'copilot', session_id: 'f428e640-531e-424a-a748-e4267134133a', cost_usd: 0.000226, cost_source: 'priced' });
});

t.test("OpenCode's traces: one record per ai.streamText.doStream span, the title request's included, not the ai.streamText around it", async (t) => {
  const s = await startTestServer(t);
  await exportTwice(t, s.url, capture('opencode-1.18.33.txt'), 3);
  const usage = (await (await fetch(`${s.url}/api/llm/usage`)).json()) as Array<{ tokens_in: number }>;
  const session = 'ses_dd8a5407bffe1wbksk3tOMVBgp';
  const common = { provider: 'koor_fake', model: 'm', cache_creation_tokens: 0, request_type: 'opencode', session_id: session, cost_usd: null };
  t.match(
    [...usage].sort((a, b) => a.tokens_in - b.tokens_in),
    [
      { ...common, tokens_in: 40, cache_read_tokens: 0, tokens_out: 4 },
      { ...common, tokens_in: 80, cache_read_tokens: 20, tokens_out: 7 },
      { ...common, tokens_in: 80, cache_read_tokens: 20, tokens_out: 7 },
    ],
    'the title request (40 in, 4 out) and the two of the agent (80 fresh, 20 cached, 7 out with 3 of reasoning); an unknown model: no price',
  );
});

t.test('a traces export of other programs is taken and ignored; a bad one is refused naming what is wrong', async (t) => {
  const s = await startTestServer(t);
  const post = async (body: string) => {
    const r = await fetch(`${s.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: r.status, body: (await r.json()) as unknown };
  };
  t.same(await post('{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"x","name":"GET /","attributes":[{"key":"http.method","value":{"stringValue":"GET"}}]}]}]}]}'), { status: 200, body: { partialSuccess: {}, recorded: 0, duplicates: 0 } });
  t.same(await post('{}'), { status: 200, body: { partialSuccess: {}, recorded: 0, duplicates: 0 } }, 'an empty export');
  t.same(await post('{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":7}]}]}]}'), { status: 400, body: { error: 'resourceSpans[0].scopeSpans[0].spans[0].spanId: expected string or null', code: 400 } });
  const proto = await fetch(`${s.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: 'x' });
  t.same([proto.status, ((await proto.json()) as { error: string }).error], [400, 'OTLP protobuf is not accepted: export with OTEL_EXPORTER_OTLP_PROTOCOL=http/json'], 'protobuf: refused with what to set instead');
});
