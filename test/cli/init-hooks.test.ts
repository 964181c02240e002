/**
 * `koor-cli init --claude-code|--cursor|--codex` and `--remove`: the hook settings each
 * client gets, merged with the user's own hooks and settings (kept, in order, in their file's
 * indentation), a rerun that changes nothing, a new server URL that replaces Koor's entries instead
 * of adding more, `--remove` giving the user's file back byte for byte, and no token in any file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/server.js';
import { runCli } from './helpers.js';

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const readJson = (dir: string, f: string) => JSON.parse(read(dir, f));
const exists = (dir: string, f: string) => fs.existsSync(path.join(dir, f));

/** A git repository in a temp dir (realpath: git prints the resolved root). */
function repo(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.realpathSync(tempDir(t, 'koor-init-hooks-'));
  execFileSync('git', ['init', '-q', dir]);
  repository = path.basename(dir);
  return dir;
}

/** Every file under dir (but .git/), relative, with its text. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '.git') walk(p);
      } else out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

const SERVER = 'http://10.0.0.5:9800';
/** stderr without init's warnings (no server at SERVER; `koor-cli` on PATH or not, as the machine has it: init.test.ts checks them). */
const notes = (stderr: string) => stderr.split('\n').filter((l) => !l.startsWith('warning: ')).join('\n');
/** The repository's project, as `init` writes it into the HTTP hooks: repo() makes repositories without a remote, so their folder name. */
let repository = '';
const HTTP_HOOK = (server: string) => ({
  type: 'http',
  url: `${server}/api/hooks/claude-code`,
  headers: { Authorization: 'Bearer $KOOR_TOKEN', 'X-Koor-Agent-Name': '$KOOR_AGENT_NAME', 'X-Koor-Project': '$KOOR_PROJECT', 'X-Koor-Repository': repository, 'X-Koor-Repo-Root': '$KOOR_REPO_ROOT' },
  allowedEnvVars: ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT'],
  timeout: 5,
});
const WAKE = { type: 'command', command: 'koor-cli wait --hook', asyncRewake: true, timeout: 3600 };
const SESSION_START = { type: 'command', command: 'koor-hook claude-code', timeout: 10 };

/** The user's own Claude Code settings, 4-space indented, no trailing newline. */
const USER_SETTINGS = {
  model: 'opus',
  permissions: { allow: ['Bash(npm test:*)'] },
  hooks: {
    PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './scripts/check-bash.sh' }] }],
    Stop: [{ hooks: [{ type: 'command', command: 'say done' }] }],
  },
  env: { FOO: 'bar' },
};
const USER_SETTINGS_TEXT = JSON.stringify(USER_SETTINGS, null, 4);
const USER_LOCAL_TEXT = JSON.stringify({ permissions: { deny: ['Read(.env)'] }, env: { MINE: '1' } }, null, 2) + '\n';

