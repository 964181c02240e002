/**
 * The real OpenCode client, driven offline — for the e2e tests (test/helpers/opencode.ts adds their
 * setup notes and teardown), beside the Claude Code and Codex ones (claude-code.ts, codex.ts; the
 * install plumbing they share is in common.ts): where the pinned release is installed (gitignored
 * test-output/opencode/<version>/, never a dependency of the package), the scripted fake Chat
 * Completions API it is pointed at (fake-chat.ts), runOpencode() to run one `opencode run` session
 * against it, and hookCost(): what Koor's plugin costs a tool call. What the client does with
 * plugins is written down, with how it was verified, in test/helpers/OPENCODE-FACTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO, collectRun, installNpmClient, runProcess, type FakeApi } from './common.js';

export type { ApiRequest, FakeApi } from './common.js';

/** The release the tests drive; its facts are in test/helpers/OPENCODE-FACTS.md. */
export const OPENCODE_VERSION = '1.18.33';
export const OPENCODE_PACKAGE = `opencode-ai@${OPENCODE_VERSION}`;
/** `npm install --no-save --prefix` lands it here (gitignored, ~180 MB per platform variant). */
export const OPENCODE_DIR = path.join(REPO, 'test-output', 'opencode', OPENCODE_VERSION);
/**
 * The fake model as the client knows it: provider `koor_fake` (`@ai-sdk/openai-compatible`, which
 * sends Chat Completions), model `m`. A model id with `gpt-` in it gets `apply_patch` instead of
 * `edit`/`write` (OPENCODE-FACTS.md): runOpencode's `model` option.
 */
const OPENCODE_PROVIDER = 'koor_fake';
export const OPENCODE_MODEL = 'm';

/** The CPU runs the non-baseline build (AVX2), as the wrapper's postinstall decides. */
function avx2(): boolean {
  try {
    return /(^|\s)avx2(\s|$)/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return process.arch !== 'x64';
  }
}

/**
 * The installed client's executable (a platform package's, an npm optional dependency of the
 * wrapper `opencode-ai`, whose postinstall only links it), or null.
 */
export function opencodeBinary(): string | null {
  const plat = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  const exe = process.platform === 'win32' ? 'opencode.exe' : 'opencode';
  const variants = avx2() ? [plat, `${plat}-baseline`] : [`${plat}-baseline`, plat];
  const found = [...variants, ...variants.map((v) => `${v}-musl`)].map((v) => path.join(OPENCODE_DIR, 'node_modules', `opencode-${v}`, 'bin', exe)).find((p) => fs.existsSync(p));
  return found ?? null;
}

async function works(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-oc-version-'));
  try {
    const r = await runProcess(bin, ['--version'], 60_000, { PATH: process.env.PATH, HOME: home });
    return r.ok && r.out.trim().split('\n').includes(OPENCODE_VERSION) ? null : `${bin} --version did not print ${OPENCODE_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Installs the pinned client into OPENCODE_DIR unless a working copy is there; why not, or null. Never throws. */
export function installOpencodeBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: OPENCODE_PACKAGE, dir: OPENCODE_DIR, find: opencodeBinary, works }, budgetMs);
}

/**
 * Kilo Code's CLI, built on OpenCode (the same plugins, from `.kilo/plugins/`). Pinned at 7.7.7, not
 * the 7.8 line: `@kilocode/cli@7.8.1`'s platform packages (`@kilocode/cli-linux-x64@7.8.1`, …) are not
 * on the registry, so it installs without an executable; 7.7.7 is the newest whose Linux one is
 * (OPENCODE-FACTS.md).
 */
export const KILO_VERSION = '7.7.7';
export const KILO_PACKAGE = `@kilocode/cli@${KILO_VERSION}`;
const KILO_DIR = path.join(REPO, 'test-output', 'kilo', KILO_VERSION);

/** The installed Kilo executable (its platform package's `bin/kilo`), or null. */
export function kiloBinary(): string | null {
  const plat = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  const exe = process.platform === 'win32' ? 'kilo.exe' : 'kilo';
  const variants = avx2() ? [plat, `${plat}-baseline`] : [`${plat}-baseline`, plat];
  const found = [...variants, ...variants.map((v) => `${v}-musl`)].map((v) => path.join(KILO_DIR, 'node_modules', '@kilocode', `cli-${v}`, 'bin', exe)).find((p) => fs.existsSync(p));
  return found ?? null;
}

async function kiloWorks(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-kilo-version-'));
  try {
    const r = await runProcess(bin, ['--version'], 60_000, { PATH: process.env.PATH, HOME: home });
    return r.ok && r.out.trim().split('\n').includes(KILO_VERSION) ? null : `${bin} --version did not print ${KILO_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Installs the pinned Kilo CLI into KILO_DIR unless a working copy is there; why not, or null. Never throws. */
export function installKiloBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: KILO_PACKAGE, dir: KILO_DIR, find: kiloBinary, works: kiloWorks }, budgetMs);
}

// ---------------------------------------------------------------------------------------------
// Running the client.

