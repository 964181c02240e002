import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/server.js';
import { runCli, writeSettings } from './helpers.js';

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const readJson = (dir: string, f: string) => JSON.parse(read(dir, f));

t.test('init in an empty workspace: both MCP configs and AGENTS.md, from the CLI config', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['init'], { cwd: dir, env: { KOOR_SERVER: 'http://10.0.0.5:9800/' } });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `created .mcp.json\ncreated .cursor/mcp.json\ncreated AGENTS.md\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`);
  t.equal(r.stderr, '', 'no token, no note');
  const want = { mcpServers: { koor: { type: 'http', url: 'http://10.0.0.5:9800/mcp' } } };
  t.same(readJson(dir, '.mcp.json'), want, 'no headers without a token');
  t.same(readJson(dir, '.cursor/mcp.json'), want);
  t.equal(read(dir, '.mcp.json'), JSON.stringify(want, null, 2) + '\n');
  const agents = read(dir, 'AGENTS.md');
  t.match(agents, /^<!-- koor:begin[^\n]*-->\n## Koor/);
  t.match(agents, /Koor server at http:\/\/10\.0\.0\.5:9800\./);
  t.match(agents, /`register_instance`/);
  t.match(agents, /koor-cli activate <instance_id>/);
  t.match(agents, /Use `koor-cli` for all data/);
  t.match(agents, /That is all MCP is for: discovery and proposals\./, 'MCP is the control plane, the data goes over REST/CLI');
  for (const tool of ['register_instance', 'discover_instances', 'set_intent', 'propose_rule', 'get_endpoints']) t.match(agents, `\`${tool}\``, `names ${tool}`);
  t.match(agents, /<!-- koor:end -->\n$/);
  t.notOk(fs.existsSync(path.join(dir, 'settings.json')), 'nothing saved when no flag was given');
});

t.test('init merges into existing configs, keeps other servers, and is idempotent', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(
    path.join(dir, '.mcp.json'),
    JSON.stringify({ mcpServers: { github: { command: 'gh-mcp', args: ['--x'] }, koor: { type: 'http', url: 'http://old/mcp' } }, other: true }, null, 4),
  );
  fs.mkdirSync(path.join(dir, '.cursor'));
  fs.writeFileSync(path.join(dir, '.cursor', 'mcp.json'), '{"mcpServers":{"db":{"url":"http://db"}}}');
  fs.writeFileSync(path.join(dir, 'AGENTS.md'), '# Project rules\n\nUse tabs.\n');
  writeSettings(dir, { bind: 'localhost:9800' });

  const r = await runCli(['init', '--server', 'http://koor.lan:9800', '--token', 's3cret'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `updated .mcp.json\nupdated .cursor/mcp.json\nupdated AGENTS.md\nsaved server and token to settings.json\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`);
  t.match(r.stderr, /note: the MCP config files contain the token/);

  const koor = { type: 'http', url: 'http://koor.lan:9800/mcp', headers: { Authorization: 'Bearer s3cret' } };
  t.same(readJson(dir, '.mcp.json'), { mcpServers: { github: { command: 'gh-mcp', args: ['--x'] }, koor }, other: true }, 'other servers and keys kept, koor replaced');
  t.same(readJson(dir, '.cursor/mcp.json'), { mcpServers: { db: { url: 'http://db' }, koor } });
  const agents = read(dir, 'AGENTS.md');
  t.match(agents, /^# Project rules\n\nUse tabs\.\n\n<!-- koor:begin/, 'appended after the existing text');
  t.same(readJson(dir, 'settings.json'), { bind: 'localhost:9800', server: 'http://koor.lan:9800', token: 's3cret' }, 'the CLI config follows');

  const snapshot = ['.mcp.json', '.cursor/mcp.json', 'AGENTS.md', 'settings.json'].map((f) => read(dir, f));
  const again = await runCli(['init'], { cwd: dir });
  t.equal(again.code, 0);
  t.equal(again.stdout, `unchanged .mcp.json\nunchanged .cursor/mcp.json\nunchanged AGENTS.md\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`, 'rerun (config from settings.json): nothing to do');
  t.same(['.mcp.json', '.cursor/mcp.json', 'AGENTS.md', 'settings.json'].map((f) => read(dir, f)), snapshot);

  // A changed server replaces the marked section instead of adding a second one.
  fs.appendFileSync(path.join(dir, 'AGENTS.md'), '\n## Later notes\n\nKeep me.\n');
  const moved = await runCli(['init', '--server', 'http://new:1'], { cwd: dir });
  t.equal(moved.code, 0);
  const after = read(dir, 'AGENTS.md');
  t.equal(after.match(/<!-- koor:begin/g)?.length, 1, 'one section');
  t.match(after, /Koor server at http:\/\/new:1\./);
  t.notMatch(after, /koor\.lan/);
  t.match(after, /^# Project rules\n\nUse tabs\.\n\n<!-- koor:begin[\s\S]*<!-- koor:end -->\n\n## Later notes\n\nKeep me\.\n$/, 'text around the section untouched');
  t.equal(readJson(dir, '.mcp.json').mcpServers.koor.url, 'http://new:1/mcp');
  t.same(readJson(dir, '.mcp.json').mcpServers.koor.headers, { Authorization: 'Bearer s3cret' }, 'token still from settings.json');
});

t.test('init refuses to touch a config it cannot merge, and writes nothing then', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '.mcp.json'), '{"mcpServers": {"a": 1},');
  const r = await runCli(['init'], { cwd: dir });
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^error: invalid JSON in \.mcp\.json: .*; not touching it\n$/);
  t.equal(read(dir, '.mcp.json'), '{"mcpServers": {"a": 1},');
  t.notOk(fs.existsSync(path.join(dir, '.cursor')), 'all checks before any write');
  t.notOk(fs.existsSync(path.join(dir, 'AGENTS.md')));

  fs.writeFileSync(path.join(dir, '.mcp.json'), '{"mcpServers": []}');
  const arr = await runCli(['init'], { cwd: dir });
  t.match(arr.stderr, /^error: "mcpServers" in \.mcp\.json is not an object; not touching it\n$/);

  const badUrl = await runCli(['init', '--server', 'nope'], { cwd: tempDir(t) });
  t.same([badUrl.code, badUrl.stderr], [1, 'error: invalid server URL: nope\n']);
});
