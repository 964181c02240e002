/**
 * Claude Code's own telemetry as Koor's LLM usage, end to end with the real client
 * (pinned, offline against the scripted fake Messages API, which answers every request with usage
 * of 10 input and 5 output tokens): `koor-cli init --claude-code --telemetry` run as a user runs
 * it (the telemetry variables and the `koor-cli otel-headers` helper in the user's settings), a
 * Koor server with auth, and a session whose hooks bind it to an agent. Koor records each of the
 * session's requests to the model once, with the client's tokens and cost, as that agent's usage.
 * Skips with the reason when the client could not be installed (`npm run test:setup`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CLI_JS } from '../cli/helpers.js';
import { claudeCode, claudeTempDir, runClaude, startFakeApi } from '../helpers/claude-code.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const RUN_MS = 60_000;
const TOKEN = 'tok-telemetry-e2e';

const cc = claudeCode();
if ('skip' in cc) t.plan(0, cc.skip);
else {
  t.test('the real client exports api_request events to Koor: each request recorded once, as the agent its hooks bound', async (t) => {
    const s = await startTestServer(t, { authToken: TOKEN });
    const home = claudeTempDir(t, 'koor-cc-home-');
    const root = path.join(fs.realpathSync(claudeTempDir(t)), 'shop');
    fs.mkdirSync(root);
    execFileSync('git', ['init', '-q', root]);
    const bin = claudeTempDir(t, 'koor-cc-bin-');
    koorBin(bin);
    const PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;

    // The installer, as a user runs it; the user's settings are in HOME.
    const { CLAUDE_CONFIG_DIR: _own, ...env } = process.env;
    execFileSync(process.execPath, [CLI_JS, 'init', '--claude-code', '--telemetry', '--server', s.url], { cwd: root, stdio: 'pipe', timeout: 30_000, env: { ...env, HOME: home, KOOR_TOKEN: TOKEN } });
    const user = JSON.parse(fs.readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8'));
    t.same(user, {
      env: { CLAUDE_CODE_ENABLE_TELEMETRY: '1', OTEL_LOGS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: s.url },
      otelHeadersHelper: 'koor-cli otel-headers',
    });
    t.notMatch(JSON.stringify(user), TOKEN, 'no token in the file');

    // Two requests to the model: a tool call, then the answer.
    const api = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(root, 'hello.txt'), content: 'hi\n' } }, 'Written.']);
    const r = await runClaude({ cwd: root, home, prompt: 'Write hello.txt', api, env: { PATH, KOOR_TOKEN: TOKEN, KOOR_AGENT_NAME: 'alice' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, r.stderr);
    const asked = api.agentRequests().length;
    t.ok(asked >= 2, `the session asked the model ${asked} times`);

    const auth = { authorization: `Bearer ${TOKEN}` };
    const usage = async () => (await (await fetch(`${s.url}/api/llm/usage?limit=100`, { headers: auth })).json()) as any[];
    const records = await waitUntil('the telemetry of the session recorded', async () => {
      const list = (await usage()).filter((x) => x.session_id === r.sessionId);
      return list.length >= asked ? list : false;
    }, 30_000);
    t.equal(records.length, asked, 'each request once');
    // The agent the hooks bound (SessionEnd deregistered it: its registration is in the audit log).
    const audit = (await (await fetch(`${s.url}/api/audit?action=instance.register`, { headers: auth })).json()) as any[];
    const agent = audit.find((a) => a.actor === 'alice')?.resource;
    t.ok(agent, 'the hooks registered alice');
    for (const x of records) {
      t.match(x, { instance_id: agent, project: 'shop', provider: 'anthropic', tokens_in: 10, cost_source: 'reported', request_type: 'claude-code' }, `request ${x.id}: the agent's, with the client's tokens`);
      t.ok(x.tokens_out > 0 && x.cost_usd > 0, `request ${x.id}: output tokens and the client's cost`);
    }
  });
}
