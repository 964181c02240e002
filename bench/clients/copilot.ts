/**
 * The real GitHub Copilot CLI, driven offline — for the e2e tests (test/helpers/copilot.ts adds
 * their setup notes and teardown), beside the Claude Code and Codex ones (claude-code.ts, codex.ts;
 * the install plumbing they share is in common.ts): where the pinned release is installed
 * (gitignored test-output/copilot/<version>/, never a dependency of the package), and runCopilot()
 * to run one `copilot -p` session against the scripted fake Chat Completions API (fake-chat.ts).
 * What the client does with hooks is written down, with how it was verified, in
 * test/helpers/COPILOT-FACTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO, collectRun, installNpmClient, runProcess } from './common.js';
import type { FakeApi } from './fake-chat.js';

/** The release the tests drive; its facts are in test/helpers/COPILOT-FACTS.md. */
export const COPILOT_VERSION = '1.0.102';
export const COPILOT_PACKAGE = `@github/copilot@${COPILOT_VERSION}`;
/** `npm install --no-save --prefix` lands it here (gitignored, ~190 MB). */
export const COPILOT_DIR = path.join(REPO, 'test-output', 'copilot', COPILOT_VERSION);
/**
 * XDG_CACHE_HOME of every run: the executable unpacks its application (~235 MB, ~3 s) into
 * `$XDG_CACHE_HOME/copilot/pkg/<platform>/<version>/` at its first start; one cache for all the
 * runs, filled by the install's version check, so a run with a fresh HOME does not unpack it again.
 */
export const COPILOT_CACHE = path.join(COPILOT_DIR, 'cache');
/**
 * The model the fake API is named as: one whose tools are `create`, `edit` and `bash` (GPT-5
 * models get a freeform `apply_patch` instead of `create`/`edit`; COPILOT-FACTS.md).
 */
export const COPILOT_MODEL = 'gpt-4.1';

/** The installed client's executable (the platform package's, which needs no install script), or null. */
export function copilotBinary(): string | null {
  const base = path.join(COPILOT_DIR, 'node_modules', '@github');
  const exe = process.platform === 'win32' ? 'copilot.exe' : 'copilot';
  const names = [`copilot-${process.platform}-${process.arch}`, `copilot-${process.platform}musl-${process.arch}`];
  return names.map((n) => path.join(base, n, exe)).find((p) => fs.existsSync(p)) ?? null;
}

