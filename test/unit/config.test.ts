import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { loadConfig, parseBind, parseDuration } from '../../src/config.js';
import { runServer, tempDir } from '../helpers/server.js';

t.test('priority: flags > env > settings file > defaults', async (t) => {
  const dir = tempDir(t);
  const d = loadConfig([], {}, dir);
  t.equal(d.bind.text, 'localhost:9800');
  t.equal(d.dashboardBind?.text, 'localhost:9847');
  t.equal(d.dataDir, dir);
  t.equal(d.authToken, '');
  t.equal(d.logLevel, 'info');
  t.equal(d.maxBodyBytes, 10 * 1024 * 1024);
  t.equal(d.eventRetention, 1000);

  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ bind: 'localhost:1111', auth_token: 'file', log_level: 'WARN', dashboard_bind: '', server: 'cli-key-ignored', event_retention: 50 }));
  const f = loadConfig([], {}, dir);
  t.equal(f.bind.text, 'localhost:1111');
  t.equal(f.authToken, 'file');
  t.equal(f.logLevel, 'warn', 'level is case-insensitive');
  t.equal(f.dashboardBind, null, 'dashboard_bind "" disables the dashboard');
  t.equal(f.eventRetention, 50);

  const e = loadConfig([], { KOOR_BIND: 'localhost:2222', KOOR_AUTH_TOKEN: 'env', KOOR_DASHBOARD_BIND: '' }, dir);
  t.equal(e.bind.text, 'localhost:2222');
  t.equal(e.authToken, 'env');
  t.equal(e.dashboardBind, null, 'empty env is ignored; the file value stays');

  const fl = loadConfig(['--bind', 'localhost:3333', '-auth-token=flag'], { KOOR_BIND: 'localhost:2222', KOOR_AUTH_TOKEN: 'env' }, dir);
  t.equal(fl.bind.text, 'localhost:3333', 'an explicit flag beats env');
  t.equal(fl.authToken, 'flag');

  const other = path.join(dir, 'other.json');
  fs.writeFileSync(other, JSON.stringify({ bind: 'localhost:4444' }));
  t.equal(loadConfig(['--config', other], {}, dir).bind.text, 'localhost:4444');
  fs.writeFileSync(other, '{not json');
  t.equal(loadConfig(['--config', other], {}, dir).bind.text, 'localhost:9800', 'malformed file ignored');
  t.equal(loadConfig(['--log-level', 'WARN'], {}, dir).logLevel, 'warn', 'levels are case-insensitive');
  t.throws(() => loadConfig(['--log-level', 'loud'], {}, dir), { message: 'invalid --log-level "loud": expected debug, info, warn or error', exitCode: 1 }, 'unknown level is an error like any bad value');
});

t.test('value parsing', async (t) => {
  t.same(parseBind(':9800', 'x'), { host: '', port: 9800, text: ':9800' });
  t.same(parseBind('[::1]:80', 'x'), { host: '::1', port: 80, text: '[::1]:80' });
  t.throws(() => parseBind('localhost', 'x'), /invalid x "localhost": expected host:port/);
  t.throws(() => parseBind('localhost:99999', 'x'));
  t.equal(parseDuration('60s', 'x'), 60_000);
  t.equal(parseDuration('5m', 'x'), 300_000);
  t.equal(parseDuration('1h30m', 'x'), 5_400_000);
  t.equal(parseDuration('250ms', 'x'), 250);
  t.equal(parseDuration('2', 'x'), 2000);
  t.throws(() => parseDuration('5 minutes', 'x'));
  t.equal(parseDuration('596h', 'x'), 596 * 3_600_000, 'the longest a Node timer runs');
  t.throws(() => parseDuration('600h', 'x'), /invalid x "600h": at most 596h/, 'longer would fire at once, in a loop');
  t.throws(() => parseDuration('3000000', 'x'), /at most 596h/);
  t.throws(() => loadConfig(['--max-body-bytes', 'lots'], {}, '/'), /invalid --max-body-bytes/);
  t.equal(loadConfig(['--max-body-bytes', '64k'], {}, '/').maxBodyBytes, 65536);
  t.throws(() => loadConfig(['--nope'], {}, '/'), { exitCode: 2 });
  t.throws(() => loadConfig(['--pool-threads', '0'], {}, '/'), /invalid --pool-threads "0": must be at least 1/);
  t.equal(loadConfig(['--event-retention', '0'], {}, '/').eventRetention, 0, 'retention 0 is allowed');
});

