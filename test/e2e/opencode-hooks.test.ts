/**
 * Koor's OpenCode plugin end to end, with the real client (pinned, `opencode run` offline against
 * the scripted fake Chat Completions API; test/helpers/opencode.ts) and a real Koor server; the
 * plugin as `koor-cli init --opencode` writes it (.opencode/plugins/koor.js), in a clone of the
 * repository `shop`, `koor-cli` on the client's PATH.
 *
 * - One session: its edit of a file another agent holds is refused before it happens and the model
 *   reads why; its edit of a free file leases the file to its agent; a message to that agent
 *   reaches its next request to the model, appended to a tool's output; its own `koor-cli inbox`
 *   reads it as that agent; its end frees the lease and the agent.
 * - A quiet session (a token from the user's Koor config, none in the plugin): not one Koor word
 *   reaches its model. What the plugin's hooks cost a tool call, against no-op hooks.
 * - Kilo Code's CLI (built on OpenCode; 7.7.7, the newest with a Linux binary on the registry), its
 *   plugin written by `init --kilo` to .kilo/plugins/: the same refusal, auto-lease, koor-cli as
 *   the session's agent and end.
 * Skips with the reason when a client could not be installed (`npm run test:setup`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CLI_JS } from '../cli/helpers.js';
import { claudeTempDir } from '../helpers/claude-code.js';
import { chatRequestText, chatToolResults, hookCost, KILO_VERSION, kiloCli, opencode, runOpencode, startOpencodeApi, type FakeApi } from '../helpers/opencode.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';

/** One run of the client; far above the 5–25 s it takes here. */
const RUN_MS = 90_000;
const PLUGIN = path.join('.opencode', 'plugins', 'koor.js');

