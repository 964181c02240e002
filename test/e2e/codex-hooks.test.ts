/**
 * Koor's Codex hooks end to end, with the real client (pinned, `codex exec` offline
 * against the scripted fake Responses API; test/helpers/codex.ts), the real Claude Code client
 * beside it (test/helpers/claude-code.ts) and a real Koor server; the hooks as `koor-cli init
 * --codex` / `--claude-code` write them, each run in its own clone of the repository `shop`, and
 * `koor-cli` on the clients' PATH. A Codex user's one-time step (trust the project and review its
 * hooks) is `koor-cli init --codex --trust`, each Codex session with its own HOME.
 *
 * - Codex runs the installed hooks only once the project and its hooks are trusted, which
 *   `init --codex --trust` does (through Codex's app server, as the interactive client does).
 * - Codex and Claude Code in two clones: each is refused an edit of a file the other holds (Codex's
 *   whole `apply_patch` when one of its files is held, file unchanged, the reason in the tool
 *   output the model reads), each session's agent lives while its session does, and its end
 *   (SessionEnd) frees its leases.
 * - A message to the Codex session's agent reaches its next request to the model, and no other
 *   session's; a quiet Codex session's requests carry no Koor text.
 * Skips with the reason when a client could not be installed (`npm run test:setup`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { claudeCode, claudeTempDir, requestText, runClaude, startFakeApi as startClaudeApi, toolResults } from '../helpers/claude-code.js';
import { codex, codexRequestText, codexToolOutputs, developerNotes, listCodexHooks, runCodex, startCodexApi, type FakeApi } from '../helpers/codex.js';
import { installHooks } from '../helpers/koor-hooks.js';
import { CLI_JS } from '../cli/helpers.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** One run of a client; far above the ~1–2 s it takes. */
const RUN_MS = 60_000;

let BIN = '';
let PATH = '';

/** `codex` on PATH for `koor-cli init --codex --trust` (the pinned client's directory). */
const CODEX_PATH = (bin: string) => `${path.dirname(bin)}:${process.env.PATH ?? '/usr/bin:/bin'}`;

/**
 * A clone of `shop` at `<dir>/shop` with `src/app.ts`, the client's hooks installed by `koor-cli
 * init --<client>`; for Codex with `--trust` into `home` (HOME of the sessions) when one is given.
 */
