/**
 * Koor's Gemini CLI hooks end to end, with the real client (pinned, headless `gemini -p` offline
 * against the scripted fake Gemini API; test/helpers/gemini.ts) and a real Koor server; the hooks
 * as `koor-cli init --gemini` writes them into a clone of the repository `shop`, `koor-cli` on the
 * client's PATH, each session with its own HOME.
 *
 * - An edit of a file another agent holds is refused before it happens, and the model reads who
 *   holds it (the next request's function response); SessionStart's orientation names the lease.
 * - The session's own edit of a free file leases it to its agent; its end (SessionEnd) frees it.
 * - A message to the session's agent reaches its next request in a few tokens; the turns after it
 *   carry nothing; the model's own `koor-cli inbox` reads it as the session's agent.
 * - A quiet session: not one Koor word reaches its model.
 * - What a hook call costs the agent: koor-hook and the Node bridge against a no-op command hook, as Gemini runs them.
 * Skips with the reason when the client could not be installed (`npm run test:setup`).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { claudeTempDir } from '../helpers/claude-code.js';
import { gemini, geminiHome, geminiRequestText, geminiToolResponses, hookContexts, runGemini, startGeminiApi, type FakeApi } from '../helpers/gemini.js';
import { CLI_JS } from '../cli/helpers.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** One run of the client; far above the ~5–10 s it takes. */
const RUN_MS = 90_000;

const leases = async (url: string) => (await (await fetch(`${url}/api/leases`)).json()) as Array<{ holder_name: string; resources: string[] }>;
const instances = async (url: string, name?: string) => (await (await fetch(`${url}/api/instances${name ? `?name=${name}` : ''}`)).json()) as Array<{ id: string; name: string; status: string }>;
/** Every text the model was sent in a session's requests. */
const sent = (api: FakeApi): string => api.agentRequests().map(geminiRequestText).join('\n');

/**
 * A clone of `shop` at `<dir>/shop` with `src/app.ts`, Koor's hooks installed by `koor-cli init
 * --gemini` (the built CLI, run in it); `koor-cli` for the client's PATH is a shim in `bin`.
 */
