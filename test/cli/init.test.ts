import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { runCli, writeSettings } from './helpers.js';

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const readJson = (dir: string, f: string) => JSON.parse(read(dir, f));

/** How koor-cli gets installed, as init says it (cli/hooks/workspace-files.ts INSTALL_HOW). */
const INSTALL_HOW = 'in a clone of the Koor repository, `npm install && npm install -g .`; on another machine, `npm install -g ./koor-<version>.tgz` (made by `npm pack` in the clone)';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A PATH whose first directory (`dir`, or a new one) holds an executable `koor-cli`. */
function pathWithCli(t: Tap.Test, dir = tempDir(t)): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'koor-cli'), '#!/bin/sh\n', { mode: 0o755 });
  return `${dir}:${path.dirname(process.execPath)}:/usr/bin:/bin`;
}

t.test('init in an empty workspace: both MCP configs and AGENTS.md, from the CLI config', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['init'], { cwd: dir, env: { KOOR_SERVER: 'http://10.0.0.5:9800/', PATH: pathWithCli(t) } });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `created .mcp.json\ncreated .cursor/mcp.json\ncreated AGENTS.md\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`);
  t.equal(r.stderr.replace(/^warning: the server at http:\/\/10\.0\.0\.5:9800 does not answer \(.*\): start it \(koor-server\) before the agents, or give --server\n/, ''), '', 'no token, no note (only that the server does not answer)');
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
  t.match(agents, /No `koor-cli` command\? The user installs it in a clone of the Koor repository, `npm install && npm install -g \.`\./, 'how to install koor-cli, as init says it');
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

  const xdg = tempDir(t);
  const env = { XDG_CONFIG_HOME: xdg };
  const userFile = path.join(xdg, 'koor', 'config.json');
  const r = await runCli(['init', '--server', 'http://koor.lan:9800', '--token', 's3cret'], { cwd: dir, env });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `updated .mcp.json\nupdated .cursor/mcp.json\nupdated AGENTS.md\nsaved server to settings.json\nsaved token to ${userFile}\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`);
  t.match(r.stderr, /^note: the MCP configs read the token from the environment: export KOOR_TOKEN=<token> in the shell that starts the agent$/m);

  // The MCP configs name the variable (each client's syntax), never the token.
  const koor = (auth: string) => ({ type: 'http', url: 'http://koor.lan:9800/mcp', headers: { Authorization: auth } });
  t.same(readJson(dir, '.mcp.json'), { mcpServers: { github: { command: 'gh-mcp', args: ['--x'] }, koor: koor('Bearer ${KOOR_TOKEN}') }, other: true }, 'other servers and keys kept, koor replaced');
  t.same(readJson(dir, '.cursor/mcp.json'), { mcpServers: { db: { url: 'http://db' }, koor: koor('Bearer ${env:KOOR_TOKEN}') } });
  const agents = read(dir, 'AGENTS.md');
  t.match(agents, /^# Project rules\n\nUse tabs\.\n\n<!-- koor:begin/, 'appended after the existing text');
  t.same(readJson(dir, 'settings.json'), { bind: 'localhost:9800', server: 'http://koor.lan:9800' }, 'the server follows; the token does not go into the repository');
  t.same(JSON.parse(fs.readFileSync(userFile, 'utf8')), { token: 's3cret' }, 'the token goes to the user config');
  for (const f of ['.mcp.json', '.cursor/mcp.json', 'AGENTS.md', 'settings.json']) t.notMatch(read(dir, f), 's3cret', `${f} holds no token`);

  const snapshot = ['.mcp.json', '.cursor/mcp.json', 'AGENTS.md', 'settings.json'].map((f) => read(dir, f));
  const again = await runCli(['init'], { cwd: dir, env });
  t.equal(again.code, 0);
  t.equal(again.stdout, `unchanged .mcp.json\nunchanged .cursor/mcp.json\nunchanged AGENTS.md\nproject: ${path.basename(dir)} (folder name: not in a git repository)\n`, 'rerun (config from settings.json): nothing to do');
  t.same(['.mcp.json', '.cursor/mcp.json', 'AGENTS.md', 'settings.json'].map((f) => read(dir, f)), snapshot);

  // A changed server replaces the marked section instead of adding a second one.
  fs.appendFileSync(path.join(dir, 'AGENTS.md'), '\n## Later notes\n\nKeep me.\n');
  const moved = await runCli(['init', '--server', 'http://new:1'], { cwd: dir, env });
  t.equal(moved.code, 0);
  const after = read(dir, 'AGENTS.md');
  t.equal(after.match(/<!-- koor:begin/g)?.length, 1, 'one section');
  t.match(after, /Koor server at http:\/\/new:1\./);
  t.notMatch(after, /koor\.lan/);
  t.match(after, /^# Project rules\n\nUse tabs\.\n\n<!-- koor:begin[\s\S]*<!-- koor:end -->\n\n## Later notes\n\nKeep me\.\n$/, 'text around the section untouched');
  t.equal(readJson(dir, '.mcp.json').mcpServers.koor.url, 'http://new:1/mcp');
  t.same(readJson(dir, '.mcp.json').mcpServers.koor.headers, { Authorization: 'Bearer ${KOOR_TOKEN}' }, 'a token still configured (user config): still named');
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

t.test('init writes no token into any file, with every option; it warns when the server does not answer or koor-cli is not on PATH', async (t) => {
  const s = await startTestServer(t, { authToken: 'tok-LITERAL-9931' });
  const dir = tempDir(t);
  const xdg = tempDir(t);
  execFileSync('git', ['init', '-q', dir]);
  const token = 'tok-LITERAL-9931';
  // A directory with a koor-cli, for the PATH the hooks will run it from.
  const bin = tempDir(t);
  fs.writeFileSync(path.join(bin, 'koor-cli'), '#!/bin/sh\n', { mode: 0o755 });
  const PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;

  const r = await runCli(['init', '--hooks', '--claude-code', '--cursor', '--codex', '--server', s.url, '--token', token], { cwd: dir, env: { XDG_CONFIG_HOME: xdg, PATH } });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /warning/, `koor-cli on PATH and the server answers: no warning (${r.stderr})`);
  t.notMatch(r.stdout + r.stderr, token, 'the token is not printed');
  const grep = (root: string): string[] => {
    const hits: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'objects') walk(p);
        } else if (fs.readFileSync(p, 'utf8').includes(token)) hits.push(path.relative(root, p));
      }
    };
    walk(root);
    return hits;
  };
  t.same(grep(dir), [], 'no file of the repository (nor of .git) holds the token');
  t.same(grep(xdg), [path.join('koor', 'config.json')], 'it is in the user config only');
  t.same(readJson(dir, '.mcp.json').mcpServers.koor.headers, { Authorization: 'Bearer ${KOOR_TOKEN}' });

  // Without the hooks' koor-cli on PATH, and with a server that does not answer: two warnings.
  const ws = tempDir(t);
  execFileSync('git', ['init', '-q', ws]);
  const w = await runCli(['init', '--claude-code', '--server', 'http://127.0.0.1:9'], { cwd: ws, env: { XDG_CONFIG_HOME: xdg, PATH: path.dirname(process.execPath) + ':/usr/bin:/bin' } });
  t.equal(w.code, 0, w.stderr);
  t.match(w.stderr, new RegExp(`^warning: \`koor-cli\` is not on PATH, and the hooks run \`koor-hook …\` and \`koor-cli hook …\`: without them they do nothing\\. Install it: ${escape(INSTALL_HOW)}$`, 'm'));
  t.match(w.stderr, /^warning: the server at http:\/\/127\.0\.0\.1:9 does not answer \(connect ECONNREFUSED 127\.0\.0\.1:9\): start it \(koor-server\) before the agents, or give --server$/m);
  t.ok(fs.existsSync(path.join(ws, '.claude', 'settings.json')), 'the files are written all the same');
});