function clone(dir: string, url: string, client: 'claude-code' | 'codex', home?: string, more: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): string {
  const root = path.join(fs.realpathSync(dir), 'shop');
  fs.mkdirSync(path.join(root, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q', root]);
  fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
  const trust = home === undefined ? {} : { args: ['--trust', ...(more.args ?? [])], env: { HOME: home, PATH: CODEX_PATH(CODEX_BIN), ...more.env } };
  PATH = installHooks(root, url, BIN, client, trust).PATH;
  return root;
}

/** A Codex clone and the HOME its sessions run with, the project and Koor's hooks trusted by `init --codex --trust`. */
function codexClone(tt: { teardown(fn: () => unknown): void }, url: string): { root: string; home: string } {
  const home = claudeTempDir(tt, 'koor-cx-home-');
  return { root: clone(claudeTempDir(tt), url, 'codex', home), home };
}

/** A patch for Codex's apply_patch tool: each file's whole new content (an update replaces the one line `from`). */
const update = (file: string, from: string, to: string): string => `*** Update File: ${file}\n@@\n-${from}\n+${to}\n`;
const add = (file: string, text: string): string => `*** Add File: ${file}\n+${text}\n`;
const patch = (...hunks: string[]): { patch: string } => ({ patch: `*** Begin Patch\n${hunks.join('')}*** End Patch\n` });

const leases = async (url: string) => (await (await fetch(`${url}/api/leases`)).json()) as Array<{ holder_name: string; resources: string[] }>;
const instances = async (url: string, name?: string) => (await (await fetch(`${url}/api/instances${name ? `?name=${name}` : ''}`)).json()) as Array<{ name: string; status: string }>;
/** Every text the model was sent in a Codex session's requests. */
const sent = (api: FakeApi): string => api.agentRequests().map(codexRequestText).join('\n');

const cx = codex();
const cc = claudeCode();
let CODEX_BIN = '';
if ('skip' in cx) t.plan(0, cx.skip);
else {
  BIN = claudeTempDir(t, 'koor-cx-bin-');
  CODEX_BIN = cx.path;

  t.test('init --codex: Codex runs its six hooks only once the project and the hooks are trusted, which init --codex --trust does', async (t) => {
    const s = await startTestServer(t);
    const root = clone(claudeTempDir(t), s.url, 'codex');
    const home = claudeTempDir(t, 'koor-cx-home-');
    t.same((await listCodexHooks(home, root)).hooks, [], 'an untrusted project: its .codex/hooks.json is not loaded at all');
    const api = await startCodexApi(t, [patch(update('src/app.ts', 'export const app = 1;', 'export const app = 2;'))]);
    const r0 = await runCodex({ cwd: root, home, prompt: 'Change src/app.ts', api, env: { PATH, KOOR_AGENT_NAME: 'untrusted' }, timeoutMs: RUN_MS });
    t.equal(r0.code, 0, 'the client exits 0', { stderr: r0.stderr });
    t.same(await instances(s.url), [], 'its hooks never called Koor');
    t.equal(fs.readFileSync(path.join(root, 'src', 'app.ts'), 'utf8'), 'export const app = 2;\n', 'the edit itself ran');

    // The user's one-time step: init again with --trust (the files unchanged, the trust recorded in HOME's config).
    const again = installHooks(root, s.url, BIN, 'codex', { args: ['--trust'], env: { HOME: home, PATH: CODEX_PATH(CODEX_BIN) } });
    t.match(again.stdout, /^unchanged \.codex\/hooks\.json$/m, 'the hooks file as it was');
    t.match(again.stdout, new RegExp(`^trusted \\. and 6 Koor hooks in Codex \\(${home}/\\.codex/config\\.toml\\)$`, 'm'));
    const { hooks } = await listCodexHooks(home, root);
    t.same(
      hooks.map((h) => [h.eventName, h.matcher, h.command, h.trustStatus]).sort(),
      [
        ['postToolUse', null, 'koor-hook codex', 'trusted'],
        ['preToolUse', 'apply_patch|Edit|Write|Bash', 'koor-hook codex', 'trusted'],
        ['sessionEnd', null, 'koor-hook codex', 'trusted'],
        ['sessionStart', null, 'koor-hook codex', 'trusted'],
        ['stop', null, 'koor-hook codex', 'trusted'],
        ['userPromptSubmit', null, 'koor-hook codex', 'trusted'],
      ],
      'Codex lists the six hooks, trusted',
    );
    t.same((await listCodexHooks(home, root)).warnings, [], 'loaded without a warning (SessionEnd within its 3 s cap)');
    let during: Array<{ name: string; status: string }> = [];
    const api2 = await startCodexApi(t, async (_req, turn) => {
      if (turn === 1) during = await instances(s.url, 'trusted');
      return turn === 0 ? patch(update('src/app.ts', 'export const app = 2;', 'export const app = 3;')) : 'Done.';
    });
    const r = await runCodex({ cwd: root, home, prompt: 'Change src/app.ts', api: api2, env: { PATH, KOOR_AGENT_NAME: 'trusted' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    t.match(during, [{ name: 'trusted', status: 'active' }], 'trusted: the session bound its agent, alive while it works');
    t.same(await instances(s.url), [], 'and its end (SessionEnd) deregistered it');
    t.same(await leases(s.url), [], 'with its auto-lease');
  });

  if ('skip' in cc) t.skip(`Codex beside Claude Code: ${cc.skip}`);
  else
    t.test('Codex and Claude Code in two clones: each refused the file the other holds, free again when the holder’s session ends', async (t) => {
      const s = await startTestServer(t);
      const a = clone(claudeTempDir(t), s.url, 'claude-code');
      const { root: b, home: homeB } = codexClone(t, s.url);
      const target = 'src/app.ts';
      const read = (root: string, rel = target) => fs.readFileSync(path.join(root, rel), 'utf8');

      // Claude Code A: its first turn writes the file; the fake model answers its next request only at endA, so the session lasts till then.
      let endA: () => void = () => {};
      const closeA = new Promise<void>((r) => (endA = r));
      const apiA = await startClaudeApi(t, async (_req, turn) => {
        if (turn === 0) return { tool: 'Write', input: { file_path: path.join(a, target), content: 'export const app = "A";\n' } };
        await closeA;
        return 'A wrote it.';
      });
      const runA = runClaude({ cwd: a, prompt: 'Update src/app.ts', api: apiA, env: { PATH, KOOR_AGENT_NAME: 'claude-a' }, timeoutMs: RUN_MS });
      await waitUntil('A wrote src/app.ts', () => read(a) === 'export const app = "A";\n', 30_000);
      t.match(await leases(s.url), [{ holder_name: 'claude-a', resources: [target] }], "A's edit leased the file to A");

      // Codex B, in the other clone: one patch touching the held file and a new one, refused whole.
      const apiB = await startCodexApi(t, [patch(add('src/new.ts', 'export {};'), update(target, 'export const app = 1;', 'export const app = "B";')), 'I will wait.']);
      const rB = await runCodex({ cwd: b, home: homeB, prompt: 'Update src/app.ts', api: apiB, env: { PATH, KOOR_AGENT_NAME: 'codex-b' }, timeoutMs: RUN_MS });
      t.equal(rB.code, 0, 'the client exits 0', { stderr: rB.stderr });
      t.equal(read(b), 'export const app = 1;\n', "B's file is unchanged");
      t.notOk(fs.existsSync(path.join(b, 'src', 'new.ts')), 'and no other file of the patch was written');
      t.match(await leases(s.url), [{ holder_name: 'claude-a', resources: [target] }], 'nor leased to B (the held file was asked about first)');
      t.equal((await leases(s.url)).length, 1);
      const [denial] = codexToolOutputs(apiB.agentRequests()[1]!);
      t.match(denial, { type: 'custom_tool_call_output', text: /^Command blocked by PreToolUse hook: Koor: src\/app\.ts is leased by agent claude-a since .*koor-cli send claude-a/ }, 'the model reads who holds it and how to reach them');

      // A's session ends: its lease goes.
      t.notOk(await Promise.race([runA.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]), 'A was alive while B was refused');
      endA();
      const rA = await runA;
      t.equal(rA.code, 0, 'the client exits 0', { stderr: rA.stderr });
      t.same(await leases(s.url), [], "A's session end released its lease");

      // Codex B edits the file now and holds it while its session lasts (the fake model answers its next request late).
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      let heldNow: () => void = () => {};
      const holding = new Promise<void>((r) => (heldNow = r));
      const apiB2 = await startCodexApi(t, async (_req, turn) => {
        if (turn === 0) return patch(update(target, 'export const app = 1;', 'export const app = "B";'));
        if (turn === 1) {
          heldNow();
          await held;
        }
        return 'Done.';
      });
      const runB2 = runCodex({ cwd: b, home: homeB, prompt: 'Update src/app.ts again', api: apiB2, env: { PATH, KOOR_AGENT_NAME: 'codex-b' }, timeoutMs: RUN_MS });
      await holding;
      t.equal(read(b), 'export const app = "B";\n', 'now B writes it');
      t.match(await leases(s.url), [{ holder_name: 'codex-b', resources: [target] }], "B's apply_patch leased the file to B");
      t.match(await instances(s.url, 'codex-b'), [{ status: 'active' }], "B's agent is alive while its session works");

      // Claude Code C, in A's clone, while B holds the file: refused, naming B.
      const apiC = await startClaudeApi(t, [{ tool: 'Write', input: { file_path: path.join(a, target), content: 'export const app = "C";\n' } }, 'I will wait.']);
      const rC = await runClaude({ cwd: a, prompt: 'Update src/app.ts', api: apiC, env: { PATH, KOOR_AGENT_NAME: 'claude-c' }, timeoutMs: RUN_MS });
      t.equal(rC.code, 0, 'the client exits 0', { stderr: rC.stderr });
      t.equal(read(a), 'export const app = "A";\n', "C's file is unchanged");
      t.match(toolResults(apiC.agentRequests()[1]!)[0], { is_error: true, text: /^PreToolUse:Write hook error: Koor: src\/app\.ts is leased by agent codex-b since .*koor-cli send codex-b/ });

      // B's session ends (SessionEnd): its lease and its agent go, and C's next edit succeeds.
      release();
      const rB2 = await runB2;
      t.equal(rB2.code, 0, 'the client exits 0', { stderr: rB2.stderr });
      t.same(await leases(s.url), [], "B's session end released its lease");
      t.same(await instances(s.url, 'codex-b'), [], "and deregistered B's agent");
      const apiC2 = await startClaudeApi(t, [{ tool: 'Write', input: { file_path: path.join(a, target), content: 'export const app = "C";\n' } }, 'Done.']);
      const rC2 = await runClaude({ cwd: a, prompt: 'Update src/app.ts again', api: apiC2, env: { PATH, KOOR_AGENT_NAME: 'claude-c' }, timeoutMs: RUN_MS });
      t.equal(rC2.code, 0, 'the client exits 0', { stderr: rC2.stderr });
      t.equal(read(a), 'export const app = "C";\n', 'now C writes it');
    });

  t.test('a message to the Codex session’s agent reaches its next request to the model, and no other session’s; a quiet session sees no Koor text', async (t) => {
    const s = await startTestServer(t);
    const { root: b, home: homeB } = codexClone(t, s.url);
    const { root: c, home: homeC } = codexClone(t, s.url);
    const body = 'the users contract changed, please regenerate the client';
    let sentMessage: Promise<unknown> | null = null;
    const apiB = await startCodexApi(t, async (_req, turn) => {
      if (turn === 0) {
        // The message arrives while B is at work: B's next request carries it.
        sentMessage = fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['codex-b'], subject: 'users contract', body }) });
        await sentMessage;
        return patch(add('src/client.ts', 'export {};'));
      }
      // The model reads it with koor-cli, as its agent (CODEX_SESSION_ID), from Codex's shell tool
      // (a login shell: /etc/profile sets PATH, so the test's shim is named by its path).
      return turn === 1 ? { shell: `${path.join(BIN, 'koor-cli')} inbox` } : 'Regenerating.';
    });
    const apiC = await startCodexApi(t, [patch(add('src/other.ts', 'export {};')), 'Done.']);
    const [rB, rC] = await Promise.all([
      // The workspace-write sandbox cuts its commands off the network, loopback included: koor-cli needs network_access.
      runCodex({ cwd: b, home: homeB, prompt: 'Work on the client', api: apiB, env: { PATH, KOOR_AGENT_NAME: 'codex-b' }, args: ['-c', 'sandbox_workspace_write.network_access=true'], timeoutMs: RUN_MS }),
      runCodex({ cwd: c, home: homeC, prompt: 'Work on other things', api: apiC, env: { PATH, KOOR_AGENT_NAME: 'codex-c' }, timeoutMs: RUN_MS }),
    ]);
    t.equal(rB.code, 0, 'the client exits 0', { stderr: rB.stderr });
    t.equal(rC.code, 0, 'the client exits 0', { stderr: rC.stderr });
    t.ok(sentMessage, 'the message was sent during B’s session');
    const requests = apiB.agentRequests();
    t.notMatch(codexRequestText(requests[0]!), /users contract/, 'not before it was sent');
    const notes = developerNotes(requests[1]!);
    t.ok(
      notes.some((n) => /^Koor:\n- 1 new message: human: "users contract" \(#\d+\)\. Read: koor-cli inbox/.test(n)),
      'in the next request, as a developer message (PostToolUse additionalContext)',
      { found: notes },
    );
    t.notMatch(sent(apiC), /users contract/, 'no other session sees it');
    const [inbox] = codexToolOutputs(requests[2]!).slice(-1);
    t.match(inbox?.text, /users contract[\s\S]*regenerate the client/, "`koor-cli inbox` in Codex's shell reads it as the session's agent");

    // A session alone, with nothing going on: not one Koor word reaches its model.
    const quiet = await startTestServer(t);
    const { root: q, home: homeQ } = codexClone(t, quiet.url);
    const apiQ = await startCodexApi(t, [patch(update('src/app.ts', 'export const app = 1;', 'export const app = 2;')), 'Done.']);
    const rQ = await runCodex({ cwd: q, home: homeQ, prompt: 'Change src/app.ts', api: apiQ, env: { PATH }, timeoutMs: RUN_MS });
    t.equal(rQ.code, 0, 'the client exits 0', { stderr: rQ.stderr });
    t.equal(apiQ.agentRequests().length, 2);
    t.same(apiQ.agentRequests().flatMap(developerNotes), [], 'no hook added a developer message');
    const koorText = sent(apiQ).match(/.{0,80}(Koor:|koor-cli).{0,80}/s);
    t.equal(koorText?.[0] ?? null, null, 'no Koor text in any request');
    t.equal(fs.readFileSync(path.join(q, 'src', 'app.ts'), 'utf8'), 'export const app = 2;\n');
    const audit = (await (await fetch(`${quiet.url}/api/audit?action=instance.register`)).json()) as Array<{ actor: string }>;
    t.match(audit, [{ actor: /^codex-shop-[0-9a-f]{8}$/ }], 'its agent was named for Codex (X-Koor-Client)');
    t.same(await instances(quiet.url), [], 'and is gone with its session');
  });

  t.test('a shell command running past the liveness timeout holds the Codex session’s agent busy till it exits, polled or not', async (t) => {
    const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
    const { root, home } = codexClone(t, s.url);
    // last_seen has 1-s precision: 2.5 s of silence is past a 1-s timeout whatever the rounding.
    const silent = () => new Promise((r) => setTimeout(r, 2500));
    const statusAfterCheck = async () => {
      await fetch(`${s.url}/api/liveness/check`, { method: 'POST' });
      return (await instances(s.url, 'codex-build'))[0]?.status;
    };
    const seen: Array<string | undefined> = [];
    let polled = '';
    const api = await startCodexApi(t, async (req, turn) => {
      if (turn === 0) return { call: 'exec_command', arguments: { cmd: 'sleep 4; echo built', yield_time_ms: 500 } };
      if (turn === 1) {
        // The command still runs (Codex yielded after 0.5 s): the model is silent, no hook comes.
        polled = codexToolOutputs(req).at(-1)?.text ?? '';
        await silent();
        seen.push(await statusAfterCheck());
        const id = /session ID (\d+)/.exec(polled)?.[1];
        return { call: 'write_stdin', arguments: { session_id: Number(id), chars: '', yield_time_ms: 10_000 } };
      }
      if (turn === 2) {
        // It exited (its PostToolUse came then): the same silence now makes the agent stale.
        await silent();
        seen.push(await statusAfterCheck());
      }
      return 'Done.';
    });
    const r = await runCodex({ cwd: root, home, prompt: 'Build it', api, env: { PATH, KOOR_AGENT_NAME: 'codex-build' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    t.match(polled, /Process running with session ID \d+/, 'Codex returned to the model while the command ran (it then polled it with write_stdin)');
    t.match(codexToolOutputs(api.agentRequests()[2]!).at(-1)?.text, /Process exited with code 0[\s\S]*built/, 'the poll saw it exit');
    t.same(seen, ['active', 'stale'], 'past the timeout while it ran: not stale; once it exited: stale');
  });

  t.test("Codex's own telemetry, turned on by init --codex --telemetry: each request to the model recorded once, as the agent its hooks bound", async (t) => {
    const TOKEN = 'tok-codex-telemetry';
    const s = await startTestServer(t, { authToken: TOKEN });
    const home = claudeTempDir(t, 'koor-cx-home-');
    const root = clone(claudeTempDir(t), s.url, 'codex', home, { args: ['--telemetry'], env: { KOOR_TOKEN: TOKEN } });
    const config = fs.readFileSync(path.join(home, '.codex', 'config.toml'), 'utf8');
    t.match(config, `[otel.exporter.otlp-http]\nendpoint = "${s.url}/v1/logs"\nprotocol = "json"\n\n[otel.exporter.otlp-http.headers]\nauthorization = "Bearer ${TOKEN}"\n`, "Codex wrote the exporter into the user's config");
    const api = await startCodexApi(t, [patch(add('hello.txt', 'hi')), 'Written.']);
    const r = await runCodex({ cwd: root, home, prompt: 'Write hello.txt', api, env: { PATH, KOOR_TOKEN: TOKEN, KOOR_AGENT_NAME: 'alice' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr });
    const asked = api.agentRequests().length;
    t.equal(asked, 2, 'the session asked the model twice');
    const auth = { authorization: `Bearer ${TOKEN}` };
    const records = await waitUntil('the telemetry of the session recorded', async () => {
      const list = ((await (await fetch(`${s.url}/api/llm/usage?limit=100`, { headers: auth })).json()) as any[]).filter((x) => x.session_id === r.sessionId);
      return list.length >= asked ? list : false;
    }, 30_000);
    t.equal(records.length, asked, 'each request once');
    const audit = (await (await fetch(`${s.url}/api/audit?action=instance.register`, { headers: auth })).json()) as any[];
    const agent = audit.find((a) => a.actor === 'alice')?.resource;
    t.ok(agent, 'the hooks registered alice');
    for (const x of records) t.match(x, { instance_id: agent, project: 'shop', provider: 'openai', model: 'gpt-5.5', tokens_in: 8, cache_read_tokens: 2, tokens_out: 5, request_type: 'codex' }, `request ${x.id}: alice's, with the client's tokens`);

    // init --remove --codex takes the exporter out again (and the hooks file), the rest of the config kept.
    const out = execFileSync(process.execPath, [CLI_JS, 'init', '--remove', '--codex', '--server', s.url], { cwd: root, encoding: 'utf8', env: { ...process.env, HOME: home, PATH: CODEX_PATH(CODEX_BIN) } });
    t.match(out, /^removed \.codex\/hooks\.json$/m);
    t.match(out, new RegExp(`^removed Codex telemetry from ${home}/\\.codex/config\\.toml$`, 'm'));
    const after = fs.readFileSync(path.join(home, '.codex', 'config.toml'), 'utf8');
    t.notMatch(after, /otlp-http|Bearer/, 'no exporter, no token left');
    t.match(after, `[projects."${root}"]`, 'the rest stays');
  });
}
