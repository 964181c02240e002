import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { runCli, writeSettings } from './helpers.js';

/** A loopback URL nothing listens on (port 9 = discard; refused on loopback). */
const DEAD = 'http://127.0.0.1:9';

t.test('config set: server and ca_file to ./settings.json (0600, 2-space, other keys kept); the token to the user config, never the repository', async (t) => {
  const dir = tempDir(t);
  const xdg = tempDir(t);
  const env = { XDG_CONFIG_HOME: xdg };
  writeSettings(dir, { bind: 'localhost:9800', data_dir: './data' });
  const r = await runCli(['config', 'set', 'server', 'http://10.1.2.3:9800'], { cwd: dir, env });
  t.same([r.code, r.stdout, r.stderr], [0, 'config server set to http://10.1.2.3:9800 in ./settings.json\n', '']);
  const userFile = path.join(xdg, 'koor', 'config.json');
  const r2 = await runCli(['config', 'set', 'token', 's3cret'], { cwd: dir, env });
  t.same([r2.code, r2.stdout, r2.stderr], [0, `config token set to **** in ${userFile}\n`, ''], 'the token is not echoed; where it went is');
  const file = path.join(dir, 'settings.json');
  t.equal(fs.readFileSync(file, 'utf8'), '{\n  "bind": "localhost:9800",\n  "data_dir": "./data",\n  "server": "http://10.1.2.3:9800"\n}\n', 'no token in the repository');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.same(fs.readdirSync(dir), ['settings.json'], 'no temp file left behind');
  t.equal(fs.readFileSync(userFile, 'utf8'), '{\n  "token": "s3cret"\n}\n');
  t.equal(fs.statSync(userFile).mode & 0o777, 0o600, 'the user config is readable by its owner only');
  t.equal(fs.statSync(path.dirname(userFile)).mode & 0o777, 0o700);
  t.same(fs.readdirSync(path.dirname(userFile)), ['config.json']);

  // Without XDG_CONFIG_HOME: ~/.config/koor/config.json.
  const home = tempDir(t);
  const r3 = await runCli(['config', 'set', 'token', 'other'], { cwd: dir, env: { XDG_CONFIG_HOME: '', HOME: home } });
  t.same([r3.code, r3.stdout], [0, `config token set to **** in ${path.join(home, '.config', 'koor', 'config.json')}\n`]);
  t.same(JSON.parse(fs.readFileSync(path.join(home, '.config', 'koor', 'config.json'), 'utf8')), { token: 'other' });
  t.notMatch(fs.readFileSync(file, 'utf8'), 'other');
});

t.test('a token in ./settings.json (an older koor-cli put it there) still works, with one warning a run; config set token moves it out', async (t) => {
  const s = await startTestServer(t, { authToken: 'right' });
  const dir = tempDir(t);
  const xdg = tempDir(t);
  const env = { KOOR_SERVER: s.url, XDG_CONFIG_HOME: xdg };
  writeSettings(dir, { bind: 'localhost:9800', token: 'right' });
  const old = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([old.code, old.stdout], [0, '[]\n'], 'the token is used');
  const warning = `warning: the token is in ./settings.json, a file \`git add\` would take: move it with \`koor-cli config set token <token>\` (saved in ${path.join(xdg, 'koor', 'config.json')}) or use KOOR_TOKEN\n`;
  t.equal(old.stderr, warning, 'one warning on stderr');
  const quiet = await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_TOKEN: 'right' } });
  t.same([quiet.code, quiet.stderr], [0, ''], 'no warning when KOOR_TOKEN is what is sent');

  const moved = await runCli(['config', 'set', 'token', 'right'], { cwd: dir, env });
  t.same([moved.code, moved.stdout, moved.stderr], [0, `config token set to **** in ${path.join(xdg, 'koor', 'config.json')}\nremoved the token from ./settings.json\n`, '']);
  t.same(JSON.parse(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8')), { bind: 'localhost:9800' }, 'the other keys stay');
  const after = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([after.code, after.stdout, after.stderr], [0, '[]\n', ''], 'the token from the user config, no warning');
});

