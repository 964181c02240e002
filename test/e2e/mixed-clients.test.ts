/**
 * Two different coding agents on one repository, each refused the file the other holds: a Gemini
 * CLI session (command hooks, `koor-cli init --gemini`) and an OpenCode session (its plugin,
 * `koor-cli init --opencode`), both real clients driven by scripted fake models in their own
 * protocols, in two clones of `shop` on one real server. Each takes a free file (auto-lease), then
 * tries the other's while the other still works: refused before the edit, and its model reads who
 * holds it. Both ends free everything. Skips with the reason when a client is not installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { CLI_JS } from '../cli/helpers.js';
import { claudeTempDir } from '../helpers/claude-code.js';
import { gemini, geminiHome, geminiToolResponses, runGemini, startGeminiApi } from '../helpers/gemini.js';
import { chatToolResults, opencode, runOpencode, startOpencodeApi } from '../helpers/opencode.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';

/** One run of a client; far above the 10–30 s a session takes here. */
const RUN_MS = 120_000;
/** How long one session's model waits for the other session's step before the test gives up. */
const STEP_MS = 60_000;

/** A promise resolved from outside, that rejects past STEP_MS (a step that never came fails the run, not hangs it). */
function step(what: string): { done: () => void; reached: () => Promise<void> } {
  let done!: () => void;
  const p = new Promise<void>((resolve) => (done = resolve));
  return { done, reached: () => Promise.race([p, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`step never reached: ${what}`)), STEP_MS).unref())]) };
}

const gm = gemini();
const oc = opencode();
const skip = 'skip' in gm ? gm.skip : 'skip' in oc ? oc.skip : false;

t.test('Gemini CLI and OpenCode on one repository: each refused the file the other holds, and told who holds it', { skip }, async (t) => {
  const s = await startTestServer(t);
  const bin = claudeTempDir(t, 'koor-mixed-bin-');
  koorBin(bin);
  const PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  const clone = async (client: 'gemini' | 'opencode'): Promise<string> => {
    const root = path.join(fs.realpathSync(claudeTempDir(t, `koor-mixed-${client}-`)), 'shop');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q', root]);
    // Not execFileSync: the test's server, in this process, answers init's check meanwhile.
    await promisify(execFile)(process.execPath, [CLI_JS, 'init', `--${client}`, '--server', s.url], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH } });
    return root;
  };
  const [gRoot, oRoot] = await Promise.all([clone('gemini'), clone('opencode')]);
  const leases = async () => ((await (await fetch(`${s.url}/api/leases`)).json()) as Array<{ holder_name: string; resources: string[] }>).map((l) => [l.holder_name, l.resources]).sort();

  const gLeased = step('Gemini leased src/a.ts');
  const oLeased = step('OpenCode leased src/b.ts');
  const gTried = step('Gemini tried src/b.ts');
  const oTried = step('OpenCode tried src/a.ts');
  let bothHeld: unknown[] = [];

  const gApi = await startGeminiApi(t, async (_req, turn) => {
    if (turn === 0) return { call: 'write_file', args: { file_path: 'src/a.ts', content: 'export const a = "gemini";\n' } };
    if (turn === 1) {
      gLeased.done();
      await oLeased.reached();
      bothHeld = await leases();
      return { call: 'write_file', args: { file_path: 'src/b.ts', content: 'export const b = "gemini";\n' } };
    }
    if (turn === 2) {
      gTried.done();
      await oTried.reached();
    }
    return 'Done.';
  });
  const oApi = await startOpencodeApi(t, async (_req, turn) => {
    if (turn === 0) {
      await gLeased.reached();
      return { name: 'write', arguments: { filePath: path.join(oRoot, 'src', 'b.ts'), content: 'export const b = "opencode";\n' } };
    }
    if (turn === 1) {
      oLeased.done();
      return { name: 'write', arguments: { filePath: path.join(oRoot, 'src', 'a.ts'), content: 'export const a = "opencode";\n' } };
    }
    if (turn === 2) {
      oTried.done();
      await gTried.reached();
    }
    return 'Done.';
  });

  const [g, o] = await Promise.all([
    runGemini({ cwd: gRoot, home: geminiHome(claudeTempDir(t, 'koor-mixed-home-')), prompt: 'Write a.ts, then b.ts', api: gApi, env: { PATH, KOOR_AGENT_NAME: 'gm-a' }, timeoutMs: RUN_MS }),
    runOpencode({ cwd: oRoot, prompt: 'Write b.ts, then a.ts', api: oApi, env: { PATH, KOOR_AGENT_NAME: 'oc-b' }, timeoutMs: RUN_MS }),
  ]);
  t.equal(g.code, 0, 'Gemini exits 0', { stderr: g.stderr.slice(-2000) });
  t.equal(o.code, 0, 'OpenCode exits 0', { stderr: o.stderr.slice(-2000) });
  t.comment(`the two sessions took ${g.ms} and ${o.ms} ms, side by side`);

  t.same(bothHeld, [['gm-a', ['src/a.ts']], ['oc-b', ['src/b.ts']]], "each session's first edit leased its file to its agent (one project: both clones are shop)");
  const gReqs = gApi.agentRequests();
  const oReqs = oApi.agentRequests();
  t.match(geminiToolResponses(gReqs[2]!).at(-1), { name: 'write_file', error: /^Tool execution blocked: Koor: src\/b\.ts is leased by agent oc-b since / }, "Gemini's model reads that OpenCode's agent holds src/b.ts");
  t.match(chatToolResults(oReqs[2]!).at(-1)?.text, /^Koor: src\/a\.ts is leased by agent gm-a since /, "OpenCode's model reads that Gemini's agent holds src/a.ts");
  t.notOk(fs.existsSync(path.join(gRoot, 'src', 'b.ts')), "Gemini's write of src/b.ts never happened");
  t.notOk(fs.existsSync(path.join(oRoot, 'src', 'a.ts')), "OpenCode's write of src/a.ts never happened");
  t.same(await leases(), [], 'both ends freed their leases');
});