t.test('bad values: one clear line on stderr and exit 1, no stack trace', async (t) => {
  const dir = tempDir(t);
  const bad = await runServer(['--bind', 'nonsense', '--data-dir', dir]);
  t.equal(bad.code, 1);
  t.equal(bad.stderr, 'koor-server: invalid --bind "nonsense": expected host:port\n');

  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const unwritable = await runServer(['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', path.join(file, 'sub')]);
  t.equal(unwritable.code, 1);
  t.equal(unwritable.stderr, `koor-server: data directory ${path.join(file, 'sub')} cannot hold a database: ${file} is not a directory\n`);

  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const inUse = await runServer(['--bind', `127.0.0.1:${port}`, '--dashboard-bind', '', '--data-dir', dir]);
  t.equal(inUse.code, 1);
  t.match(inUse.stderr, new RegExp(`koor-server: cannot listen on 127\\.0\\.0\\.1:${port} \\(API\\): address already in use or not available\\n$`));
  t.notMatch(inUse.stderr, /\n\s+at /, 'no stack trace');

  const unknown = await runServer(['--frobnicate', '1']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown flag: --frobnicate/);
  const help = await runServer(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: koor-server/);
});

t.test('database (cluster mode): flag > KOOR_DATABASE_URL > settings database > embedded SQLite', async (t) => {
  const dir = tempDir(t);
  t.equal(loadConfig([], {}, dir).database, '', 'SQLite by default');
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ database: 'postgres://file@db/koor' }));
  t.equal(loadConfig([], {}, dir).database, 'postgres://file@db/koor');
  t.equal(loadConfig([], { KOOR_DATABASE_URL: 'postgresql://env@db:5433/koor' }, dir).database, 'postgresql://env@db:5433/koor');
  t.equal(loadConfig(['--database', 'postgres://flag@db/koor'], { KOOR_DATABASE_URL: 'postgres://env@db/koor' }, dir).database, 'postgres://flag@db/koor');
  const multi = 'postgres://u:p@h1:5432,h2:5432/koor?target_session_attrs=primary';
  t.equal(loadConfig(['--database', multi], {}, dir).database, multi, 'a host list is passed on as given');
  for (const bad of ['mysql://u@h/db', 'h:5432/db', 'postgres:///koor', 'postgres://u:secret@/koor']) {
    t.throws(() => loadConfig(['--database', bad], {}, dir), { name: 'ConfigError' }, bad);
  }
  let message = '';
  try {
    loadConfig(['--database', 'postgres://u:secret@/koor'], {}, dir);
  } catch (e) {
    message = (e as Error).message;
  }
  t.match(message, /postgres:\/\/u:\*\*\*@\/koor/, 'the error line names the URL');
  t.notMatch(message, /secret/, 'without its password');
});

t.test('--auth-token-file: the server token from a file, kept off the command line', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'token'), '  s3cret-from-file \nsecond line ignored\n');
  t.equal(loadConfig(['--auth-token-file', 'token'], {}, dir).authToken, 's3cret-from-file', 'its first line, trimmed; relative to the cwd');
  t.equal(loadConfig([], { KOOR_AUTH_TOKEN_FILE: path.join(dir, 'token') }, dir).authToken, 's3cret-from-file', 'or from the environment');
  t.throws(() => loadConfig(['--auth-token-file', 'token', '--auth-token', 'x'], {}, dir), { message: /not both/, exitCode: 2 });
  t.throws(() => loadConfig(['--auth-token-file', 'nope'], {}, dir), { message: `cannot read --auth-token-file ${path.join(dir, 'nope')}: ENOENT` });
  fs.writeFileSync(path.join(dir, 'empty'), '\n');
  t.throws(() => loadConfig(['--auth-token-file', 'empty'], {}, dir), { message: /is empty/ });
  t.equal(loadConfig(['--secret-key-file', 'k'], {}, dir).secretKeyFile, path.join(dir, 'k'), '--secret-key-file relative to the cwd');
});