function clone(dir: string, url: string, bin: string, args: string[] = []): { root: string; PATH: string; init: string } {
  const root = path.join(fs.realpathSync(dir), 'shop');
  fs.mkdirSync(path.join(root, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q', root]);
  fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
  const init = execFileSync(process.execPath, [CLI_JS, 'init', '--gemini', '--server', url, ...args], { cwd: root, stdio: 'pipe', timeout: 30_000, encoding: 'utf8' });
  return { root, PATH: koorBin(bin), init };
}

const gm = gemini();
if ('skip' in gm) t.plan(0, gm.skip);
else {
  const BIN = claudeTempDir(t, 'koor-gm-bin-');

  t.test('a Gemini session: refused the file another agent holds, its own edit leased till its end, a message in its next request, its koor-cli as its agent', async (t) => {
    const s = await startTestServer(t);
    const { root, PATH, init } = clone(claudeTempDir(t), s.url, BIN);
    t.match(init, /^created \.gemini\/settings\.json$/m, 'init --gemini wrote the hooks');
    const home = geminiHome(claudeTempDir(t, 'koor-gm-home-'));
    const target = 'src/app.ts';
    const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

    // Another agent of the project holds src/app.ts (taken over HTTP).
    const bob = (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'bob', workspace: 'shop' }) })).json()) as { id: string };
    const held = await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': bob.id }, body: JSON.stringify({ resources: [target], reason: 'refactoring app' }) });
    t.ok(held.ok, 'bob leases src/app.ts');

    const body = 'the users contract changed, please regenerate the client';
    let duringEdit: Awaited<ReturnType<typeof leases>> = [];
    let alive: Awaited<ReturnType<typeof instances>> = [];
    const api = await startGeminiApi(t, async (_req, turn) => {
      if (turn === 0) return { call: 'replace', args: { file_path: target, old_string: 'export const app = 1;', new_string: 'export const app = 2;', instruction: 'bump app' } };
      if (turn === 1) {
        // A message arrives while the session works: its next request should carry it.
        await fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['gemini-a'], subject: 'users contract', body }) });
        return { call: 'write_file', args: { file_path: 'src/client.ts', content: 'export {};\n' } };
      }
      if (turn === 2) {
        duringEdit = await leases(s.url);
        alive = await instances(s.url, 'gemini-a');
        // The model reads its inbox itself, with koor-cli in Gemini's shell tool.
        return { call: 'run_shell_command', args: { command: 'koor-cli inbox', description: 'Read my messages' } };
      }
      return 'Done.';
    });
    const r = await runGemini({ cwd: root, home, prompt: 'Bump the app and write the client', api, env: { PATH, KOOR_AGENT_NAME: 'gemini-a' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr.slice(-2000) });
    t.comment(`the session took ${r.ms} ms (${api.agentRequests().length} requests)`);
    const reqs = api.agentRequests();
    t.equal(reqs.length, 4, 'four requests to the model');

    // (a) Refused before it happened, the reason in the model's next request.
    t.equal(read(target), 'export const app = 1;\n', 'src/app.ts unchanged');
    t.match(geminiToolResponses(reqs[1]!), [{ name: 'replace', error: /^Tool execution blocked: Koor: src\/app\.ts is leased by agent bob since .*koor-cli send bob/ }], 'the model reads who holds it and how to reach them');
    t.match(hookContexts(reqs[0]!), [/bob[\s\S]*src\/app\.ts/], "SessionStart's orientation (before the prompt) names bob's lease");

    // (b) Its own edit of a free file: leased to its agent while the session lasts, freed at its end.
    t.equal(read('src/client.ts'), 'export {};\n', 'src/client.ts written');
    t.match(duringEdit, [{ holder_name: 'bob', resources: [target] }, { holder_name: 'gemini-a', resources: ['src/client.ts'] }], "the edit leased src/client.ts to the session's agent");
    t.equal(duringEdit.length, 2);
    t.match(alive, [{ name: 'gemini-a', status: 'active' }], "the session's agent is alive while it works");
    t.match(await leases(s.url), [{ holder_name: 'bob', resources: [target] }], "its end (SessionEnd) released the session's lease");
    t.equal((await leases(s.url)).length, 1);
    t.same(await instances(s.url, 'gemini-a'), [], 'and deregistered its agent');

    // (c) The message, in the next request, in a few tokens; nothing more after it.
    const news = hookContexts(reqs[2]!).slice(hookContexts(reqs[1]!).length);
    t.match(news, [/^Koor:\n- 1 new message: human: "users contract" \(#\d+\)\. Read: koor-cli inbox/], 'in the next request, after the write’s output (AfterTool additionalContext)');
    t.ok(news.join('').length < 400, `a few tokens (${news.join('').length} characters)`);
    t.notMatch(geminiRequestText(reqs[1]!), /users contract/, 'not before it was sent');
    t.equal(hookContexts(reqs[3]!).length, hookContexts(reqs[2]!).length, 'the turn after it: nothing added');

    // (d) koor-cli in Gemini's shell tool acts as the session's agent.
    const [inbox] = geminiToolResponses(reqs[3]!).slice(-1);
    t.match(inbox, { name: 'run_shell_command', output: /users contract[\s\S]*regenerate the client/ }, "`koor-cli inbox` read the session agent's inbox");
    t.match(inbox?.output, /\[System\] Tool input parameters were modified by a hook before execution\.$/, 'the model is told a hook changed the command (it exported the session id)');
  });

  t.test("a quiet Gemini session: not one Koor word reaches its model; its telemetry (init --telemetry) records each request once, as the agent its hooks bound", async (t) => {
    const s = await startTestServer(t);
    const { root, PATH } = clone(claudeTempDir(t), s.url, BIN, ['--telemetry']);
    const home = geminiHome(claudeTempDir(t, 'koor-gm-home-'));
    const api = await startGeminiApi(t, [{ call: 'replace', args: { file_path: 'src/app.ts', old_string: 'export const app = 1;', new_string: 'export const app = 2;', instruction: 'bump' } }, 'Done.']);
    const r = await runGemini({ cwd: root, home, prompt: 'Bump the app', api, env: { PATH }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr.slice(-2000) });
    t.equal(fs.readFileSync(path.join(root, 'src', 'app.ts'), 'utf8'), 'export const app = 2;\n');
    t.equal(api.agentRequests().length, 2);
    t.same(api.agentRequests().flatMap(hookContexts), [], 'no hook added a context');
    const koorText = sent(api).match(/.{0,80}(Koor:|koor-cli|\[System\]).{0,80}/s);
    t.equal(koorText?.[0] ?? null, null, 'no Koor text in any request');
    const audit = (await (await fetch(`${s.url}/api/audit?action=instance.register`)).json()) as Array<{ actor: string; resource: string }>;
    t.equal(audit.length, 1, 'its hooks bound one agent');
    t.same(await instances(s.url), [], 'gone with its session');
    // Gemini flushes its telemetry at exit: a record per request to the model, its agent's, once.
    const records = await waitUntil('the telemetry of the session recorded', async () => {
      const list = ((await (await fetch(`${s.url}/api/llm/usage?limit=100`)).json()) as any[]).filter((x) => x.session_id === r.sessionId);
      return list.length >= 2 ? list : false;
    }, 30_000);
    t.equal(records.length, 2, 'each request once (not again from the record that repeats its usage)');
    for (const x of records) t.match(x, { instance_id: audit[0]!.resource, project: 'shop', provider: 'google', tokens_in: 10, tokens_out: 5, request_type: 'gemini' }, `request ${x.id}: the agent's, with the client's tokens`);
  });

  t.test('what a hook call costs the agent: koor-hook and koor-cli against a no-op command hook, started as Gemini starts them', async (t) => {
    const s = await startTestServer(t);
    const { root, PATH } = clone(claudeTempDir(t), s.url, BIN);
    const session = `gm-cost-${process.pid}`;
    const input = (hook_event_name: string, more: object = {}) => JSON.stringify({ session_id: session, transcript_path: '', cwd: root, hook_event_name, timestamp: new Date().toISOString(), ...more });
    const edit = input('BeforeTool', { tool_name: 'write_file', tool_input: { file_path: 'src/x.ts', content: 'x' } });
    // Timed in a small process of its own, as Gemini's (spawning from this one, which runs the
    // server, costs seconds): each hook call is `bash -c <command>` in the session's cwd, its
    // input on stdin, until it exits; koor-hook (what init installs: its helper answers), the
    // Node bridge it falls back to, and a no-op hook, in turn.
    const N = 10;
    const timer = `
      const { spawn } = require('node:child_process');
      const [cwd, n, start, edit, end] = process.argv.slice(1);
      const call = (command, stdin) => new Promise((resolve) => {
        const t0 = performance.now();
        const c = spawn('bash', ['-c', command], { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
        c.on('close', () => resolve({ ms: performance.now() - t0, out }));
        c.stdin.end(stdin);
      });
      (async () => {
        // The first call starts the helper; the second finds it (or waits for it a little).
        await call('koor-hook gemini', start);
        for (let i = 0; i < 50 && (await call('koor-hook gemini', edit)).ms > 100; i++) await new Promise((r) => setTimeout(r, 100));
        const hook = [], bridge = [], noop = [], outs = [];
        for (let i = 0; i < Number(n); i++) {
          const h = await call('koor-hook gemini', edit);
          hook.push(h.ms);
          const b = await call('koor-cli hook gemini', edit);
          bridge.push(b.ms);
          outs.push(h.out.trim(), b.out.trim());
          noop.push((await call('cat > /dev/null', edit)).ms);
        }
        await call('koor-hook gemini', end);
        process.stdout.write(JSON.stringify({ hook, bridge, noop, outs }));
      })();`;
    // Not execFileSync: this process runs the server the bridge calls.
    const out = await new Promise<string>((resolve, reject) => {
      const args = ['-e', timer, root, String(N), input('SessionStart', { source: 'startup' }), edit, input('SessionEnd', { reason: 'exit' })];
      // The sessions' HOME: bash sources ~/.bashrc for a command whose stdin is a socket, as a hook's is (GEMINI-FACTS.md).
      const child = spawn(process.execPath, args, { cwd: root, env: { PATH, HOME: geminiHome(claudeTempDir(t, 'koor-gm-home-')) }, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    const { hook, bridge, noop, outs } = JSON.parse(out) as { hook: number[]; bridge: number[]; noop: number[]; outs: string[] };
    t.same(outs, Array(2 * N).fill('{}'), 'each edit allowed, by both');
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const added = (xs: number[]) => pct(xs, 0.5) - pct(noop, 0.5);
    t.comment(
      `one BeforeTool hook call (${N} each), p50 (max): koor-hook gemini ${ms(pct(hook, 0.5))} (${ms(pct(hook, 1))}), koor-cli hook gemini ${ms(pct(bridge, 0.5))} (${ms(pct(bridge, 1))}), ` +
        `a no-op hook ${ms(pct(noop, 0.5))} (${ms(pct(noop, 1))}): Koor adds ${ms(added(hook))} through koor-hook, ${ms(added(bridge))} through koor-cli`,
    );
    // Same run: the helper's answer costs a fraction of a Node start (the hook-start suite, bench/suites/hook-start.ts, measures it quietly).
    t.ok(pct(hook, 0.5) < pct(bridge, 0.5) / 2, `koor-hook's p50 under half of koor-cli's (${ms(pct(hook, 0.5))} against ${ms(pct(bridge, 0.5))})`);
    t.same(await instances(s.url), [], 'the measuring session ended');
  });
}
