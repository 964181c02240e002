import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { runCli, writeSettings } from './helpers.js';

/** A loopback URL nothing listens on (port 9 = discard; refused on loopback). */
const DEAD = 'http://127.0.0.1:9';

t.test('config set writes ./settings.json (0600, 2-space, other keys kept)', async (t) => {
  const dir = tempDir(t);
  writeSettings(dir, { bind: 'localhost:9800', data_dir: './data' });
  const r = await runCli(['config', 'set', 'server', 'http://10.1.2.3:9800'], { cwd: dir });
  t.same([r.code, r.stdout, r.stderr], [0, 'config server set to http://10.1.2.3:9800\n', '']);
  const r2 = await runCli(['config', 'set', 'token', 's3cret'], { cwd: dir });
  t.same([r2.stdout, r2.stderr], ['config token set to ****\n', ''], 'the token is not echoed');
  const file = path.join(dir, 'settings.json');
  t.equal(
    fs.readFileSync(file, 'utf8'),
    '{\n  "bind": "localhost:9800",\n  "data_dir": "./data",\n  "server": "http://10.1.2.3:9800",\n  "token": "s3cret"\n}\n',
  );
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.same(fs.readdirSync(dir), ['settings.json'], 'no temp file left behind');
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