t.test('precedence: flag > env > ./settings.json > user config, for the server and the token', async (t) => {
  const s = await startTestServer(t, { authToken: 'right' });
  const dir = tempDir(t);
  const xdg = tempDir(t);
  fs.mkdirSync(path.join(xdg, 'koor'));
  const user = (v: unknown) => fs.writeFileSync(path.join(xdg, 'koor', 'config.json'), JSON.stringify(v));
  const env = { XDG_CONFIG_HOME: xdg };

  // The server: user config < settings.json < KOOR_SERVER.
  user({ server: s.url, token: 'right' });
  const fromUser = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([fromUser.code, fromUser.stdout, fromUser.stderr], [0, '[]\n', ''], 'server and token from the user config alone');
  writeSettings(dir, { server: DEAD });
  t.match((await runCli(['state', 'list'], { cwd: dir, env })).stderr, /127\.0\.0\.1:9\b/, './settings.json beats the user config');
  t.equal((await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_SERVER: s.url } })).code, 0, 'KOOR_SERVER beats ./settings.json');
  user({ server: DEAD, token: 'right' });
  writeSettings(dir, { server: s.url });
  t.equal((await runCli(['state', 'list'], { cwd: dir, env })).code, 0, './settings.json beats the user config the other way round too');

  // The token: user config < settings.json < KOOR_TOKEN < --token.
  writeSettings(dir, { server: s.url, token: 'wrong' });
  const repoWins = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([repoWins.code, repoWins.stdout], [1, '{"error":"invalid or missing bearer token","code":401}\n'], './settings.json beats the user config');
  t.equal((await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_TOKEN: 'right' } })).code, 0, 'KOOR_TOKEN beats ./settings.json');
  t.equal((await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_TOKEN: 'wrong' } })).code, 1);

  // Flags: `init --server/--token` beat the environment (what it writes says which it took).
  const ws = tempDir(t);
  const init = await runCli(['init', '--server', s.url, '--token', 'flag-token'], { cwd: ws, env: { ...env, KOOR_SERVER: DEAD, KOOR_TOKEN: 'env-token' } });
  t.equal(init.code, 0, init.stderr);
  t.equal(JSON.parse(fs.readFileSync(path.join(ws, '.mcp.json'), 'utf8')).mcpServers.koor.url, `${s.url}/mcp`, '--server beats KOOR_SERVER');
  t.same(JSON.parse(fs.readFileSync(path.join(xdg, 'koor', 'config.json'), 'utf8')).token, 'flag-token', '--token beats KOOR_TOKEN');
  t.notMatch(init.stderr, /does not answer/, 'the server checked is the one of --server');

  // `hook --server` beats KOOR_SERVER and ./settings.json.
  const seen: string[] = [];
  const http = await import('node:http');
  const hookServer = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => hookServer.close());
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as import('node:net').AddressInfo).port}`;
  const { spawn } = await import('node:child_process');
  const { CLI_JS, cliEnv } = await import('./helpers.js');
  const { nodeCommand } = await import('../helpers/server.js');
  const hook = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(...nodeCommand(CLI_JS, ['hook', 'codex', '--server', hookUrl]), { cwd: dir, env: cliEnv({ ...env, KOOR_SERVER: DEAD }), stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end(JSON.stringify({ hook_event_name: 'SessionStart', session_id: 's1', cwd: dir }));
  });
  t.equal(hook.code, 0);
  t.same(seen, ['POST /api/hooks/claude-code Bearer wrong'], `--server beats KOOR_SERVER and ./settings.json: ${hook.stderr}`);
});

t.test('config set: unknown key and missing value are usage errors; a malformed file is not overwritten', async (t) => {
  const dir = tempDir(t);
  const bad = await runCli(['config', 'set', 'colour', 'red'], { cwd: dir });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^error: unknown config key: colour \(valid: server, token, ca_file\)\nusage: koor-cli config set <key> <value>\n$/);
  t.notOk(fs.existsSync(path.join(dir, 'settings.json')));
  const short = await runCli(['config', 'set', 'server'], { cwd: dir });
  t.equal(short.code, 1);
  t.match(short.stderr, /^error: missing <value>\nusage: koor-cli config set <key> <value>\n$/);
  writeSettings(dir, '{"bind": "localhost:9800",');
  const broken = await runCli(['config', 'set', 'server', 'http://x'], { cwd: dir });
  t.equal(broken.code, 1);
  t.match(broken.stderr, /^error: settings\.json is not a JSON object; fix or remove it first\n$/);
  t.equal(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8'), '{"bind": "localhost:9800",');
});

t.test('server: env KOOR_SERVER > settings.json > default; trailing slash trimmed', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);

  writeSettings(dir, { server: `${s.url}/` });
  const fromFile = await runCli(['status'], { cwd: dir });
  t.equal(fromFile.code, 0, fromFile.stderr);
  t.match(JSON.parse(fromFile.stdout), { status: 'ok' });

  const envWins = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: DEAD } });
  t.equal(envWins.code, 1);
  t.equal(envWins.stdout, '');
  t.match(envWins.stderr, /^error: request failed: .*ECONNREFUSED.*127\.0\.0\.1:9\n$/, 'env beats the file');

  writeSettings(dir, { server: DEAD });
  const envOverFile = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: s.url } });
  t.equal(envOverFile.code, 0, 'env beats the file the other way round too');

  const emptyEnv = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: '' } });
  t.match(emptyEnv.stderr, /127\.0\.0\.1:9/, 'an empty env value is ignored');

  writeSettings(dir, 'not json');
  const badFile = await runCli(['status'], { cwd: dir });
  // The default is http://localhost:9800: refused there, or (if something runs there) answered by it.
  t.ok(/^error: request failed: .*:9800/.test(badFile.stderr) || /"status":"ok"/.test(badFile.stdout), `a bad file counts as absent: ${badFile.stderr}`);

  const badUrl = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: 'not a url' } });
  t.same([badUrl.code, badUrl.stderr], [1, 'error: invalid server URL: not a url\n']);
});

t.test('token: Authorization header from env or file; 401 → error JSON on stdout, exit 1', async (t) => {
  const s = await startTestServer(t, { authToken: 'right' });
  const dir = tempDir(t);
  const env = { KOOR_SERVER: s.url };

  const none = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([none.code, none.stdout, none.stderr], [1, '{"error":"invalid or missing bearer token","code":401}\n', '']);

  writeSettings(dir, { token: 'right' });
  const fromFile = await runCli(['state', 'list'], { cwd: dir, env });
  t.same([fromFile.code, fromFile.stdout], [0, '[]\n']);
  t.match(fromFile.stderr, /^warning: the token is in \.\/settings\.json/);

  const envWins = await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_TOKEN: 'wrong' } });
  t.equal(envWins.code, 1, 'KOOR_TOKEN beats the file');

  writeSettings(dir, { token: 'wrong' });
  const envRight = await runCli(['state', 'list'], { cwd: dir, env: { ...env, KOOR_TOKEN: 'right' } });
  t.equal(envRight.code, 0);

  const health = await runCli(['status'], { cwd: dir, env });
  t.equal(health.code, 0, '/health needs no token');
});

t.test('transport errors: one error line, exit 1, nothing on stdout', async (t) => {
  const net = await import('node:net');
  const replies = ['garbage\r\n\r\n', '', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'];
  const server = net.createServer((c) => c.once('data', () => c.end(replies.shift() ?? '')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const env = { KOOR_SERVER: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}` };
  const dir = tempDir(t);
  // A TLS listener closes a plain request without a word: that case says what to try.
  for (const want of ['malformed HTTP response', 'connection closed without a reply (if the server serves TLS, use https://)', 'connection closed mid-reply']) {
    const r = await runCli(['status'], { cwd: dir, env });
    t.same([r.code, r.stdout, r.stderr], [1, '', `error: request failed: ${want}\n`]);
  }
});
