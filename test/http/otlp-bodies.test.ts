import fs from 'node:fs';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { JSON_MAX_DEPTH } from '../../src/shared/limits.js';
import { repoPath } from '../helpers/paths.js';
import { startTestServer } from '../helpers/server.js';

/**
 * OTLP bodies (POST /v1/logs, /v1/metrics) are checked as every other route's JSON body
 * is — an empty body, invalid UTF-8, nesting past JSON_MAX_DEPTH, a body that is not an object and
 * a member the intake reads of the wrong type are each a 400 naming what was wrong, and nothing of
 * such an export is recorded — while Claude Code's real export (the capture) is still taken whole.
 */

/** The capture: one `POST <path> <content-type> <body>` per line. */
const CAPTURE = fs
  .readFileSync(repoPath('test', 'fixtures', 'otlp', 'claude-code-2.1.328.txt'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => {
    const [, p, type] = l.split(' ', 3);
    return { path: p!, body: l.slice(`POST ${p} ${type} `.length) };
  });
const LOGS = CAPTURE.find((c) => c.path === '/v1/logs')!.body;
const METRICS = CAPTURE.find((c) => c.path === '/v1/metrics')!.body;

/** The capture's api_request record is logRecords[6]; its attributes[10] is input_tokens. */
const API_REQUEST = 'resourceLogs[0].scopeLogs[0].logRecords[6]';
const INPUT_TOKENS = '{"key":"input_tokens","value":{"intValue":1234}}';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const deep = (member: string): string => `{"${member}":${nested(1_000_000)}}`;
const tooDeep = `JSON nested too deeply (max ${JSON_MAX_DEPTH} levels)`;

t.test('malformed OTLP bodies: 400 naming what was wrong, nothing recorded; the real export still taken', async (t) => {
  const s = await startTestServer(t);
  const post = async (p: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body as BodyInit });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  };
  const refused = (error: string) => ({ status: 400, body: { error, code: 400 } });
  /** The export with bytes that are not UTF-8 inside a string of it (`"amd64"`, the host's arch), else valid JSON. */
  const badUtf8 = (body: string, bytes: number[]) => {
    const [head, ...rest] = body.split('"amd64"');
    return Buffer.concat([Buffer.from(`${head}"amd`), Buffer.from(bytes), Buffer.from(`64"${rest.join('"amd64"')}`)]);
  };

  const logs: Array<[string, string | Buffer, string]> = [
    ['a JSON array', '[]', 'body: expected object'],
    ['resourceLogs not an array', '{"resourceLogs":"x"}', 'resourceLogs: expected array or null'],
    ['invalid UTF-8', badUtf8(LOGS, [0xff, 0xfe]), 'body is not valid UTF-8'],
    ['an empty body', '', 'invalid JSON body'],
    ['a million-deep nesting', deep('resourceLogs'), tooDeep],
    ['a resourceLogs item not an object', `{"resourceLogs":[${JSON.stringify(JSON.parse(LOGS).resourceLogs[0])},"x"]}`, 'resourceLogs[1]: expected object'],
    ['logRecords not an array', '{"resourceLogs":[{"scopeLogs":[{"logRecords":{}}]}]}', 'resourceLogs[0].scopeLogs[0].logRecords: expected array or null'],
    ['an attribute key not a string', '{"resourceLogs":[{"resource":{"attributes":[{"key":7,"value":{"stringValue":"x"}}]}}]}', 'resourceLogs[0].resource.attributes[0].key: expected string or null'],
    ['a token count that is no integer', LOGS.replace(INPUT_TOKENS, '{"key":"input_tokens","value":{"intValue":"lots"}}'), `${API_REQUEST}.attributes[10].value.intValue: must match pattern "^-?[0-9]+$"`],
    ['a record body not an AnyValue', LOGS.replace('"body":{"stringValue":"claude_code.api_request"}', '"body":"claude_code.api_request"'), `${API_REQUEST}.body: expected object or null`],
  ];
  for (const [what, body, error] of logs) t.same(await post('/v1/logs', body), refused(error), `/v1/logs, ${what}`);
  t.same(await post('/v1/logs', gzipSync('[]'), { 'content-encoding': 'gzip' }), refused('body: expected object'), '/v1/logs, gzip: checked once inflated');

  const metrics: Array<[string, string | Buffer, string]> = [
    ['a JSON array', '[]', 'body: expected object'],
    ['resourceMetrics not an array', '{"resourceMetrics":"x"}', 'resourceMetrics: expected array or null'],
    ['invalid UTF-8', badUtf8(METRICS, [0xed, 0xa0, 0x80]), 'body is not valid UTF-8'],
    ['an empty body', '', 'invalid JSON body'],
    ['a million-deep nesting', deep('resourceMetrics'), tooDeep],
  ];
  for (const [what, body, error] of metrics) t.same(await post('/v1/metrics', body), refused(error), `/v1/metrics, ${what}`);

  const usage = async () => (await fetch(`${s.url}/api/llm/usage`)).json();
  t.same(await usage(), [], 'nothing of a refused export was recorded');

  // The real export, as Claude Code sends it, plain and gzipped: taken and recorded as before.
  t.same(await post('/v1/logs', LOGS), { status: 200, body: { partialSuccess: {}, recorded: 1, duplicates: 0 } });
  t.same(await post('/v1/logs', gzipSync(LOGS), { 'content-encoding': 'gzip' }), { status: 200, body: { partialSuccess: {}, recorded: 0, duplicates: 1 } }, 'gzipped: the same export');
  t.same(await post('/v1/metrics', METRICS), { status: 200, body: { partialSuccess: {}, recorded: 0, duplicates: 0 } });
  t.match(await usage(), [
    {
      instance_id: '',
      project: '',
      session_id: 'f94fbb42-d721-4a21-bd37-1f0dd60dbe62',
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      tokens_in: 1234,
      tokens_out: 321,
      cache_read_tokens: 100,
      cache_creation_tokens: 50,
      cost_usd: 0.011626,
      cost_source: 'reported',
      request_type: 'claude-code',
      session_tag: '',
    },
  ]);
  t.equal((await usage()).length, 1);
});