/**
 * The configuration a run gets (OPENCODE_CONFIG_CONTENT, so nothing is written into the
 * repository): the fake provider and, to start faster, no snapshots, LSP, formatters or sharing.
 */
function opencodeConfig(apiUrl: string, model = OPENCODE_MODEL): object {
  const id = `${OPENCODE_PROVIDER}/${model}`;
  return {
    $schema: 'https://opencode.ai/config.json',
    provider: { [OPENCODE_PROVIDER]: { npm: '@ai-sdk/openai-compatible', name: 'Koor fake', options: { baseURL: `${apiUrl}/v1`, apiKey: 'sk-fake' }, models: { [model]: { tool_call: true } } } },
    model: id,
    small_model: id,
    snapshot: false,
    lsp: false,
    formatter: false,
    share: 'disabled',
    autoupdate: false,
  };
}

/**
 * With a plugin in a config directory (`~/.config/opencode`, a project's `.opencode`), OpenCode
 * npm-installs `@opencode-ai/plugin` into it at start unless its `node_modules` exists and its
 * `package-lock.json` lists that package (OPENCODE-FACTS.md): 10–40 s from the registry here, which a
 * user pays once per machine and clone. A test run skips it by writing both (Koor's plugin imports
 * nothing); the package is not needed to run a plugin. Kilo installs `@kilocode/plugin` the same way.
 */
export function skipPluginInstall(configDir: string, pkg = '@opencode-ai/plugin', version = OPENCODE_VERSION): void {
  fs.mkdirSync(path.join(configDir, 'node_modules'), { recursive: true });
  const lock = path.join(configDir, 'package-lock.json');
  if (!fs.existsSync(lock)) fs.writeFileSync(lock, `${JSON.stringify({ packages: { '': { dependencies: { [pkg]: version } } } })}\n`);
}

export interface OpencodeRunOptions {
  cwd: string;
  prompt: string;
  api: FakeApi | string;
  /** HOME (~/.config/opencode, ~/.local/share/opencode: sessions); a fresh temp dir, removed afterwards, when absent. */
  home?: string;
  /** Extra environment over the minimal one runOpencode builds (the caller's own env is not passed). */
  env?: Record<string, string>;
  /** The fake model's id (default OPENCODE_MODEL); one with `gpt-` gets apply_patch. */
  model?: string;
  /** More arguments of `opencode run` (before the prompt). */
  args?: string[];
  /** The client: OpenCode (default) or Kilo Code's CLI (`kilo run --auto`: it refuses the shell tool otherwise). */
  client?: 'opencode' | 'kilo';
  timeoutMs: number;
  onSpawn?: (child: ChildProcess) => void;
}

export interface OpencodeRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** `--format json`: every JSON line of stdout (step_start, tool_use, text, step_finish, error). */
  events: any[];
  stdout: string;
  stderr: string;
  /** The session: its id in the events (`ses_…`), the plugin's session. */
  sessionId: string | null;
  home: string;
  ms: number;
}

/**
 * The environment of a run: nothing of the caller's but PATH; no update check, no models.dev fetch,
 * no Claude Code files read. Kilo reads the same variables named KILO_* (and posts telemetry, which
 * fails offline with a warning).
 */
function opencodeEnv(home: string, apiUrl: string, model = OPENCODE_MODEL, more: Record<string, string> = {}, client: 'opencode' | 'kilo' = 'opencode'): Record<string, string> {
  const p = client === 'kilo' ? 'KILO' : 'OPENCODE';
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: os.tmpdir(),
    [`${p}_CONFIG_CONTENT`]: JSON.stringify(opencodeConfig(apiUrl, model)),
    [`${p}_DISABLE_MODELS_FETCH`]: '1',
    [`${p}_DISABLE_AUTOUPDATE`]: '1',
    [`${p}_DISABLE_CLAUDE_CODE`]: '1',
    [`${p}_DISABLE_EXTERNAL_SKILLS`]: '1',
    [`${p}_DISABLE_DEFAULT_PLUGINS`]: '1',
    [`${p}_EXPERIMENTAL_DISABLE_FILEWATCHER`]: '1',
    [`${p}_DISABLE_PRUNE`]: '1',
    ...(client === 'kilo' ? { KILO_DISABLE_SHARE: '1', KILO_DISABLE_SESSION_INGEST: '1', KILO_DISABLE_CODEBASE_INDEXING: '1' } : {}),
    ...more,
  };
}

/**
 * Runs `opencode run --format json <prompt>` once against the fake API, with its own HOME and stdin
 * closed; bounded by `timeoutMs`. The project's plugins (`.opencode/plugins/`) load with no npm
 * install (skipPluginInstall on HOME's config and the project's).
 */