t.test('init warns when the koor-cli the agents will run is missing, or on the PATH of this npx run only', async (t) => {
  const xdg = tempDir(t);
  const s = await startTestServer(t);
  const init = (cwd: string, args: string[], env: Record<string, string>) => runCli(['init', '--server', s.url, ...args], { cwd, env: { XDG_CONFIG_HOME: xdg, npm_command: '', npm_lifecycle_event: '', ...env } });
  const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning: '));
  const bare = `${path.dirname(process.execPath)}:/usr/bin:/bin`;

  // Without client hooks: AGENTS.md tells the agents to run koor-cli.
  const missing = await init(tempDir(t), [], { PATH: bare });
  t.equal(missing.code, 0, missing.stderr);
  t.same(warnings(missing.stderr), [`warning: \`koor-cli\` is not on PATH, and AGENTS.md tells the agents to run it. Install it: ${INSTALL_HOW}`], 'the server answers: only that');

  // `npx koor-cli init` (or npm exec, npm run): npm put a node_modules/.bin holding koor-cli at the
  // front of PATH for this run; the agent's shell does not have it.
  const ws = tempDir(t);
  execFileSync('git', ['init', '-q', ws]);
  const npxBin = path.join(tempDir(t), '_npx', '1f2e3d', 'node_modules', '.bin');
  const viaNpx = await init(ws, ['--claude-code'], { PATH: pathWithCli(t, npxBin), npm_command: 'exec', npm_lifecycle_event: 'npx' });
  t.equal(viaNpx.code, 0, viaNpx.stderr);
  t.same(
    warnings(viaNpx.stderr),
    [`warning: \`koor-cli\` is on PATH only for this npx/npm run, and the hooks run \`koor-hook …\` and \`koor-cli hook …\`: without them they do nothing. Install it: ${INSTALL_HOW}`],
    'npx: the hooks would fail open, said',
  );
  t.ok(fs.existsSync(path.join(ws, '.claude', 'settings.json')), 'the files are written all the same');

  // Installed as well (npm's bin first, the global one after it): no warning.
  const both = await init(ws, ['--claude-code'], { PATH: `${npxBin}:${pathWithCli(t)}`, npm_command: 'exec' });
  t.same(warnings(both.stderr), [], 'on the PATH the agents inherit too');
  // A node_modules/.bin the user put on PATH (not run by npm) is theirs: no warning.
  const own = await init(ws, ['--claude-code'], { PATH: pathWithCli(t, npxBin) });
  t.same(warnings(own.stderr), [], 'outside npm, any PATH directory counts');
  // --remove says nothing about it.
  const rm = await init(ws, ['--remove', '--claude-code'], { PATH: bare });
  t.same(warnings(rm.stderr), [], 'no warning when taking Koor out');
});