/** `--version` prints this release (and unpacks the application into COPILOT_CACHE). */
async function works(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cp-version-'));
  try {
    const r = await runProcess(bin, ['--version'], 60_000, { PATH: process.env.PATH, HOME: home, XDG_CACHE_HOME: COPILOT_CACHE, COPILOT_AUTO_UPDATE: 'false' });
    return r.ok && r.out.includes(`GitHub Copilot CLI ${COPILOT_VERSION}`) ? null : `${bin} --version did not print GitHub Copilot CLI ${COPILOT_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Installs the pinned client into COPILOT_DIR unless a working copy is there; why not, or null. Never throws. */
export function installCopilotBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: COPILOT_PACKAGE, dir: COPILOT_DIR, find: copilotBinary, works }, budgetMs);
}

// ---------------------------------------------------------------------------------------------
// Running the client.

export interface CopilotRunOptions {
  cwd: string;
  prompt: string;
  /** The fake Chat Completions API (or its URL, without /v1). */
  api: FakeApi | string;
  /** HOME (~/.copilot: config, session state); a fresh temp dir, removed afterwards, when absent. */
  home?: string;
  /** Extra environment over the minimal one runCopilot builds (the caller's own env is not passed). */
  env?: Record<string, string>;
  /** More arguments of `copilot` (after the prompt). */
  args?: string[];
  /**
   * COPILOT_ALLOW_ALL=true (default): tools run without asking and the folder is trusted, which
   * loads its hooks; false: --allow-all-tools only, and the folder's hooks run only when HOME's
   * config trusts it.
   */
  trust?: boolean;
  /** COPILOT_MODEL (default COPILOT_MODEL). */
  model?: string;
  /** --session-id: default a fresh UUID, so the session is known before the run. */
  sessionId?: string;
  timeoutMs: number;
  onSpawn?: (child: ChildProcess) => void;
}

export interface CopilotRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** `--output-format json`: every line of stdout, parsed. */
  events: any[];
  stdout: string;
  stderr: string;
  /** The session id (--session-id; the hooks' `session_id`, its shell's COPILOT_AGENT_SESSION_ID). */
  sessionId: string;
  home: string;
  ms: number;
  /** The session's own event log (HOME/.copilot/session-state/<id>/events.jsonl), parsed; read before an own HOME is removed. */
  log: any[];
}

/** The environment of a run: nothing of the caller's but PATH. */
export function copilotEnv(home: string, apiUrl: string, o: { trust?: boolean; model?: string } = {}, more: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: os.tmpdir(),
    NO_COLOR: '1',
    XDG_CACHE_HOME: COPILOT_CACHE,
    COPILOT_AUTO_UPDATE: 'false',
    COPILOT_OFFLINE: 'true',
    COPILOT_PROVIDER_BASE_URL: `${apiUrl}/v1`,
    COPILOT_PROVIDER_TYPE: 'openai',
    COPILOT_PROVIDER_API_KEY: 'sk-fake',
    COPILOT_MODEL: o.model ?? COPILOT_MODEL,
    ...(o.trust === false ? {} : { COPILOT_ALLOW_ALL: 'true' }),
    ...more,
  };
}

/** A session's event log (its hooks' starts and ends among them), or [] when there is none. */
export function sessionLog(home: string, sessionId: string): any[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(home, '.copilot', 'session-state', sessionId, 'events.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
}

/** How long each hook call took, from the session's log (`hook.start` → `hook.end` of one invocation), in order. */
export function hookTimings(log: readonly any[]): { hook: string; ms: number; success: boolean }[] {
  const started = new Map<string, { hook: string; at: number }>();
  const out: { hook: string; ms: number; success: boolean }[] = [];
  for (const e of log) {
    const id = e?.data?.hookInvocationId;
    if (typeof id !== 'string') continue;
    if (e.type === 'hook.start') started.set(id, { hook: String(e.data.hookType), at: Date.parse(e.timestamp) });
    else if (e.type === 'hook.end' && started.has(id)) {
      const s = started.get(id)!;
      out.push({ hook: s.hook, ms: Date.parse(e.timestamp) - s.at, success: e.data.success === true });
    }
  }
  return out;
}

/**
 * Runs `copilot -p <prompt> --allow-all-tools --output-format json --session-id <id>` once against
 * the fake API, offline, with its own HOME and stdin closed; bounded by `timeoutMs`.
 */
export async function runCopilot(o: CopilotRunOptions): Promise<CopilotRunResult> {
  const bin = copilotBinary();
  if (bin === null) throw new Error(`Copilot CLI is not installed in ${COPILOT_DIR} (npm run test:setup)`);
  const ownHome = o.home === undefined;
  const home = o.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cp-home-'));
  const url = typeof o.api === 'string' ? o.api : o.api.url;
  const sessionId = o.sessionId ?? randomUUID();
  const args = ['-p', o.prompt, '--allow-all-tools', '--output-format', 'json', '--session-id', sessionId, ...(o.args ?? [])];
  const started = Date.now();
  const child = spawn(bin, args, { cwd: o.cwd, env: copilotEnv(home, url, o, o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  const { code, signal, timedOut, stdout, stderr, events } = await collectRun(child, o.timeoutMs);
  const log = sessionLog(home, sessionId);
  if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  return { code, signal, timedOut, events, stdout, stderr, sessionId, home, ms: Date.now() - started, log };
}