t.test('init --claude-code merges into the user settings, keeps their hooks first, and a rerun changes nothing', async (t) => {
  const dir = repo(t);
  fs.mkdirSync(path.join(dir, '.claude'));
  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), USER_SETTINGS_TEXT);
  fs.writeFileSync(path.join(dir, '.claude', 'settings.local.json'), USER_LOCAL_TEXT);
  fs.mkdirSync(path.join(dir, 'src'));

  // Run from a subdirectory: the hooks go to the repository root.
  const r = await runCli(['init', '--claude-code'], { cwd: path.join(dir, 'src'), env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^updated \.\.\/\.claude\/settings\.json$/m);
  t.match(r.stdout, /^updated \.\.\/\.claude\/settings\.local\.json$/m);
  t.match(r.stdout, new RegExp(`\nproject: ${repository} \\(folder name: no origin remote\\)\n$`), 'the project it chose, and why');
  t.equal(notes(r.stderr), '', 'no token configured: no note');

  const s = readJson(dir, '.claude/settings.json');
  t.same(Object.keys(s), ['model', 'permissions', 'hooks', 'env'], 'the user keys stay, in order');
  t.same(s.model, 'opus');
  t.same(s.permissions, USER_SETTINGS.permissions);
  t.same(s.env, { FOO: 'bar' });
  t.same(Object.keys(s.hooks), ['PreToolUse', 'Stop', 'SessionStart', 'UserPromptSubmit', 'PostToolUse', 'PostToolUseFailure', 'SessionEnd'], 'existing events first, new ones after');
  t.same(s.hooks.PreToolUse, [USER_SETTINGS.hooks.PreToolUse[0], { matcher: 'Edit|Write|MultiEdit|NotebookEdit|Bash', hooks: [HTTP_HOOK(SERVER)] }], "the user's Bash hook first, Koor's edit guard after");
  t.same(s.hooks.Stop, [USER_SETTINGS.hooks.Stop[0], { hooks: [HTTP_HOOK(SERVER), WAKE] }], 'Stop: the HTTP hook and the background wake-up');
  t.same(s.hooks.SessionStart, [{ hooks: [SESSION_START] }], 'SessionStart cannot be an HTTP hook: the command bridge');
  for (const ev of ['UserPromptSubmit', 'PostToolUse', 'SessionEnd']) t.same(s.hooks[ev], [{ hooks: [HTTP_HOOK(SERVER)] }], ev);
  t.same(s.hooks.PostToolUseFailure, [{ matcher: 'Bash', hooks: [HTTP_HOOK(SERVER)] }], 'a shell command that failed or was interrupted ends there');
  t.match(read(dir, '.claude/settings.json'), /^\{\n {4}"model": "opus",\n/, "the file's 4-space indentation kept");
  t.notOk(read(dir, '.claude/settings.json').endsWith('\n'), 'and its missing final newline');

  const local = readJson(dir, '.claude/settings.local.json');
  t.same(local, { permissions: { deny: ['Read(.env)'] }, env: { MINE: '1', KOOR_REPO_ROOT: dir } }, 'the repository root per clone, beside the user env');
  t.match(fs.readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8'), /^\/\.claude\/settings\.local\.json$/m, 'the per-clone file is kept out of git');
  const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: dir, encoding: 'utf8' });
  t.notMatch(status, /settings\.local\.json/, 'git does not see it');
  t.match(status, /\.claude\/settings\.json/, 'the shared settings are for committing');

  const before = snapshot(dir);
  const exclude = fs.readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8');
  const again = await runCli(['init', '--claude-code'], { cwd: path.join(dir, 'src'), env: { KOOR_SERVER: SERVER } });
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /^unchanged \.\.\/\.claude\/settings\.json\nunchanged \.\.\/\.claude\/settings\.local\.json$/m);
  t.same(snapshot(dir), before, 'a rerun leaves every file byte-identical');
  t.equal(fs.readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8'), exclude, 'the exclude line is not added twice');

  // A new server URL: Koor's entries replaced where they are, none added.
  const moved = await runCli(['init', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: 'http://koor.lan:1234/' } });
  t.equal(moved.code, 0, moved.stderr);
  const m = readJson(dir, '.claude/settings.json');
  t.same(m.hooks.PreToolUse, [USER_SETTINGS.hooks.PreToolUse[0], { matcher: 'Edit|Write|MultiEdit|NotebookEdit|Bash', hooks: [HTTP_HOOK('http://koor.lan:1234')] }]);
  t.same(m.hooks.Stop, [USER_SETTINGS.hooks.Stop[0], { hooks: [HTTP_HOOK('http://koor.lan:1234'), WAKE] }]);
  t.notMatch(read(dir, '.claude/settings.json'), /10\.0\.0\.5/, 'no entry for the old server left');

  // --remove gives the user's files back, byte for byte.
  const rm = await runCli(['init', '--remove', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(rm.code, 0, rm.stderr);
  t.equal(rm.stdout, 'updated .claude/settings.json\nupdated .claude/settings.local.json\n');
  t.equal(read(dir, '.claude/settings.json'), USER_SETTINGS_TEXT);
  t.equal(read(dir, '.claude/settings.local.json'), USER_LOCAL_TEXT);
  t.ok(exists(dir, '.mcp.json'), '--remove --claude-code leaves the MCP config alone');
});

