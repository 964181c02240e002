/**
 * The settings `koor-cli init --claude-code` writes are accepted by the real Claude Code client
 * (the pinned release, offline: test/helpers/claude-code.ts) and every hook fires: the HTTP hooks
 * of UserPromptSubmit, PreToolUse, PostToolUse, PostToolUseFailure (a shell command that failed),
 * Stop and SessionEnd reach the URL the installer
 * wrote with `Authorization: Bearer <$KOOR_TOKEN>` and X-Koor-Repo-Root from
 * .claude/settings.local.json, and the SessionStart command hook runs `koor-hook claude-code`,
 * which posts SessionStart the same way. The peer is a node:http recorder: this checks the
 * installer's output against the client, not Koor's endpoint (that end-to-end test comes with it).
 * The client also expands .mcp.json's `Bearer ${KOOR_TOKEN}` when it connects to the MCP server.
 * `koor-cli` is the built CLI, first on the client's PATH through a shim that logs each call; the
 * shim ends `koor-cli wait --hook` at once (print mode runs that Stop hook synchronously).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { claudeCode, claudeTempDir, runClaude, startFakeApi } from '../helpers/claude-code.js';
import { CLI_JS, runCli } from '../cli/helpers.js';
import { koorBin } from '../helpers/koor-hooks.js';

const RUN_MS = 60_000;

interface Call {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

async function recorder(tt: { teardown(fn: () => unknown): void }) {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = null;
      }
      calls.push({ url: req.url ?? '', headers: req.headers, body });
      if ((req.url ?? '').startsWith('/api/hooks/')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not here"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tt.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls };
}

const cc = claudeCode();
if ('skip' in cc) t.plan(0, cc.skip);
else {
  t.test("init --claude-code's settings: accepted by the real client, every hook fires with the token and the repository root", async (t) => {
    const project = fs.realpathSync(claudeTempDir(t, 'koor-cc-init-'));
    execFileSync('git', ['init', '-q', project]);
    // Its origin remote names its project, whatever the folder is called.
    execFileSync('git', ['-C', project, 'remote', 'add', 'origin', 'git@github.com:Acme/Shop.git']);
    const peer = await recorder(t);

    // The installer, as a user runs it (the server saved in the CLI config of the project, the token in the environment).
    const init = await runCli(['init', '--claude-code', '--server', peer.url], { cwd: project, env: { KOOR_TOKEN: 'tok-init-e2e' } });
    t.equal(init.code, 0, init.stderr);
    t.match(init.stdout, /^created \.claude\/settings\.json$/m);
    t.match(init.stdout, /^project: acme\.shop \(from the origin remote git@github\.com:Acme\/Shop\.git\)$/m);
    // The user approves the project's MCP servers (print mode has nobody to ask), beside what init wrote.
    const localFile = path.join(project, '.claude', 'settings.local.json');
    // And lets it run the one shell command the model asks for (which fails: PostToolUseFailure).
    fs.writeFileSync(localFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(localFile, 'utf8')), enableAllProjectMcpServers: true, permissions: { allow: ['Bash(false)'] } }));

    // koor-cli on the client's PATH: the built CLI behind a shim that logs its arguments.
    const bin = claudeTempDir(t, 'koor-cc-bin-');
    const log = path.join(bin, 'calls.log');
    koorBin(
      bin,
      `#!/bin/sh
echo "$*" >> '${log}'
if [ "$1" = wait ]; then exit 0; fi
KOOR_HOOK_IDLE_S=5 exec '${process.execPath}' '${CLI_JS}' "$@"
`,
    );

    const file = path.join(project, 'hello.txt');
    const api = await startFakeApi(t, [{ tool: 'Write', input: { file_path: file, content: 'hi\n' } }, { tool: 'Bash', input: { command: 'false', description: 'Fail' } }, 'Written.']);
    const r = await runClaude({
      cwd: project,
      prompt: 'Write hello.txt',
      api,
      env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, KOOR_TOKEN: 'tok-init-e2e', KOOR_AGENT_NAME: 'alice' },
      timeoutMs: RUN_MS,
    });
    t.equal(r.code, 0, r.stderr);
    t.equal(fs.readFileSync(file, 'utf8'), 'hi\n', 'the recorder answered {}: the edit went ahead');

    const hooks = peer.calls.filter((c) => c.url === '/api/hooks/claude-code');
    const events = hooks.map((c) => c.body?.hook_event_name);
    t.same(events, ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PreToolUse', 'PostToolUseFailure', 'Stop', 'SessionEnd'], 'every hook, in order');
    t.match(hooks[5]!.body, { tool_name: 'Bash', tool_input: { command: 'false' } }, 'the failed shell command ends through its own hook');
    for (const c of hooks) {
      const ev = c.body?.hook_event_name;
      t.equal(c.headers.authorization, 'Bearer tok-init-e2e', `${ev}: the token from $KOOR_TOKEN`);
      t.equal(c.headers['x-koor-repo-root'], project, `${ev}: the repository root from settings.local.json`);
      t.equal(c.headers['x-koor-agent-name'], 'alice', `${ev}: the agent name`);
      t.equal(c.body?.session_id, r.sessionId, `${ev}: this session`);
    }
    t.match(hooks[2]!.body, { tool_name: 'Write', tool_input: { file_path: file } }, 'PreToolUse: the edit');
    t.equal(hooks[0]!.headers['user-agent'], 'koor-cli', 'SessionStart came through the bridge (a command hook)');
    t.match(hooks[1]!.headers['user-agent'], /axios/, 'the others are the client\'s own HTTP hooks');
    t.equal(hooks[1]!.headers['x-koor-project'], '', 'an unset variable interpolates to empty');
    t.equal(hooks[0]!.headers['x-koor-project'], 'acme.shop', "the bridge: the repository's project");
    for (const c of hooks.slice(1)) t.equal(c.headers['x-koor-repository'], 'acme.shop', `${c.body?.hook_event_name}: the repository's project, as init wrote it`);

    const mcp = peer.calls.filter((c) => c.url === '/mcp');
    t.ok(mcp.length > 0, 'the client connected to the MCP server of .mcp.json');
    for (const c of mcp) t.equal(c.headers.authorization, 'Bearer tok-init-e2e', ".mcp.json's Bearer ${KOOR_TOKEN} expanded by the client");

    const shimCalls = fs.readFileSync(log, 'utf8').trim().split('\n');
    t.equal(shimCalls.length, 2, 'two koor-cli runs');
    t.match(shimCalls[0], /^hook claude-code --helper \/\S+koor-hook-\d+-\S+$/, "SessionStart: koor-hook found no helper yet, so koor-cli answered it and starts one");
    t.equal(shimCalls[1], 'wait --hook', 'the Stop wake-up ran');
    t.notMatch(fs.readFileSync(path.join(project, '.claude', 'settings.json'), 'utf8'), /tok-init-e2e/);
  });
}
