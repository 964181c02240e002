import fs from 'node:fs';
import t from 'tap';
import { runWithClipanion } from '../../cli/clipanion.js';
import { loadConfig } from '../../cli/core.js';
import { COMMANDS } from '../../cli/registry.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor, runCli } from './helpers.js';
import { repoPath } from '../helpers/paths.js';

/** What the CLI's help path writes for `args` in this process (clipanion writes help to stderr), and its exit code. */
async function helpInProcess(args: string[], name: string): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await runWithClipanion(args, () => ({ config: loadConfig(process.cwd(), {}), pretty: false, cwd: process.cwd() }), name);
    return { code, stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

t.test('--help on every command: usage and details on stderr, exit 0', async (t) => {
  const dir = tempDir(t);
  const names = Object.keys(COMMANDS);
  t.ok(names.length >= 22, `${names.length} commands`);
  // As a user runs it, a process each: both spellings, a command of each kind (plain, grouped, one
  // with a sub-group). Every command's help is the same code path (main.ts hands `--help` / `-h`
  // to clipanion with only that command's definition loaded), so the rest are run through that
  // path in this process: a process per command was ~85 starts, ~25 s of the loaded suite's CPU.
  const spawned = ['status', 'state get', 'lease acquire', 'templates apply'].filter((n) => names.includes(n));
  t.equal(spawned.length, 4, 'the spawned commands exist');
  const runs = spawned.flatMap((name) => ['--help', '-h'].map((flag) => ({ name, flag })));
  const done = await Promise.all(runs.map(({ name, flag }) => runCli([...name.split(' '), flag], { cwd: dir })));
  runs.forEach(({ name, flag }, k) => {
    const r = done[k]!;
    t.equal(r.code, 0, `${name} ${flag} (signal ${r.signal}, stderr: ${r.stderr.slice(0, 300)})`);
    t.equal(r.stdout, '', `${name} ${flag}: nothing on stdout`);
    t.match(r.stderr, `$ koor-cli ${name}`, `${name} ${flag}: its usage`);
    if (flag === '-h') t.equal(r.stderr, done[k - 1]!.stderr, `${name}: -h is --help`);
  });
  for (const name of names) {
    const r = await helpInProcess([...name.split(' '), '--help'], name);
    t.equal(r.code, 0, `${name} --help (stderr: ${r.stderr.slice(0, 300)})`);
    t.match(r.stderr, `$ koor-cli ${name}`, `${name} --help: its usage`);
  }
  const detailed = await runCli(['help', 'state', 'rollback'], { cwd: dir });
  t.equal(detailed.code, 0);
  t.match(detailed.stderr, /Write an old version's value as a new version[\s\S]*--version <version>\s+The version to restore[\s\S]*\$ koor-cli state rollback api\/contract --version 3/);
});

t.test('top-level usage', async (t) => {
  const dir = tempDir(t);
  for (const args of [['--help'], ['-h'], ['help']]) {
    const r = await runCli(args, { cwd: dir });
    t.equal(r.code, 0, args.join(' '));
    t.equal(r.stdout, '');
    for (const name of Object.keys(COMMANDS)) t.match(r.stderr, `koor-cli ${name}`, `${args.join(' ')} lists ${name}`);
    t.match(r.stderr, /^usage: koor-cli <command>/m, `${args.join(' ')} says "usage"`);
  }
  const none = await runCli([], { cwd: dir });
  t.equal(none.code, 1, 'no arguments → usage, exit 1');
  t.match(none.stderr, /^usage: koor-cli init /m);
  t.match(none.stderr, /^usage: koor-cli state get <key>$/m);

  const group = await runCli(['state', '--help'], { cwd: dir });
  t.equal(group.code, 0);
  t.equal(group.stderr.split('\n').filter((l) => l.startsWith('usage: koor-cli state ')).length, 8, 'the eight state commands');

  const version = await runCli(['--version'], { cwd: dir });
  const pkg = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  t.same([version.code, version.stdout, version.stderr], [0, `${pkg.version}\n`, ''], 'the package version, on stdout (v=$(koor-cli --version))');
});

t.test('usage errors: stderr, exit 1, nothing on stdout', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /^error: unknown command: frobnicate\nrun `koor-cli --help` for every command, `koor-cli <command> --help` for one\n$/],
    [['state', 'frob'], /^error: unknown command: state frob\nstate commands: list, get, set, delete, history, rollback, diff, watch\nrun `koor-cli --help`/],
    [['state'], /^missing state command\nusage: koor-cli state list /],
    [['state', 'get'], /^error: missing <key>\nusage: koor-cli state get <key>\n$/],
    [['state', 'get', 'a', 'b'], /^error: unexpected argument: b\nusage: koor-cli state get <key>\n$/],
    [['state', 'history', 'k', '--limit'], /^error: --limit needs a value\nusage: koor-cli state history \[--limit <limit>\] <key>\n$/],
    [['state', 'rollback', 'k'], /^error: missing --version\nusage: koor-cli state rollback --version <version> <key>\n$/],
    [['state', 'diff', 'k', '--v1', '1'], /^error: missing --v2\nusage: koor-cli state diff --v1 <v1> --v2 <v2> <key>\n$/],
    [['events', 'publish'], /^error: missing <topic>\n/],
    [['register'], /^error: missing <name>\n/],
    [['activate'], /^error: missing <id>\n/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, { cwd: dir, env: { KOOR_SERVER: 'http://127.0.0.1:9' } });
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.stdout, '', `${args.join(' ')}: stdout empty`);
    t.match(r.stderr, re, args.join(' '));
  }
});

