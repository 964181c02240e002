import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { spawn } from 'node:child_process';
import { cleanEnv, nodeCommand, startTestServer, tempDir } from '../helpers/server.js';
import { CLI_JS, cliFor } from './helpers.js';

/** Runs the CLI with stdout on a terminal (util-linux `script` gives it a pty); null without `script`. */
function onTerminal(args: string[], cwd: string, env: Record<string, string>): Promise<string | null> {
  if (!fs.existsSync('/usr/bin/script')) return Promise.resolve(null);
  const [cmd, argv] = nodeCommand(CLI_JS, args);
  const line = [cmd, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/script', ['-qec', line, '/dev/null'], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

t.test('state commands against a real server', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);

  await t.test('list is [] on an empty store; output is the body unchanged', async (t) => {
    const r = await cli('state', 'list');
    t.same([r.code, r.stdout, r.stderr], [0, '[]\n', '']);
  });

  await t.test('set --data / get / list / --pretty keeps member order and number spelling', async (t) => {
    const value = '{"z":1,"a":{"n":1.50,"big":12345678901234567890},"2":[],"e":{}}';
    const set = await cli('state', 'set', 'proj/cfg', '--data', value);
    t.equal(set.code, 0, set.stderr);
    const reply = JSON.parse(set.stdout);
    t.same([reply.key, reply.version, reply.content_type], ['proj/cfg', 1, 'application/json']);
    t.ok(set.stdout.endsWith('}\n'), 'compact reply as the server sent it');

    const get = await cli('state', 'get', 'proj/cfg');
    t.same([get.code, get.stdout], [0, value], 'raw bytes, no newline added');
    const tty = await onTerminal(['state', 'get', 'proj/cfg'], dir, { KOOR_SERVER: s.url });
    if (tty === null) t.comment('no /usr/bin/script: the terminal case is not tested');
    // The pty turns \n into \r\n.
    else t.equal(tty, `${value}\r\n`, 'on a terminal: a newline after a value without one');

    const pretty = await cli('state', 'get', 'proj/cfg', '--pretty');
    t.equal(
      pretty.stdout,
      '{\n  "z": 1,\n  "a": {\n    "n": 1.50,\n    "big": 12345678901234567890\n  },\n  "2": [],\n  "e": {}\n}\n',
    );
    const prettyFirst = await cli('--pretty', 'state', 'get', 'proj/cfg');
    t.equal(prettyFirst.stdout, pretty.stdout, '--pretty anywhere on the command line');

    const list = await cli('state', 'list', '--pretty');
    t.match(list.stdout, /^\[\n  \{\n    "key": "proj\/cfg",\n    "version": 1,\n/);
  });

  await t.test('state list pages with --limit and --after', async (t) => {
    for (const k of ['page/a', 'page/b', 'page/c']) await cli('state', 'set', k, '--data', '1');
    const keys = async (...args: string[]) => (JSON.parse((await cli('state', 'list', ...args)).stdout) as Array<{ key: string }>).map((r) => r.key);
    t.same(await keys('--after', 'page/', '--limit', '2'), ['page/a', 'page/b']);
    t.same(await keys('--after', 'page/b', '--limit', '1'), ['page/c']);
    const bad = await cli('state', 'list', '--limit', '0');
    t.same([bad.code, JSON.parse(bad.stdout)], [1, { error: 'limit must be a positive integer', code: 400 }]);
  });

  await t.test('--file sends raw bytes; --content-type is stored; non-JSON is never re-indented', async (t) => {
    const file = path.join(dir, 'notes.md');
    fs.writeFileSync(file, '# plan\n\n- one\n');
    const set = await cli('state', 'set', 'notes', '--file', file, '--content-type', 'text/markdown');
    t.equal(JSON.parse(set.stdout).content_type, 'text/markdown');
    const get = await cli('state', 'get', 'notes', '--pretty');
    t.equal(get.stdout, '# plan\n\n- one\n');
    const tty = await onTerminal(['state', 'get', 'notes'], dir, { KOOR_SERVER: s.url });
    if (tty !== null) t.equal(tty, '# plan\r\n\r\n- one\r\n', 'on a terminal: no second newline after one that ends the value');
    const bin = path.join(dir, 'bin');
    fs.writeFileSync(bin, Buffer.from([0, 1, 2, 255, 10]));
    await cli('state', 'set', 'bin', '--file', bin);
    const r = await fetch(`${s.url}/api/state/bin`);
    t.same(Buffer.from(await r.arrayBuffer()), Buffer.from([0, 1, 2, 255, 10]));
    t.equal(r.headers.get('content-type'), 'application/octet-stream', 'bytes that are not UTF-8 text: application/octet-stream (the type comes from the data)');
  });

  await t.test('keys with spaces, ?, #, %, slashes and dot segments round-trip', async (t) => {
    for (const key of ['a b/c?d#e%20f', 'a/../b', './x']) {
      t.equal((await cli('state', 'set', key, '--data', '"x"')).code, 0, key);
      const list = JSON.parse((await cli('state', 'list')).stdout) as Array<{ key: string }>;
      t.ok(list.some((e) => e.key === key), `stored under the exact key ${key}`);
      t.equal((await cli('state', 'get', key)).stdout, '"x"');
      t.equal(JSON.parse((await cli('state', 'delete', key)).stdout).deleted, key);
    }
  });

  await t.test('history, diff, rollback', async (t) => {
    await cli('state', 'set', 'p', '--data', '{"name":"A","age":30}');
    await cli('state', 'set', 'p', '--data', '{"name":"A","age":31,"city":"L"}');
    await cli('state', 'set', 'p', '--data', '{"name":"B"}');
    const hist = JSON.parse((await cli('state', 'history', 'p')).stdout);
    t.same(hist.versions.map((v: { version: number }) => v.version), [3, 2, 1]);
    const limited = JSON.parse((await cli('state', 'history', 'p', '--limit', '2')).stdout);
    t.same(limited.versions.map((v: { version: number }) => v.version), [3, 2]);

    const diff = await cli('state', 'diff', 'p', '--v1', '1', '--v2', '2');
    t.equal(diff.code, 0);
    t.same(JSON.parse(diff.stdout), {
      key: 'p',
      v1: 1,
      v2: 2,
      diffs: [
        { path: 'age', old: 30, new: 31, kind: 'changed' },
        { path: 'city', new: 'L', kind: 'added' },
      ],
    });

    const rb = await cli('state', 'rollback', 'p', '--version', '1');
    t.equal(rb.code, 0);
    t.match(JSON.parse(rb.stdout), { key: 'p', version: 4, rolled_back: 1 });
    t.equal((await cli('state', 'get', 'p')).stdout, '{"name":"A","age":30}');
  });

  await t.test('HTTP errors: error JSON on stdout, exit 1', async (t) => {
    const miss = await cli('state', 'get', 'missing');
    t.same([miss.code, miss.stdout, miss.stderr], [1, '{"error":"key not found: missing","code":404}\n', '']);
    const pretty = await cli('state', 'get', 'missing', '--pretty');
    t.same([pretty.code, pretty.stdout], [1, '{\n  "error": "key not found: missing",\n  "code": 404\n}\n']);
    const del = await cli('state', 'delete', 'missing');
    t.equal(del.code, 1);
    const badVersion = await cli('state', 'rollback', 'p', '--version', 'x');
    t.same([badVersion.code, JSON.parse(badVersion.stdout)], [1, { error: 'rollback version must be an integer', code: 400 }]);
    const badDiff = await cli('state', 'diff', 'p', '--v1', '1', '--v2', 'z');
    t.same([badDiff.code, JSON.parse(badDiff.stdout).code], [1, 400]);
    const noVersion = await cli('state', 'rollback', 'p', '--version', '99');
    t.same([noVersion.code, JSON.parse(noVersion.stdout)], [1, { error: 'version 99 not found for key: p', code: 404 }]);
  });

  await t.test('query values are URL-encoded', async (t) => {
    // "1&limit=1" unescaped would be limit=1 (one version); encoded it is one bad limit → 400.
    const r = await cli('state', 'history', 'p', '--limit', '1&limit=1');
    t.same([r.code, JSON.parse(r.stdout)], [1, { error: 'limit must be a positive integer', code: 400 }]);
  });

  await t.test('local errors: one error line on stderr, exit 1, nothing sent', async (t) => {
    const none = await cli('state', 'set', 'k');
    t.equal(none.code, 1);
    t.equal(none.stdout, '');
    t.match(none.stderr, /^error: expected --file or --data, got nothing\nusage: koor-cli state set /);
    const typo = await cli('state', 'set', 'k', '--dta', '1');
    t.match(typo.stderr, /^error: expected --file or --data, got --dta\n/);
    const missing = await cli('state', 'set', 'k', '--file', path.join(dir, 'nope.json'));
    t.same([missing.code, missing.stdout], [1, '']);
    t.match(missing.stderr, /^error: cannot read .*nope\.json: no such file\n$/);
    t.equal((await fetch(`${s.url}/api/state/k`)).status, 404, 'nothing was written');
  });
});

t.test('state set: the content type from the data (JSON, text, bytes); --type (or --content-type) overrides', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);
  fs.writeFileSync(path.join(dir, 'bytes.bin'), Buffer.from([0xff, 0x00, 0xfe]));
  fs.writeFileSync(path.join(dir, 'plan.md'), '# Plan\n');
  const cases: Array<[string[], string]> = [
    [['state', 'set', 'text', '--data', 'hello world'], 'text/plain; charset=utf-8'],
    [['state', 'set', 'json', '--data', '{"v":2}'], 'application/json'],
    [['state', 'set', 'num', '--data', '42'], 'application/json'],
    [['state', 'set', 'bin', '--file', 'bytes.bin'], 'application/octet-stream'],
    [['state', 'set', 'md', '--file', 'plan.md'], 'text/plain; charset=utf-8'],
    [['state', 'set', 'md2', '--file', 'plan.md', '--type', 'text/markdown'], 'text/markdown'],
    [['state', 'set', 'forced', '--data', 'hello', '--content-type', 'application/x-note'], 'application/x-note'],
  ];
  for (const [args, want] of cases) {
    const r = await cli(...args);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    const got = await fetch(`${s.url}/api/state/${args[2]}`);
    t.equal(got.headers.get('content-type'), want, args.join(' '));
  }
  t.equal((await cli('state', 'get', 'text')).stdout, 'hello world', 'the value as written');
});