const oc = opencode();
if ('skip' in oc) t.plan(0, oc.skip);
else {
  // The two sessions run side by side: the client's start (most of a session's time here) overlaps.
  t.jobs = 2;
  const BIN = claudeTempDir(t, 'koor-oc-bin-');
  koorBin(BIN);
  /** `koor-cli` first on the client's PATH (the shell tool's commands). */
  const PATH = `${BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`;

  /** A clone of `shop` (src/app.ts, src/held.ts) wired by `koor-cli init --opencode --server <url>` (or `--kilo`), run as a user would. */
  const clone = async (tt: { teardown(fn: () => unknown): void }, url: string, client: 'opencode' | 'kilo' = 'opencode'): Promise<string> => {
    const root = path.join(fs.realpathSync(claudeTempDir(tt, 'koor-oc-')), 'shop');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q', root]);
    fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
    fs.writeFileSync(path.join(root, 'src', 'held.ts'), 'export const held = 1;\n');
    // Not execFileSync: the test's server, in this process, answers init's check meanwhile.
    const { stdout } = await promisify(execFile)(process.execPath, [CLI_JS, 'init', `--${client}`, '--server', url], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH } });
    if (!new RegExp(`^created \\.${client}/plugins/koor\\.js$`, 'm').test(stdout)) throw new Error(`init did not write the ${client} plugin:\n${stdout}`);
    return root;
  };
  const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
  const get = async (url: string, p: string, token?: string) => (await fetch(`${url}${p}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })).json();
  const leases = async (url: string, token?: string) => (await get(url, '/api/leases', token)) as Array<{ holder_name: string; resources: string[] }>;
  const instances = async (url: string, token?: string) => (await get(url, '/api/instances', token)) as Array<{ id: string; name: string; status: string }>;
  /** Every text the model was sent in a session. */
  const sent = (api: FakeApi): string => api.agentRequests().map(chatRequestText).join('\n');

  t.test('one session: a held file refused with the reason the model reads, a free one auto-leased, a message in its next request, its own koor-cli as its agent, all freed at its end', async (t) => {
    const s = await startTestServer(t);
    const root = await clone(t, s.url);
    // Another agent of the repository holds src/held.ts.
    const bob = (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'bob', workspace: 'shop' }) })).json()) as { id: string };
    const lease = await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': bob.id }, body: JSON.stringify({ resources: ['src/held.ts'], reason: 'refactoring' }) });
    t.ok(lease.ok, 'bob leases src/held.ts');

    const body = 'the users contract changed, please regenerate the client';
    let during: { leases: Array<{ holder_name: string; resources: string[] }>; agent: unknown } | null = null;
    const api = await startOpencodeApi(t, async (_req, turn) => {
      switch (turn) {
        case 0:
          return { name: 'write', arguments: { filePath: path.join(root, 'src', 'held.ts'), content: 'export const held = 2;\n' } };
        case 1:
          return { name: 'write', arguments: { filePath: 'src/free.ts', content: 'export const free = 1;\n' } };
        case 2: {
          during = { leases: await leases(s.url), agent: (await instances(s.url)).find((i) => i.name === 'oc-a') };
          // A message arrives while the session works: the next tool's after-hook hears it.
          const m = await fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['oc-a'], subject: 'users contract', body }) });
          if (!m.ok) throw new Error(`message not sent: ${m.status}`);
          return { name: 'read', arguments: { filePath: path.join(root, 'src', 'app.ts') } };
        }
        case 3:
          // The model reads it with koor-cli, as its agent (the plugin gives the shell the session's id).
          return { name: 'bash', arguments: { command: 'koor-cli inbox', description: 'Read my Koor inbox' } };
        default:
          return 'Regenerating.';
      }
    });
    const r = await runOpencode({ cwd: root, prompt: 'Work on the client', api, env: { PATH, KOOR_AGENT_NAME: 'oc-a' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr.slice(-2000) });
    const reqs = api.agentRequests();
    t.equal(reqs.length, 5, 'five requests to the model');
    t.comment(`the session took ${r.ms} ms`);

    // SessionStart's orientation, in its first user message.
    t.match(chatRequestText(reqs[0]!), /Koor: you are agent oc-a \(project shop\)\.[\s\S]*src\/held\.ts \(bob\)/, 'its first request: who it is and what others hold (SessionStart)');

    // (a) The held file: refused before the edit, the reason as the tool's result.
    t.equal(read(root, 'src/held.ts'), 'export const held = 1;\n', 'the held file is unchanged');
    t.match(
      chatToolResults(reqs[1]!).at(-1)?.text,
      /^Koor: src\/held\.ts is leased by agent bob since \d\d:\d\d UTC \("refactoring"\)\. Do not edit it now: .*koor-cli send bob/,
      'the model reads who holds it and how to reach them (the error the plugin threw)',
    );

    // (b) The free file: written, leased to the session's agent while it works.
    t.equal(read(root, 'src/free.ts'), 'export const free = 1;\n', 'the free file is written');
    t.same((during?.leases ?? []).map((l) => [l.holder_name, l.resources]).sort(), [['bob', ['src/held.ts']], ['oc-a', ['src/free.ts']]], 'its edit leased the file to the session’s agent');
    t.match(during, { agent: { status: 'active' } }, 'alive while it works');
    t.equal(chatToolResults(reqs[2]!).at(-1)?.text, 'Wrote file successfully.', 'a quiet tool call: nothing added to its result');

    // (c) The message: in the next request, appended to the tool's result, in few tokens.
    const readOut = chatToolResults(reqs[3]!).at(-1)?.text ?? '';
    const added = /\n\n(Koor:[\s\S]*)$/.exec(readOut)?.[1] ?? '';
    t.match(added, /^Koor:\n- 1 new message: human: "users contract" \(#\d+\)\. Read: koor-cli inbox/, 'the next request carries it, after the tool’s output (PostToolUse additionalContext)');
    t.ok(added.length > 0 && added.length < 300, `in few tokens (${added.length} characters)`);
    t.notMatch(chatRequestText(reqs[2]!), /users contract/, 'not before it was sent');

    // (d) The model's own koor-cli acts as its session's agent.
    t.match(chatToolResults(reqs[4]!).at(-1)?.text, /users contract[\s\S]*regenerate the client/, "`koor-cli inbox` in OpenCode's shell reads it as the session's agent");

    // Its end frees what it held.
    t.same((await leases(s.url)).map((l) => [l.holder_name, l.resources]), [['bob', ['src/held.ts']]], 'its end (the plugin’s dispose: SessionEnd) released its lease; bob’s stays');
    t.same((await instances(s.url)).map((i) => i.name), ['bob'], 'and deregistered its agent');
  });

  t.test('a quiet session, its token from the user’s Koor config: not one Koor word reaches its model; what the hooks cost a tool call', async (t) => {
    const TOKEN = 'tok-opencode-quiet';
    const s = await startTestServer(t, { authToken: TOKEN });
    const root = await clone(t, s.url);
    t.notMatch(read(root, PLUGIN), TOKEN, 'no token in the plugin file');
    const home = claudeTempDir(t, 'koor-oc-home-');
    fs.mkdirSync(path.join(home, '.config', 'koor'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config', 'koor', 'config.json'), JSON.stringify({ token: TOKEN }), { mode: 0o600 });
    const api = await startOpencodeApi(t, [
      { name: 'write', arguments: { filePath: 'src/new.ts', content: 'export {};\n' } },
      { name: 'bash', arguments: { command: 'true', description: 'Check' } },
      'Done.',
    ]);
    let names: string[] = [];
    const r = await runOpencode({ cwd: root, home, prompt: 'Add src/new.ts', api, env: { PATH }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, 'the client exits 0', { stderr: r.stderr.slice(-2000) });
    t.equal(api.agentRequests().length, 3);
    t.equal(read(root, 'src/new.ts'), 'export {};\n');
    const koorText = sent(api).match(/.{0,80}(Koor|koor-cli).{0,80}/s);
    t.equal(koorText?.[0] ?? null, null, 'no Koor text in any request');
    names = ((await get(s.url, '/api/audit?action=instance.register', TOKEN)) as Array<{ actor: string }>).map((a) => a.actor);
    t.match(names, [/^opencode-shop-[A-Za-z0-9]{8}$/], 'yet its plugin bound an agent (the token read at run time), named for OpenCode and the session');
    t.equal(names.length, 1);
    t.same(await instances(s.url, TOKEN), [], 'gone with its session');
    t.same(await leases(s.url, TOKEN), [], 'with its auto-lease');

    // What the plugin adds to a tool call (its two hooks around one edit), against hooks that do nothing.
    const cost = await hookCost(path.join(root, PLUGIN), root, 100, { KOOR_TOKEN: TOKEN });
    t.comment(`a tool call's hooks (before + after, ${cost.calls} edits, the plugin in a Node process of its own): Koor's plugin p50 ${cost.koor.p50} ms, p99 ${cost.koor.p99} ms; no-op hooks p50 ${cost.noop.p50} ms, p99 ${cost.noop.p99} ms`);
    t.ok(cost.koor.p50 > 0, 'measured');
    t.same(await leases(s.url, TOKEN), [], 'the measured session’s leases freed at its end too');
  });

  const kc = kiloCli();
  if ('skip' in kc) t.skip(`Kilo Code: ${kc.skip}`);
  else
    t.test(`Kilo Code ${KILO_VERSION} (built on OpenCode), init --kilo: a held file refused with the reason, a free one auto-leased, koor-cli as its agent, all freed at its end`, async (t) => {
      const s = await startTestServer(t);
      const root = await clone(t, s.url, 'kilo');
      const bob = (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'bob', workspace: 'shop' }) })).json()) as { id: string };
      t.ok((await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': bob.id }, body: JSON.stringify({ resources: ['src/held.ts'], reason: 'refactoring' }) })).ok, 'bob leases src/held.ts');
      let during: Array<{ holder_name: string; resources: string[] }> = [];
      const api = await startOpencodeApi(t, async (_req, turn) => {
        if (turn === 0) return { name: 'write', arguments: { filePath: path.join(root, 'src', 'held.ts'), content: 'export const held = 2;\n' } };
        if (turn === 1) return { name: 'write', arguments: { filePath: 'src/free.ts', content: 'export const free = 1;\n' } };
        if (turn === 2) {
          during = await leases(s.url);
          const m = await fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['kilo-a'], subject: 'hello from bob', body: 'src/held.ts is yours in ten minutes' }) });
          if (!m.ok) throw new Error(`message not sent: ${m.status}`);
          return { name: 'bash', arguments: { command: 'koor-cli inbox', description: 'Read my Koor inbox' } };
        }
        return 'Done.';
      });
      const r = await runOpencode({ client: 'kilo', cwd: root, prompt: 'Work on the client', api, env: { PATH, KOOR_AGENT_NAME: 'kilo-a' }, timeoutMs: RUN_MS });
      t.equal(r.code, 0, 'the client exits 0 (kilo run --auto)', { stderr: r.stderr.slice(-2000) });
      const reqs = api.agentRequests();
      t.equal(reqs.length, 4, 'four requests to the model');
      t.comment(`the session took ${r.ms} ms`);
      t.match(chatRequestText(reqs[0]!), /Koor: you are agent kilo-a \(project shop\)\.[\s\S]*src\/held\.ts \(bob\)/, 'its first request: who it is and what others hold');
      t.equal(read(root, 'src/held.ts'), 'export const held = 1;\n', 'the held file is unchanged');
      t.match(chatToolResults(reqs[1]!).at(-1)?.text, /^Koor: src\/held\.ts is leased by agent bob since \d\d:\d\d UTC \("refactoring"\)\./, 'the model reads who holds it');
      t.equal(read(root, 'src/free.ts'), 'export const free = 1;\n', 'the free file is written');
      t.same(during.map((l) => [l.holder_name, l.resources]).sort(), [['bob', ['src/held.ts']], ['kilo-a', ['src/free.ts']]], 'and leased to the session’s agent');
      t.match(chatToolResults(reqs[3]!).at(-1)?.text, /hello from bob[\s\S]*yours in ten minutes/, "`koor-cli inbox` in Kilo's shell reads it as the session's agent");
      t.same((await leases(s.url)).map((l) => [l.holder_name, l.resources]), [['bob', ['src/held.ts']]], 'its end released its lease');
      t.same((await instances(s.url)).map((i) => i.name), ['bob'], 'and deregistered its agent');
    });
}