t.test('a group where the user added a hook of their own keeps that hook; Koor entries of older releases go', async (t) => {
  const dir = repo(t);
  fs.mkdirSync(path.join(dir, '.claude'));
  const mine = { type: 'command', command: 'echo mine' };
  const settings = {
    hooks: {
      PostToolUse: [{ hooks: [{ type: 'http', url: 'http://old:1/api/hooks/claude-code', timeout: 5 }, mine] }],
      Notification: [{ hooks: [{ type: 'command', command: 'koor-cli hook claude-code' }] }],
    },
  };
  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  const r = await runCli(['init', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  const s = readJson(dir, '.claude/settings.json');
  t.same(s.hooks.PostToolUse, [{ hooks: [HTTP_HOOK(SERVER)] }, { hooks: [mine] }], "Koor's group where the old one was, the user's hook kept beside");
  t.notOk('Notification' in s.hooks, 'an event Koor no longer uses loses its Koor entry (and the emptied list)');

  const rm = await runCli(['init', '--remove', '--claude-code'], { cwd: dir });
  t.equal(rm.code, 0, rm.stderr);
  t.same(readJson(dir, '.claude/settings.json'), { hooks: { PostToolUse: [{ hooks: [mine] }] } });
});

t.test('the token never lands in a file: hooks and MCP configs name $KOOR_TOKEN, and init says to export it', async (t) => {
  const dir = repo(t);
  const token = 'tok-SECRET-4711';
  const r = await runCli(['init', '--claude-code', '--cursor', '--codex'], { cwd: dir, env: { KOOR_SERVER: SERVER, KOOR_TOKEN: token } });
  t.equal(r.code, 0, r.stderr);
  t.equal(
    notes(r.stderr),
    'note: Codex runs .codex/hooks.json only in a trusted project, once you have reviewed the hooks: start codex here, trust the folder and approve them in /hooks, or rerun with --trust\n' +
      'note: the hooks and MCP configs read the token from the environment: export KOOR_TOKEN=<token> in the shell that starts the agent\n',
  );
  t.notMatch(r.stderr + r.stdout, token, 'not printed either');
  const files = snapshot(dir);
  t.same(Object.keys(files).sort(), ['.claude/settings.json', '.claude/settings.local.json', '.codex/hooks.json', '.cursor/hooks.json', '.cursor/mcp.json', '.mcp.json'], 'no AGENTS.md section with client hooks (read into every request)');
  for (const [f, text] of Object.entries(files)) t.notMatch(text, token, `${f} holds no token`);
  t.same(readJson(dir, '.mcp.json').mcpServers.koor.headers, { Authorization: 'Bearer ${KOOR_TOKEN}' }, "Claude Code's .mcp.json expansion");
  t.same(readJson(dir, '.cursor/mcp.json').mcpServers.koor.headers, { Authorization: 'Bearer ${env:KOOR_TOKEN}' }, "Cursor's mcp.json interpolation");
  t.equal(fs.statSync(path.join(dir, '.mcp.json')).mode & 0o777, 0o644, 'nothing secret: an ordinary file');
});

t.test('init --cursor and --codex: their hook files, merged with the user hooks, and removed again', async (t) => {
  const dir = repo(t);
  fs.mkdirSync(path.join(dir, '.cursor'));
  fs.mkdirSync(path.join(dir, '.codex'));
  const cursorUser = JSON.stringify({ version: 1, hooks: { afterFileEdit: [{ command: './hooks/format.sh' }], stop: [{ command: './hooks/audit.sh' }] } }, null, 2) + '\n';
  const codexUser = JSON.stringify({ description: 'team hooks', hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'python3 guard.py' }] }] } }, null, 2) + '\n';
  fs.writeFileSync(path.join(dir, '.cursor', 'hooks.json'), cursorUser);
  fs.writeFileSync(path.join(dir, '.codex', 'hooks.json'), codexUser);

  const r = await runCli(['init', '--cursor', '--codex'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^updated \.cursor\/hooks\.json\nupdated \.codex\/hooks\.json\nproject: /m);
  t.notOk(exists(dir, '.claude'), 'no Claude Code settings without --claude-code');

  const bridge = { command: 'koor-hook cursor' };
  t.same(readJson(dir, '.cursor/hooks.json'), {
    version: 1,
    hooks: {
      afterFileEdit: [{ command: './hooks/format.sh' }],
      stop: [{ command: './hooks/audit.sh' }, bridge],
      sessionStart: [bridge],
      preToolUse: [bridge],
      postToolUse: [bridge],
      sessionEnd: [bridge],
    },
  });
  const codex = { type: 'command', command: 'koor-hook codex', timeout: 10 };
  t.same(readJson(dir, '.codex/hooks.json'), {
    description: 'team hooks',
    hooks: {
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'python3 guard.py' }] }, { matcher: 'apply_patch|Edit|Write|Bash', hooks: [codex] }],
      SessionStart: [{ hooks: [codex] }],
      UserPromptSubmit: [{ hooks: [codex] }],
      PostToolUse: [{ hooks: [codex] }],
      Stop: [{ hooks: [codex] }],
      SessionEnd: [{ hooks: [{ ...codex, timeout: 3 }] }],
    },
  });
  t.notMatch(read(dir, '.codex/hooks.json'), /\$schema|version/, 'nothing added at the root');

  const before = snapshot(dir);
  const again = await runCli(['init', '--cursor', '--codex'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(again.code, 0);
  t.same(snapshot(dir), before, 'rerun: byte-identical');

  const rm = await runCli(['init', '--remove', '--cursor', '--codex'], { cwd: dir });
  t.equal(rm.code, 0, rm.stderr);
  t.equal(read(dir, '.cursor/hooks.json'), cursorUser);
  t.equal(read(dir, '.codex/hooks.json'), codexUser);
});

