import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor, runCli } from './helpers.js';

/** koor-cli budget set|list|delete, otel-headers and init --claude-code --telemetry as subprocesses. */

t.test('budget set, list, delete', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const cli = cliFor(s.url, tempDir(t), { KOOR_TOKEN: 'T' });

  const set = await cli('budget', 'set', 'project:web', '--usd', '2.5', '--period', 'day', '--warn-at', '0.5');
  t.equal(set.code, 0, set.stderr);
  t.match(JSON.parse(set.stdout), { scope: 'project:web', usd: 2.5, tokens: null, period: 'day', warn_at: 0.5, status: 'ok' });
  t.equal((await cli('budget', 'set', 'agent:alice', '--tokens', '1000')).code, 0);
  const bad = await cli('budget', 'set', 'project:web', '--usd', 'lots');
  t.same([bad.code, bad.stderr.trim()], [1, 'error: --usd must be a number: lots']);
  const none = await cli('budget', 'set', 'global');
  t.same([none.code, JSON.parse(none.stdout)], [1, { error: 'a budget needs usd or tokens', code: 400 }]);

  await fetch(`${s.url}/api/llm/usage`, { method: 'POST', headers: { authorization: 'Bearer T', 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'p', model: 'm', project: 'web', cost_usd: 1.5 }) });
  const list = await cli('budget', 'list');
  t.equal(list.code, 0);
  t.same(
    JSON.parse(list.stdout).map((b: any) => [b.scope, b.period, b.spent_usd, b.status]),
    [
      ['agent:alice', 'month', 0, 'ok'],
      ['project:web', 'day', 1.5, 'warning'],
    ],
  );
  t.same(JSON.parse((await cli('budget', 'delete', 'agent:alice')).stdout), { deleted: 'agent:alice' });
  t.equal((await cli('budget', 'delete', 'agent:alice')).code, 1, 'gone');
});

t.test('otel-headers prints the token of the CLI config as Authorization, and nothing without one', async (t) => {
  const withToken = await runCli(['otel-headers'], { env: { KOOR_TOKEN: 'tok-1' } });
  t.same([withToken.code, JSON.parse(withToken.stdout)], [0, { Authorization: 'Bearer tok-1' }]);
  const without = await runCli(['otel-headers'], { env: { KOOR_TOKEN: '' } });
  t.same(JSON.parse(without.stdout), {});
});

t.test('init --opencode --telemetry: opencode.json turns the export on (the rest kept), init says the variables; --remove --telemetry takes it out', async (t) => {
  const root = tempDir(t);
  execFileSync('git', ['init', '-q', root]);
  const file = path.join(root, 'opencode.json');
  fs.writeFileSync(file, JSON.stringify({ model: 'anthropic/claude', experimental: { other: 1 } }, null, 2) + '\n');
  const env = { KOOR_SERVER: 'http://koor.lan:9800', KOOR_TOKEN: 'tok-x' };
  const r = await runCli(['init', '--opencode', '--telemetry'], { cwd: root, env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^updated opencode\.json$/m);
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), { model: 'anthropic/claude', experimental: { other: 1, openTelemetry: true } });
  t.match(r.stderr, /^note: OpenCode takes its exporter's settings from its environment only: start it with OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/koor\.lan:9800 OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=200 OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer \$KOOR_TOKEN"/m);
  t.notMatch(fs.readFileSync(file, 'utf8') + fs.readFileSync(path.join(root, '.opencode', 'plugins', 'koor.js'), 'utf8'), /tok-x/, 'no token in the repository');
  t.match((await runCli(['init', '--opencode', '--telemetry'], { cwd: root, env })).stdout, /^unchanged opencode\.json$/m, 'a rerun changes nothing');
  t.equal((await runCli(['init', '--remove', '--opencode'], { cwd: root, env })).code, 0);
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')).experimental, { other: 1, openTelemetry: true }, 'a plain --remove leaves the switch (it names no server: it may be the user\'s)');
  const rm = await runCli(['init', '--remove', '--opencode', '--telemetry'], { cwd: root, env });
  t.equal(rm.code, 0, rm.stderr);
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), { model: 'anthropic/claude', experimental: { other: 1 } }, 'with --telemetry it goes, the rest kept');
});

t.test('init --claude-code --telemetry: the user settings get the telemetry variables and the helper, the rest kept; --remove takes them out', async (t) => {
  const root = tempDir(t);
  execFileSync('git', ['init', '-q', root]);
  const config = tempDir(t);
  const file = path.join(config, 'settings.json');
  fs.writeFileSync(file, JSON.stringify({ model: 'opus', env: { MINE: '1' } }, null, 2) + '\n');
  const env = { KOOR_SERVER: 'http://koor.lan:9800', CLAUDE_CONFIG_DIR: config };

  const lone = await runCli(['init', '--telemetry'], { cwd: root, env });
  t.same([lone.code, lone.stderr.trim()], [1, 'error: --telemetry goes with --claude-code, --codex, --gemini, --copilot, --opencode']);
  t.same((await runCli(['init', '--cursor', '--telemetry'], { cwd: root, env })).stderr.trim(), 'error: --telemetry goes with --claude-code, --codex, --gemini, --copilot, --opencode', 'Cursor has none');
  // Copilot CLI reads its export's settings from its environment only: init says which.
  const copilot = await runCli(['init', '--copilot', '--telemetry'], { cwd: root, env: { ...env, KOOR_TOKEN: 'tok-x' } });
  t.equal(copilot.code, 0, copilot.stderr);
  t.match(copilot.stderr, /^note: Copilot CLI takes its telemetry settings from its environment only: start it with OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/koor\.lan:9800 OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer \$KOOR_TOKEN"$/m);
  t.notMatch(fs.readFileSync(path.join(root, '.github', 'hooks', 'koor.json'), 'utf8'), /tok-x|OTEL/, 'nothing of it in the repository');
  t.equal((await runCli(['init', '--remove', '--copilot'], { cwd: root, env })).code, 0);

  const r = await runCli(['init', '--claude-code', '--telemetry'], { cwd: root, env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^updated ${path.relative(root, file).replace(/\./g, '\\.')}$`, 'm'));
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), {
    model: 'opus',
    env: { MINE: '1', CLAUDE_CODE_ENABLE_TELEMETRY: '1', OTEL_LOGS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://koor.lan:9800' },
    otelHeadersHelper: 'koor-cli otel-headers',
  });
  const again = await runCli(['init', '--claude-code', '--telemetry'], { cwd: root, env });
  t.match(again.stdout, /^unchanged .*settings\.json$/m, 'a rerun changes nothing');

  const rm = await runCli(['init', '--remove', '--claude-code'], { cwd: root, env });
  t.equal(rm.code, 0, rm.stderr);
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), { model: 'opus', env: { MINE: '1' } }, "only Koor's entries went");
  const twice = await runCli(['init', '--remove', '--claude-code'], { cwd: root, env });
  t.notMatch(twice.stdout, new RegExp(config), 'nothing of Koor left there: not listed');
});