t.test('a typo: the nearest command in a few lines, not the whole usage', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string[], string, string]> = [
    [['stat', 'get', 'k'], 'stat get', 'did you mean `koor-cli state get`?'],
    [['taks', 'claim', 'web'], 'taks claim', 'did you mean `koor-cli task claim`?'],
    [['state', 'sett', 'k'], 'state sett', 'did you mean `koor-cli state set`?'],
    [['lease', 'acq', 'src/**'], 'lease acq', 'did you mean `koor-cli lease acquire`?'],
    [['regster', 'x'], 'regster', 'did you mean `koor-cli register`?'],
    [['inbx'], 'inbx', 'did you mean `koor-cli inbox`?'],
    [['templats'], 'templats', 'did you mean `koor-cli templates`? templates commands: list, get, delete, apply, create'],
  ];
  for (const [args, shown, suggestion] of cases) {
    const r = await runCli(args, { cwd: dir, env: { KOOR_SERVER: 'http://127.0.0.1:9' } });
    t.same([r.code, r.stdout], [1, ''], args.join(' '));
    t.equal(r.stderr, `error: unknown command: ${shown}\n${suggestion}\nrun \`koor-cli --help\` for every command, \`koor-cli <command> --help\` for one\n`, args.join(' '));
    t.ok(r.stderr.split('\n').length - 1 <= 5, `${args.join(' ')}: at most 5 lines`);
  }
});

t.test('parsing: unknown flags ignored, later repeats win, --name=value, --pretty anywhere', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);
  for (let i = 1; i <= 3; i++) await cli('state', 'set', 'k', '--data', `{"v":${i}}`);
  const versions = (r: { stdout: string }) => (JSON.parse(r.stdout) as { versions: Array<{ version: number }> }).versions.map((v) => v.version);

  const unknown = await cli('state', 'history', 'k', '--verbose', 'yes', '--limit', '1');
  t.same([unknown.code, versions(unknown)], [0, [3]], 'unknown flag and its value ignored');
  t.same(versions(await cli('state', 'history', 'k', '--limit', '1', '--limit', '2')), [3, 2], 'later repeat wins');
  t.same(versions(await cli('state', 'history', 'k', '--limit=2')), [3, 2], '--name=value');
  t.same(versions(await cli('state', 'history', '--limit', '2', 'k')), [3, 2], 'flags before the positional');
  const dash = await cli('state', 'set', '--', '--odd-key', '--data', '1');
  t.equal(dash.code, 1, 'after --, everything is positional');
  const pretty = await cli('state', '--pretty', 'get', 'k');
  t.equal(pretty.stdout, '{\n  "v": 3\n}\n', '--pretty between the words of the command');
});

t.test('one definition, two dispatchers: clipanion gives the same results as the fast path', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const fast = cliFor(s.url, dir);
  const slow = cliFor(s.url, dir, { KOOR_CLI_PARSER: 'clipanion' });
  await fast('state', 'set', 'a/b', '--data', '{"x":[1,2]}');
  await slow('state', 'set', 'a/b', '--data', '{"x":[1,3]}');
  const lines: string[][] = [
    ['status'],
    ['state', 'list'],
    ['state', 'get', 'a/b', '--pretty'],
    ['state', 'history', 'a/b', '--limit', '1'],
    ['state', 'diff', 'a/b', '--v1', '1', '--v2', '2'],
    ['state', 'get', 'missing'],
    ['specs', 'list', 'p'],
  ];
  for (const args of lines) {
    const a = await fast(...args);
    const b = await slow(...args);
    if (args[0] === 'status') {
      t.same([a.code, b.code], [0, 0], 'status');
      continue;
    }
    t.same([b.code, b.stdout, b.stderr], [a.code, a.stdout, a.stderr], args.join(' '));
  }
  const err = await slow('state', 'set', 'k');
  t.same([err.code, err.stdout], [1, '']);
  t.match(err.stderr, /^error: expected --file or --data, got nothing\nusage: koor-cli state set/, 'run-time usage errors read the same');
});
