/**
 * Koor's GitHub Copilot CLI hooks end to end, with the real client (pinned, `copilot -p` offline
 * against the scripted fake Chat Completions API; test/helpers/copilot.ts) and a real Koor server;
 * the hooks as `koor-cli init --copilot` writes them (.github/hooks/koor.json), in a clone of the
 * repository `shop`, `koor-cli` on the client's PATH.
 *
 * - Copilot runs a folder's hooks only once the folder is trusted (COPILOT_ALLOW_ALL=true here); a
 *   clone wired for Claude Code as well is heard once (Copilot refuses the .claude/settings.json
 *   whose HTTP hooks are not https).
 * - One session: its edit of a file another agent holds is refused before it happens and the model
 *   reads why; its edit of a free file leases the file to its agent; a message to that agent
 *   reaches its next request to the model; its own `koor-cli inbox` reads it as that agent; its end
 *   (SessionEnd) frees the lease and the agent.
 * - A quiet session: not one Koor word reaches its model. What a hook call costs the session.
 * Skips with the reason when the client could not be installed (`npm run test:setup`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { CLI_JS } from '../cli/helpers.js';
import { claudeTempDir } from '../helpers/claude-code.js';
import { chatRequestText, chatToolResults, copilot, hookTimings, runCopilot, startCopilotApi, type FakeApi } from '../helpers/copilot.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** One run of the client; far above the few seconds it takes. */
const RUN_MS = 60_000;

/**
 * Copilot names the session in its shell's environment as COPILOT_AGENT_SESSION_ID; koor-cli acts
 * as the session's agent when it reads that variable (cli/core/http.ts sessionAgent, beside
 * CLAUDE_CODE_SESSION_ID and CODEX_SESSION_ID).
 */