t.test('init --remove alone takes out everything init wrote, and the files and directories Koor created with it', async (t) => {
  const dir = repo(t);
  fs.writeFileSync(path.join(dir, 'AGENTS.md'), '# Rules\n\nUse tabs.\n');
  const mcpUser = JSON.stringify({ mcpServers: { github: { command: 'gh-mcp' } } }, null, 2) + '\n';
  fs.writeFileSync(path.join(dir, '.mcp.json'), mcpUser);
  const before = snapshot(dir);
  const r = await runCli(['init', '--claude-code', '--cursor', '--codex', '--hooks'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  t.ok(exists(dir, '.git/hooks/pre-commit'));

  const rm = await runCli(['init', '--remove'], { cwd: dir });
  t.equal(rm.code, 0, rm.stderr);
  t.equal(
    rm.stdout,
    [
      'updated .mcp.json',
      'removed .cursor/mcp.json',
      'unchanged AGENTS.md',
      'removed .git/hooks/pre-commit',
      'removed .claude/settings.json',
      'removed .claude/settings.local.json',
      'removed .cursor/hooks.json',
      'removed .codex/hooks.json',
      '',
    ].join('\n'),
  );
  t.same(snapshot(dir), before, 'the workspace as it was: user files restored, Koor-created ones gone');
  for (const d of ['.claude', '.cursor', '.codex']) t.notOk(exists(dir, d), `${d}/ removed (Koor made it)`);
  t.ok(exists(dir, '.git/hooks'), 'git hooks directory left alone');

  const nothing = await runCli(['init', '--remove'], { cwd: dir });
  t.equal(nothing.code, 0, nothing.stderr);
  t.equal(nothing.stdout, 'unchanged .mcp.json\nunchanged AGENTS.md\n', 'nothing left to remove');
});

t.test('init --copilot --gemini --opencode --kilo: each says the step it leaves to the user; --remove takes the files and the directories init made', async (t) => {
  const dir = repo(t);
  const before = snapshot(dir);
  const r = await runCli(['init', '--copilot', '--gemini', '--opencode', '--kilo'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  for (const f of ['.github/hooks/koor.json', '.gemini/settings.json', '.opencode/plugins/koor.js', '.kilo/plugins/koor.js']) t.match(r.stdout, `created ${f}\n`, `says it wrote ${f}`);
  t.match(r.stderr, /note: Copilot CLI runs \.github\/hooks only in a trusted folder/, "Copilot's trust step, said");
  t.match(r.stderr, /note: Gemini CLI runs a project's hooks only in a trusted folder/, "Gemini's trust step, said");
  t.match(r.stderr, /note: OpenCode installs its plugin package/, "OpenCode's first start, said");
  const rm = await runCli(['init', '--remove', '--copilot', '--gemini', '--opencode', '--kilo'], { cwd: dir });
  t.equal(rm.code, 0, rm.stderr);
  const { ['.mcp.json']: mcp, ['.cursor/mcp.json']: cursorMcp, ...rest } = snapshot(dir);
  t.ok(mcp && cursorMcp, 'the MCP configs stay (--remove without a client flag takes them)');
  t.same(rest, before, "the clients' files init wrote are gone");
  for (const d of ['.github', '.gemini', '.opencode', '.kilo']) t.notOk(exists(dir, d), `${d}/ removed (init made it)`);
});

t.test('a hook file that is not valid JSON is refused and nothing is written', async (t) => {
  const dir = repo(t);
  fs.mkdirSync(path.join(dir, '.claude'));
  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), '{"hooks": ');
  const r = await runCli(['init', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 1);
  t.match(r.stderr, /^error: invalid JSON in \.claude\/settings\.json: .*; not touching it\n$/);
  t.same(Object.keys(snapshot(dir)), ['.claude/settings.json'], 'not even .mcp.json: every check before any write');

  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), '{"hooks": {"Stop": {"oops": 1}}}');
  const list = await runCli(['init', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(list.code, 1);
  t.match(list.stderr, /^error: "hooks\.Stop" in \.claude\/settings\.json is not a list; not touching it\n$/);
});

t.test('outside a git repository the current directory is the root', async (t) => {
  const dir = fs.realpathSync(tempDir(t));
  const r = await runCli(['init', '--claude-code'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.equal(r.code, 0, r.stderr);
  t.same(readJson(dir, '.claude/settings.local.json'), { env: { KOOR_REPO_ROOT: dir } });
  t.notMatch(r.stdout, /exclude/, 'no git: no exclude file');
});

t.test('init --trust: only with --codex, and only with a codex on PATH, checked before anything is written', async (t) => {
  const dir = repo(t);
  const alone = await runCli(['init', '--claude-code', '--trust'], { cwd: dir, env: { KOOR_SERVER: SERVER } });
  t.same([alone.code, alone.stdout], [1, '']);
  t.match(alone.stderr, /--trust goes with --codex/);
  const none = await runCli(['init', '--codex', '--trust'], { cwd: dir, env: { KOOR_SERVER: SERVER, PATH: '/nonexistent' } });
  t.same([none.code, none.stdout], [1, '']);
  t.match(none.stderr, /--trust: no `codex` on PATH/);
  t.notOk(exists(dir, '.codex'), 'nothing written');
});