export async function runOpencode(o: OpencodeRunOptions): Promise<OpencodeRunResult> {
  const kilo = o.client === 'kilo';
  const bin = kilo ? kiloBinary() : opencodeBinary();
  if (bin === null) throw new Error(`${kilo ? 'Kilo Code' : 'OpenCode'} is not installed in ${kilo ? KILO_DIR : OPENCODE_DIR} (npm run test:setup)`);
  const ownHome = o.home === undefined;
  const home = o.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'koor-oc-home-'));
  const dir = kilo ? 'kilo' : 'opencode';
  const pkg: [string, string] = kilo ? ['@kilocode/plugin', KILO_VERSION] : ['@opencode-ai/plugin', OPENCODE_VERSION];
  skipPluginInstall(path.join(home, '.config', dir), ...pkg);
  if (fs.existsSync(path.join(o.cwd, `.${dir}`))) skipPluginInstall(path.join(o.cwd, `.${dir}`), ...pkg);
  const url = typeof o.api === 'string' ? o.api : o.api.url;
  const args = ['run', '--format', 'json', ...(kilo ? ['--auto'] : []), ...(o.args ?? []), o.prompt];
  const started = Date.now();
  const child = spawn(bin, args, { cwd: o.cwd, env: opencodeEnv(home, url, o.model, o.env, o.client), stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  const { code, signal, timedOut, stdout, stderr, events } = await collectRun(child, o.timeoutMs);
  if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  const sessionId = events.find((e) => typeof e?.sessionID === 'string')?.sessionID ?? null;
  return { code, signal, timedOut, events, stdout, stderr, sessionId, home, ms: Date.now() - started };
}

// ---------------------------------------------------------------------------------------------
// What the plugin's hooks cost.

export interface HookCost {
  calls: number;
  /** ms per tool call (tool.execute.before + tool.execute.after), p50 and p99, Koor's plugin. */
  koor: { p50: number; p99: number };
  /** The same for a no-op plugin of the same kind (hooks that return at once), in the same run. */
  noop: { p50: number; p99: number };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/**
 * What Koor's plugin adds to one tool call: the plugin file `pluginFile` (as init writes it) loaded
 * in a process of its own (Node, with this process's environment and `env` over it: KOOR_TOKEN,
 * KOOR_AGENT_NAME…) and its hooks driven as OpenCode drives them — one session, then `calls` edits
 * of files, each a `tool.execute.before` and a `tool.execute.after` — against the Koor server it
 * names, timed around the two awaits; beside a no-op plugin's same two hooks, alternately. The
 * session ends (the plugin's dispose) when done. OpenCode runs plugins in Bun, where the same code
 * measured faster, and on its own busy event loop, where it measured slower (OPENCODE-FACTS.md).
 */
export function hookCost(pluginFile: string, directory: string, calls: number, env: Record<string, string> = {}): Promise<HookCost> {
  const code = `import(${JSON.stringify(import.meta.url)}).then((m) => m.measureHooks(${JSON.stringify(pluginFile)}, ${JSON.stringify(directory)}, ${calls})).then((r) => process.stdout.write(JSON.stringify(r)))`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`measuring the hooks failed: ${err.message} ${stderr.slice(-500)}`));
      else resolve(JSON.parse(stdout) as HookCost);
    });
  });
}

/** hookCost's measurement, in the process that runs it (which imports it by name). */
export async function measureHooks(pluginFile: string, directory: string, calls: number): Promise<HookCost> {
  const mod = (await import(pathToFileURL(pluginFile).href)) as Record<string, (ctx: object) => Promise<Record<string, any>>>;
  const plugin = Object.values(mod).find((v) => typeof v === 'function');
  if (plugin === undefined) throw new Error(`${pluginFile} exports no plugin`);
  const hooks = await plugin({ directory, worktree: directory });
  const noop = { 'tool.execute.before': async () => {}, 'tool.execute.after': async () => {} } as Record<string, (i: object, o: object) => Promise<void>>;
  const sessionID = `ses_bench${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  await hooks.event({ event: { type: 'session.created', properties: { sessionID, info: { id: sessionID } } } });
  await hooks['chat.message']({ sessionID }, { message: { id: 'msg_bench' }, parts: [{ type: 'text', text: 'bench' }] });
  const koor: number[] = [];
  const none: number[] = [];
  const one = async (h: Record<string, (i: object, o: object) => Promise<void>>, k: number): Promise<number> => {
    const args = { filePath: path.join(directory, 'src', `f${k % 20}.ts`), content: 'x' };
    const t0 = performance.now();
    await h['tool.execute.before']!({ tool: 'write', sessionID, callID: `call_${k}` }, { args });
    await h['tool.execute.after']!({ tool: 'write', sessionID, callID: `call_${k}`, args }, { title: '', output: 'Wrote file successfully.', metadata: {} });
    return performance.now() - t0;
  };
  for (let k = 0; k < calls; k++) {
    koor.push(await one(hooks, k));
    none.push(await one(noop, k));
  }
  await hooks.dispose?.();
  const round = (x: number) => Math.round(x * 100) / 100;
  return { calls, koor: { p50: round(pct(koor, 50)), p99: round(pct(koor, 99)) }, noop: { p50: round(pct(none, 50)), p99: round(pct(none, 99)) } };
}