const cp = copilot();
if ('skip' in cp) t.plan(0, cp.skip);
else {
  const BIN = claudeTempDir(t, 'koor-cp-bin-');
  koorBin(BIN);
  /** `koor-cli` first on the client's PATH (hooks and shell commands alike). */
  const PATH = `${BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`;

  /** A clone of `shop` (src/app.ts, src/held.ts) wired by `koor-cli init <flags> --server <url>`, run as a user would. */
  const clone = (tt: { teardown(fn: () => unknown): void }, url: string, flags = ['--copilot']): string => {
    const root = path.join(fs.realpathSync(claudeTempDir(tt, 'koor-cp-')), 'shop');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q', root]);
    fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
    fs.writeFileSync(path.join(root, 'src', 'held.ts'), 'export const held = 1;\n');
    const out = execFileSync(process.execPath, [CLI_JS, 'init', ...flags, '--server', url], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH } });
    if (!/^created \.github\/hooks\/koor\.json$/m.test(out)) throw new Error(`init did not write the Copilot hooks:\n${out}`);
    return root;
  };
  const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
  const leases = async (url: string) => (await (await fetch(`${url}/api/leases`)).json()) as Array<{ holder_name: string; resources: string[] }>;
  const instances = async (url: string) => (await (await fetch(`${url}/api/instances`)).json()) as Array<{ id: string; name: string; status: string }>;
  const registered = async (url: string) => ((await (await fetch(`${url}/api/audit?action=instance.register`)).json()) as Array<{ actor: string }>).map((a) => a.actor);
  /** Every text the model was sent in a session. */
  const sent = (api: FakeApi): string => api.agentRequests().map(chatRequestText).join('\n');
  const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
  /**
   * A session's agent with no KOOR_AGENT_NAME is named for its client (the bridge's X-Koor-Client):
   * `copilot-<repository>-<id>`. The server counts a client it does not know as Claude Code.
   */
  const namedForCopilot = (tt: Test, name: string | undefined) =>
    tt.match(name, /^copilot-shop-[0-9a-f]{8}$/, 'named for Copilot');

  t.test('init --copilot: Copilot runs the hooks only in a trusted folder; wired for Claude Code too, it is heard once', async (t) => {
    const s = await startTestServer(t);
    const root = clone(t, s.url, ['--copilot', '--claude-code']);
    const edit = { name: 'edit', arguments: { path: 'src/app.ts', old_str: 'app = 1', new_str: 'app = 2' } };
    const api0 = await startCopilotApi(t, [edit, 'Done.']);
    const r0 = await runCopilot({ cwd: root, prompt: 'Change src/app.ts', api: api0, trust: false, env: { PATH, KOOR_AGENT_NAME: 'untrusted' }, timeoutMs: RUN_MS });
    t.equal(r0.code, 0, 'the client exits 0', { stderr: r0.stderr });
    t.equal(read(root, 'src/app.ts'), 'export const app = 2;\n', 'the edit ran (--allow-all-tools)');
    t.same(await registered(s.url), [], 'an untrusted folder: no hook of it called Koor');

    const api = await startCopilotApi(t, [{ ...edit, arguments: { ...edit.arguments, old_str: 'app = 2', new_str: 'app = 3' } }, 'Done.']);
    const r = await runCopilot({ cwd: root, prompt: 'Change src/app.ts', api, env: { PATH }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    t.equal(read(root, 'src/app.ts'), 'export const app = 3;\n');
    const names = await registered(s.url);
    t.equal(names.length, 1, 'trusted (COPILOT_ALLOW_ALL=true): its hooks bound one agent, once (not again through the Claude Code hooks)');
    namedForCopilot(t, names[0]);
    t.match(r.stderr, /\.claude\/settings\.json' could not be loaded: .*HTTP hooks with allowedEnvVars must use https:\/\//, 'Copilot refused the Claude Code settings (their HTTP hooks are not https), with a warning');
    t.same(await instances(s.url), [], 'its end (SessionEnd) deregistered it');
    t.same(await leases(s.url), [], 'and freed its auto-lease');
  });

  t.test('one session: a held file refused with the reason the model reads, a free one auto-leased, a message in its next request, its own koor-cli as its agent, all freed at its end', async (t) => {
    const s = await startTestServer(t);
    const root = clone(t, s.url);
    // Another agent of the repository holds src/held.ts.
    const bob = (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'bob', workspace: 'shop' }) })).json()) as { id: string };
    const lease = await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': bob.id }, body: JSON.stringify({ resources: ['src/held.ts'], reason: 'refactoring' }) });
    t.ok(lease.ok, 'bob leases src/held.ts');

    const body = 'the users contract changed, please regenerate the client';
    let during: { leases: unknown; agent: unknown } | null = null;
    const api = await startCopilotApi(t, async (_req, turn) => {
      switch (turn) {
        case 0:
          return { name: 'edit', arguments: { path: path.join(root, 'src', 'held.ts'), old_str: 'held = 1', new_str: 'held = 2' } };
        case 1:
          return { name: 'edit', arguments: { path: 'src/app.ts', old_str: 'app = 1', new_str: 'app = 2' } };
        case 2: {
          during = { leases: await leases(s.url), agent: (await instances(s.url)).find((i) => i.name === 'copilot-a') };
          // A message arrives while the session works: the next tool's PostToolUse hears it.
          const m = await fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['copilot-a'], subject: 'users contract', body }) });
          if (!m.ok) throw new Error(`message not sent: ${m.status}`);
          return { name: 'view', arguments: { path: path.join(root, 'src', 'app.ts') } };
        }
        case 3:
          // The model reads it with koor-cli, as its agent (COPILOT_AGENT_SESSION_ID names the session).
          return { name: 'bash', arguments: { command: 'koor-cli inbox', description: 'Read my Koor inbox' } };
        default:
          return 'Regenerating.';
      }
    });
    const r = await runCopilot({ cwd: root, prompt: 'Work on the client', api, env: { PATH, KOOR_AGENT_NAME: 'copilot-a' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    const reqs = api.agentRequests();
    t.equal(reqs.length, 5, 'five requests to the model');

    // SessionStart told it who holds what.
    t.match(chatRequestText(reqs[0]!), /Koor: you are agent copilot-a \(project shop\)\.[\s\S]*src\/held\.ts \(bob\)/, 'its first request: who it is and what others hold (SessionStart)');

    // (a) The held file: refused before the edit, the reason in the tool's result.
    t.equal(read(root, 'src/held.ts'), 'export const held = 1;\n', 'the held file is unchanged');
    t.match(
      chatToolResults(reqs[1]!).at(-1)?.text,
      /^Denied by preToolUse hook: Koor: src\/held\.ts is leased by agent bob since \d\d:\d\d UTC \("refactoring"\)\. Do not edit it now: .*koor-cli send bob/,
      'the model reads who holds it and how to reach them',
    );

    // (b) The free file: edited, leased to the session's agent while it works.
    t.equal(read(root, 'src/app.ts'), 'export const app = 2;\n', 'the free file is edited');
    const heldThen = ((during as { leases: Array<{ holder_name: string; resources: string[] }> } | null)?.leases ?? []).map((l) => [l.holder_name, l.resources]).sort();
    t.same(heldThen, [['bob', ['src/held.ts']], ['copilot-a', ['src/app.ts']]], 'its edit leased the file to the session’s agent');
    t.match(during, { agent: { status: 'active' } }, 'alive while it works');

    // (c) The message: in the next request, appended to the tool's result, in few tokens.
    const viewed = chatToolResults(reqs[3]!).at(-1)?.text ?? '';
    const added = /Additional guidance from postToolUse hooks:\n([\s\S]*)$/.exec(viewed)?.[1] ?? '';
    t.match(added, /^Koor:\n- 1 new message: human: "users contract" \(#\d+\)\. Read: koor-cli inbox/, 'the next request carries it (PostToolUse additionalContext)');
    t.ok(added.length < 300, `in few tokens (${added.length} characters)`);
    t.notMatch(chatRequestText(reqs[2]!), /users contract/, 'not before it was sent');

    // (d) The model's own koor-cli acts as its session's agent.
    t.match(chatToolResults(reqs[4]!).at(-1)?.text, /users contract[\s\S]*regenerate the client/, "`koor-cli inbox` in Copilot's shell reads it as the session's agent");

    // Its end frees what it held.
    t.same(
      (await leases(s.url)).map((l) => [l.holder_name, l.resources]),
      [['bob', ['src/held.ts']]],
      'its end (SessionEnd) released its lease; bob’s stays',
    );
    t.same((await instances(s.url)).map((i) => i.name), ['bob'], 'and deregistered its agent');
    const ms = hookTimings(r.log);
    t.comment(`hook calls in the session: ${ms.map((h) => `${h.hook} ${h.ms} ms`).join(', ')}`);
  });

  t.test("a quiet session: not one Koor word reaches its model; its telemetry records each request once, as the agent its hooks bound; what a hook call costs it against a no-op hook", async (t) => {
    const s = await startTestServer(t);
    const root = clone(t, s.url);
    const script = () => [
      { name: 'edit', arguments: { path: 'src/app.ts', old_str: 'app = 1', new_str: 'app = 2' } },
      { name: 'bash', arguments: { command: 'true', description: 'Check' } },
      'Done.',
    ];
    const api = await startCopilotApi(t, script());
    // Copilot's OpenTelemetry, as `init --copilot --telemetry` says to start it: traces to Koor.
    const r = await runCopilot({ cwd: root, prompt: 'Change src/app.ts', api, env: { PATH, OTEL_EXPORTER_OTLP_ENDPOINT: s.url }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    t.equal(api.agentRequests().length, 3);
    t.equal(read(root, 'src/app.ts'), 'export const app = 2;\n');
    const koorText = sent(api).match(/.{0,80}(Koor|koor-cli).{0,80}/s);
    t.equal(koorText?.[0] ?? null, null, 'no Koor text in any request');
    const names = await registered(s.url);
    t.equal(names.length, 1, 'yet its hooks bound an agent');
    namedForCopilot(t, names[0]);
    t.same(await instances(s.url), [], 'gone with its session');
    // Copilot flushes its spans at exit: a record per request to the model (its `chat` spans), its agent's, once.
    const records = await waitUntil('the telemetry of the session recorded', async () => {
      const list = ((await (await fetch(`${s.url}/api/llm/usage?limit=100`)).json()) as any[]).filter((x) => x.session_id === r.sessionId);
      return list.length >= 3 ? list : false;
    }, 30_000);
    t.equal(records.length, 3, 'each request once (not again from the span that sums the prompt)');
    const agent = ((await (await fetch(`${s.url}/api/audit?action=instance.register`)).json()) as Array<{ resource: string }>)[0]?.resource;
    for (const x of records) t.match(x, { instance_id: agent, project: 'shop', request_type: 'copilot' }, `request ${x.id}: the session's agent's`);
    t.ok(records.every((x) => x.tokens_in + x.cache_read_tokens > 0 && x.tokens_out > 0), "with the client's tokens");

    // The same session with a no-op command hook in place of Koor's, for what the hook costs.
    const hooks = JSON.parse(read(root, '.github/hooks/koor.json')) as { hooks: Record<string, Array<{ command: string }>> };
    for (const list of Object.values(hooks.hooks)) for (const h of list) h.command = 'cat > /dev/null';
    fs.writeFileSync(path.join(root, '.github', 'hooks', 'koor.json'), JSON.stringify(hooks));
    fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
    const noop = await runCopilot({ cwd: root, prompt: 'Change src/app.ts', api: await startCopilotApi(t, script()), env: { PATH }, timeoutMs: RUN_MS });
    t.equal(noop.code, 0, 'the client exits 0', { stderr: noop.stderr });
    const koorMs = hookTimings(r.log).map((h) => h.ms);
    const noopMs = hookTimings(noop.log).map((h) => h.ms);
    t.equal(koorMs.length, noopMs.length, `the same hook calls (${koorMs.length})`);
    t.ok(koorMs.length >= 7, 'each event heard');
    t.comment(`a hook call, p50 (max): Koor's ${p50(koorMs)} ms (${Math.max(...koorMs)}), a no-op command ${p50(noopMs)} ms (${Math.max(...noopMs)}); the run ${r.ms} ms against ${noop.ms} ms`);
  });
}
