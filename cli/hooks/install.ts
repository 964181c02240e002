/**
 * `koor-cli init --claude-code|--cursor|--codex` (and `--remove`): the plan of each client's hook
 * files, computed (and every file checked) before anything is written, in the repository's root.
 * Claude Code also gets, per clone, `.claude/settings.local.json` with `env.KOOR_REPO_ROOT` (the
 * HTTP hooks' X-Koor-Repo-Root: $CLAUDE_PROJECT_DIR does not interpolate in HTTP headers, variables
 * of the settings' `env` do), kept out of git through .git/info/exclude. No token is ever written:
 * the hooks name $KOOR_TOKEN.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Client } from './translate.js';
import { claudeCodeHooks, codexHooks, cursorHooks, mergeHookMap, objectAt, readJsonFile, renderJson, withKey, type JsonFile, type Style } from './files.js';

export interface FilePlan {
  file: string;
  /** The new text; null: the file is deleted. */
  text: string | null;
  outcome: 'created' | 'updated' | 'unchanged' | 'removed';
  mode: number;
}

function git(cwd: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** `git rev-parse --show-toplevel`, else the directory itself. */
export function repoRoot(cwd: string): string {
  return git(cwd, ['rev-parse', '--show-toplevel']) || cwd;
}

function plan(f: JsonFile, doc: Record<string, unknown> | null): FilePlan {
  if (doc === null) return { file: f.file, text: null, outcome: f.before === null ? 'unchanged' : 'removed', mode: 0o644 };
  // Same content: the file is left exactly as it is, however it is formatted.
  if (f.before !== null && JSON.stringify(doc) === JSON.stringify(f.doc) && f.before.trim() !== '') return { file: f.file, text: f.before, outcome: 'unchanged', mode: 0o644 };
  const text = renderJson(f, doc);
  return { file: f.file, text, outcome: f.before === null ? 'created' : f.before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

/**
 * One hook file: Koor's entries in `hooks` replaced by `want` (null: removed). On removal a file
 * left with nothing but `keep` members (Cursor's `version`) is deleted; so is an empty one.
 */
function hookFile(root: string, cwd: string, rel: string, want: Record<string, unknown[]> | null, style: Style, head: Record<string, unknown>): FilePlan {
  const f = readJsonFile(root, rel, cwd);
  if (want === null && f.before === null) return plan(f, null);
  let doc = f.doc;
  // Members Koor needs first (Cursor's "version": 1), when the file does not have them.
  for (const [k, v] of Object.entries(head)) if (want !== null && !Object.hasOwn(doc, k)) doc = { [k]: v, ...doc };
  const hooks = mergeHookMap(f, objectAt(f, doc, 'hooks', 'hooks'), want, 'hooks', style);
  doc = withKey(doc, 'hooks', hooks);
  if (want === null && Object.keys(doc).every((k) => Object.hasOwn(head, k) && doc[k] === head[k])) return plan(f, null);
  return plan(f, doc);
}

/** .claude/settings.local.json: env.KOOR_REPO_ROOT set (or removed), everything else kept. */
function localEnvFile(root: string, cwd: string, value: string | null): FilePlan {
  const f = readJsonFile(root, path.join('.claude', 'settings.local.json'), cwd);
  if (value === null && f.before === null) return plan(f, null);
  const env = objectAt(f, f.doc, 'env', 'env') ?? {};
  const nextEnv = withKey(env, 'KOOR_REPO_ROOT', value ?? undefined);
  // An env object left empty goes, unless it was empty (the user's) before.
  const keepEnv = Object.keys(nextEnv).length > 0 || (Object.hasOwn(f.doc, 'env') && Object.keys(env).length === 0);
  const doc = withKey(f.doc, 'env', keepEnv ? nextEnv : undefined);
  return plan(f, value === null && Object.keys(doc).length === 0 ? null : doc);
}

/** .claude/settings.local.json is per clone: listed in .git/info/exclude unless git ignores it already. */
function excludeLocal(root: string, read: (file: string) => string | null): FilePlan | null {
  const rel = '.claude/settings.local.json';
  if (git(root, ['rev-parse', '--is-inside-work-tree']) !== 'true') return null;
  try {
    execFileSync('git', ['check-ignore', '-q', rel], { cwd: root, stdio: 'ignore' });
    return null; // ignored already
  } catch {
    // not ignored (exit 1), or git failed: add it below
  }
  const gp = git(root, ['rev-parse', '--git-path', 'info/exclude']);
  if (gp === null) return null;
  const file = path.resolve(root, gp);
  const before = read(file);
  if (before !== null && before.split('\n').includes(`/${rel}`)) return null;
  const text = (before === null || before === '' ? '' : before.replace(/\n*$/, '\n')) + `# koor-cli init --claude-code: per-clone settings (KOOR_REPO_ROOT)\n/${rel}\n`;
  return { file, text, outcome: before === null ? 'created' : 'updated', mode: 0o644 };
}

/**
 * Claude Code's OpenTelemetry export to Koor (issue 32): its `api_request` events carry each
 * request's model, tokens and cost, which Koor records as LLM usage of the agent the session's
 * hooks bound. Claude Code 2.1 takes the telemetry variables only from the user's settings
 * (~/.claude/settings.json, or $CLAUDE_CONFIG_DIR): those of a project's .claude/settings*.json
 * are ignored (verified: test/helpers/CLAUDE-CODE-FACTS.md). The Authorization header comes from
 * `otelHeadersHelper`, a command Claude Code runs for the headers: `koor-cli otel-headers`, which
 * prints the token of the CLI config ($KOOR_TOKEN) — the file names no token.
 */
export const OTEL_HELPER = 'koor-cli otel-headers';
export function telemetryEnv(server: string): Record<string, string> {
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: server,
  };
}

/** The user's Claude Code settings file. */
export function userSettingsDir(env: NodeJS.ProcessEnv): string {
  return env.CLAUDE_CONFIG_DIR || path.join(env.HOME || os.homedir(), '.claude');
}

/** ~/.claude/settings.json with the telemetry variables and the headers helper set, or (install false) taken out when Koor's. */
export function telemetryFile(dir: string, cwd: string, server: string, install: boolean): FilePlan {
  const f = readJsonFile(dir, 'settings.json', cwd);
  const env = objectAt(f, f.doc, 'env', 'env') ?? {};
  const ours = f.doc.otelHeadersHelper === OTEL_HELPER;
  if (!install && !ours) return plan(f, f.before === null ? null : f.doc);
  let nextEnv = env;
  for (const [k, v] of Object.entries(telemetryEnv(server))) nextEnv = withKey(nextEnv, k, install ? v : undefined);
  let doc = withKey(f.doc, 'env', install || Object.keys(nextEnv).length > 0 ? nextEnv : undefined);
  doc = withKey(doc, 'otelHeadersHelper', install ? OTEL_HELPER : undefined);
  return plan(f, !install && Object.keys(doc).length === 0 ? null : doc);
}

export interface ClientPlanOptions {
  server: string;
  /** The repository's project, for the Claude Code HTTP hooks' X-Koor-Repository header. */
  repository?: string;
  /** false: take Koor's entries out. */
  install: boolean;
  read: (file: string) => string | null;
}

/** The files of one client, planned (and checked) but not written. */
export function planClient(client: Client, root: string, cwd: string, o: ClientPlanOptions): FilePlan[] {
  if (client === 'claude-code') {
    const plans = [
      hookFile(root, cwd, path.join('.claude', 'settings.json'), o.install ? claudeCodeHooks({ server: o.server, ...(o.repository ? { repository: o.repository } : {}) }) : null, 'groups', {}),
      localEnvFile(root, cwd, o.install ? root : null),
    ];
    const ex = o.install ? excludeLocal(root, o.read) : null;
    if (ex !== null) plans.push(ex);
    return plans;
  }
  if (client === 'codex') return [hookFile(root, cwd, path.join('.codex', 'hooks.json'), o.install ? codexHooks() : null, 'groups', {})];
  return [hookFile(root, cwd, path.join('.cursor', 'hooks.json'), o.install ? cursorHooks() : null, 'flat', { version: 1 })];
}
