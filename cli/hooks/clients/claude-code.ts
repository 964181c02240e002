/**
 * Claude Code (verified against the real client: test/helpers/CLAUDE-CODE-FACTS.md). Koor's hook
 * endpoint speaks its protocol, so the input goes as received and the reply comes back as is.
 * `init --claude-code` writes .claude/settings.json: HTTP hooks for every event that can be one,
 * the command bridge for SessionStart (HTTP hooks are skipped there), the background wake-up on
 * Stop; and, per clone, .claude/settings.local.json with `env.KOOR_REPO_ROOT` (the HTTP hooks'
 * X-Koor-Repo-Root: $CLAUDE_PROJECT_DIR does not interpolate in HTTP headers, variables of the
 * settings' `env` do), kept out of git through .git/info/exclude. No token is ever written: the
 * hooks name $KOOR_TOKEN.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { hookFile, planJson } from '../file-plan.js';
import { BRIDGE_TIMEOUT_S, hookCommand, HOOK_ENV, HOOK_PATH, objectAt, readJsonFile, WAKE_TIMEOUT_S, withKey } from '../files.js';
import { git } from '../install.js';
import { SHELL_TOOL, str } from '../translate.js';
import type { ClientAdapter, ClientPlanOptions, FilePlan, Obj } from './adapter.js';

/**
 * The tools whose PreToolUse Koor hears from Claude Code: the edit tools it guards, and the shell,
 * whose commands may run for minutes without a hook (Koor holds the agent busy, not stale, meanwhile).
 */
const CLAUDE_PRE_TOOLS = `Edit|Write|MultiEdit|NotebookEdit|${SHELL_TOOL}`;

export interface HookParams {
  /** The server's base URL, no trailing slash. */
  server: string;
  /**
   * The repository's project (cli/project.ts: its origin remote, else its folder name), written
   * as is: the file is committed, and every clone of the repository has the same. The server takes
   * it when X-Koor-Project ($KOOR_PROJECT) is empty. '' or absent: no such header.
   */
  repository?: string;
}

function httpHook(p: HookParams): Obj {
  return {
    type: 'http',
    url: `${p.server}${HOOK_PATH}`,
    headers: {
      Authorization: 'Bearer $KOOR_TOKEN',
      'X-Koor-Agent-Name': '$KOOR_AGENT_NAME',
      'X-Koor-Project': '$KOOR_PROJECT',
      ...(p.repository ? { 'X-Koor-Repository': p.repository } : {}),
      'X-Koor-Repo-Root': '$KOOR_REPO_ROOT',
    },
    allowedEnvVars: [...HOOK_ENV],
    timeout: 5,
  };
}

/** The hooks of .claude/settings.json. */
function claudeCodeHooks(p: HookParams): Record<string, unknown[]> {
  const http = httpHook(p);
  return {
    SessionStart: [{ hooks: [{ type: 'command', command: hookCommand('claude-code'), timeout: BRIDGE_TIMEOUT_S }] }],
    UserPromptSubmit: [{ hooks: [http] }],
    PreToolUse: [{ matcher: CLAUDE_PRE_TOOLS, hooks: [http] }],
    PostToolUse: [{ hooks: [http] }],
    // A shell command that failed or was interrupted ends here (it holds its session busy till then).
    PostToolUseFailure: [{ matcher: SHELL_TOOL, hooks: [http] }],
    Stop: [{ hooks: [http, { type: 'command', command: 'koor-cli wait --hook', asyncRewake: true, timeout: WAKE_TIMEOUT_S }] }],
    SessionEnd: [{ hooks: [http] }],
  };
}

/** .claude/settings.local.json: env.KOOR_REPO_ROOT set (or removed), everything else kept. */
function localEnvFile(root: string, cwd: string, value: string | null): FilePlan {
  const f = readJsonFile(root, path.join('.claude', 'settings.local.json'), cwd);
  if (value === null && f.before === null) return planJson(f, null);
  const env = objectAt(f, f.doc, 'env', 'env') ?? {};
  const nextEnv = withKey(env, 'KOOR_REPO_ROOT', value ?? undefined);
  // An env object left empty goes, unless it was empty (the user's) before.
  const keepEnv = Object.keys(nextEnv).length > 0 || (Object.hasOwn(f.doc, 'env') && Object.keys(env).length === 0);
  const doc = withKey(f.doc, 'env', keepEnv ? nextEnv : undefined);
  return planJson(f, value === null && Object.keys(doc).length === 0 ? null : doc);
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

export const claudeCode: ClientAdapter = {
  name: 'claude-code',
  title: 'Claude Code',
  initHelp: 'Also install Claude Code hooks (.claude/settings.json, .claude/settings.local.json)',
  passThrough: true,
  plan: (input, fallbackCwd) => ({ inputs: [input], event: str(input.hook_event_name) ?? '', cwd: str(input.cwd) ?? fallbackCwd }),
  // Koor's reply is Claude Code's own: one call, printed as received.
  reply: (_p, replies) => replies[0] ?? null,
  failOpen: () => null,
  files(root: string, cwd: string, o: ClientPlanOptions): FilePlan[] {
    const plans = [
      hookFile(root, cwd, path.join('.claude', 'settings.json'), o.install ? claudeCodeHooks({ server: o.server, ...(o.repository ? { repository: o.repository } : {}) }) : null, 'groups', {}),
      localEnvFile(root, cwd, o.install ? root : null),
    ];
    const ex = o.install ? excludeLocal(root, o.read) : null;
    if (ex !== null) plans.push(ex);
    return plans;
  },
};
